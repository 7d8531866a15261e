//! Plan, deploy and destroy.
//!
//! A deploy checks routes against other apps, validates and precompiles
//! every component, stores the revision, then swaps the routing table in
//! one atomic pointer store. Requests already running hold their own
//! `Arc<LiveFunction>` and finish on the old revision.

use crate::buckets::{BucketError, ListRequest, Scope};
use crate::live::LiveApp;
use crate::platform::Platform;
use crate::util::now_ms;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strato_core::RevisionSpec;
use strato_core::plan::{Plan, diff};
use strato_core::spec::is_digest;

/// Why a plan or deploy was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "{kind} `{name}`: route `{route}` is already served by app `{other_app}` ({other}); pick another route or destroy that app"
    )]
    RouteConflict {
        /// `function` or `service`.
        kind: &'static str,
        name: String,
        route: String,
        other_app: String,
        /// What serves it there: ``function `f` `` or ``service `s` ``.
        other: String,
    },
    #[error(
        "function `{function}`: component sha256:{digest} was not uploaded; upload it first (`strato deploy` does)"
    )]
    MissingComponent { function: String, digest: String },
    #[error("function `{function}`: {source}")]
    Prepare {
        function: String,
        #[source]
        source: strato_executor::PrepareError,
    },
    #[error("function `{function}`: no executor runs `{kind}` functions on this server")]
    NoExecutor { function: String, kind: String },
    #[error("uploaded bytes hash to sha256:{actual}, not the sha256:{claimed} they were sent as")]
    DigestMismatch { claimed: String, actual: String },
    #[error("`{0}` is not a sha256 digest (64 lowercase hex characters)")]
    BadDigest(String),
    #[error("app `{0}` does not exist")]
    NoSuchApp(String),
    #[error("bucket `{0}` belongs to another app; rename the bucket in this manifest")]
    BucketTaken(String),
    #[error(
        "bucket `{0}` is not empty; empty it first, keep it in the manifest, or destroy with --force"
    )]
    BucketNotEmpty(String),
    #[error(
        "{kind} `{name}`: image `{image}` is not in the image store; import it first (`strato image import FILE`, `strato image pull REF`)"
    )]
    MissingImage {
        kind: &'static str,
        name: String,
        image: String,
    },
    #[error(
        "service `{service}`: image `{image}` has no ENTRYPOINT or CMD; set `command` in [services.{service}]"
    )]
    NothingToRun { service: String, image: String },
    #[error("service `{service}`: its replicas did not become ready, so nothing changed: {reason}")]
    ServiceNotReady { service: String, reason: String },
    #[error("{0}")]
    BadWorkflow(String),
    #[error("storage failed: {0}")]
    Storage(String),
}

fn storage(e: impl std::fmt::Display) -> DeployError {
    DeployError::Storage(e.to_string())
}

/// Writes `bytes` to `path` whole or not at all, durably.
async fn write_durably(path: std::path::PathBuf, bytes: Bytes) -> Result<(), DeployError> {
    let tmp = path.with_extension(format!("upload{}", rand::random::<u32>()));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(storage)?
    .map_err(storage)
}

impl Platform {
    /// Whether component bytes with this digest are already stored.
    pub async fn has_component(&self, digest: &str) -> Result<bool, DeployError> {
        if !is_digest(digest) {
            return Err(DeployError::BadDigest(digest.to_string()));
        }
        if !self.store.has_component(digest).await.map_err(storage)? {
            return Ok(false);
        }
        // On a cluster the shared copy counts: any node fetches it.
        Ok(self.buckets.blobs().is_shared() || self.component_path(digest).exists())
    }

    /// Makes sure this node has the component's bytes in its local cache,
    /// fetching them from the shared blobs (a cluster: another node took
    /// the upload) if needed.
    pub(crate) async fn ensure_component(&self, digest: &str) -> Result<(), DeployError> {
        let path = self.component_path(digest);
        if path.exists() || !self.buckets.blobs().is_shared() {
            return Ok(());
        }
        let bytes = self
            .buckets
            .blobs()
            .read_artifact(digest)
            .await
            .map_err(|e| storage(format!("fetching component {digest}: {e}")))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != digest {
            return Err(DeployError::DigestMismatch {
                claimed: digest.to_string(),
                actual,
            });
        }
        write_durably(path, bytes).await
    }

    /// Stores component bytes after checking they hash to `digest`.
    pub async fn put_component(&self, digest: &str, bytes: Bytes) -> Result<(), DeployError> {
        if !is_digest(digest) {
            return Err(DeployError::BadDigest(digest.to_string()));
        }
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != digest {
            return Err(DeployError::DigestMismatch {
                claimed: digest.to_string(),
                actual,
            });
        }
        let len = bytes.len() as u64;
        if self.buckets.blobs().is_shared() {
            // Bytes before the row naming them, as for objects.
            self.buckets
                .blobs()
                .put_artifact(digest, bytes.clone())
                .await
                .map_err(storage)?;
        }
        write_durably(self.component_path(digest), bytes).await?;
        self.store.put_component(digest, len).await.map_err(storage)
    }

    fn check_routes(&self, spec: &RevisionSpec) -> Result<(), DeployError> {
        let live = self.live();
        for (route, kind, name) in spec.routes() {
            for other in live.apps.values() {
                if other.name == spec.app.as_str() {
                    continue;
                }
                if let Some((_, other_kind, other_name)) =
                    other.spec.routes().find(|(r, _, _)| *r == route)
                {
                    return Err(DeployError::RouteConflict {
                        kind,
                        name: name.to_string(),
                        route: route.to_string(),
                        other_app: other.name.clone(),
                        other: format!("{other_kind} `{other_name}`"),
                    });
                }
            }
        }
        Ok(())
    }

    async fn check_buckets(&self, spec: &RevisionSpec) -> Result<(), DeployError> {
        for name in &spec.buckets {
            if let Ok(b) = self.buckets.bucket(name, &Scope::Admin)
                && b.app.as_deref().is_some_and(|a| a != spec.app.as_str())
            {
                return Err(DeployError::BucketTaken(name.clone()));
            }
        }
        Ok(())
    }

    /// What deploying `spec` would change; refuses route and bucket
    /// conflicts.
    pub async fn plan(&self, spec: &RevisionSpec) -> Result<Plan, DeployError> {
        self.check_routes(spec)?;
        self.check_buckets(spec).await?;
        let live = self
            .store
            .live_revision(spec.app.as_str())
            .await
            .map_err(storage)?;
        Ok(diff(spec, live.as_ref().map(|l| (l.number, &l.spec))))
    }

    /// Validates, precompiles, stores and switches to `spec`. Returns the new
    /// revision number and what changed.
    pub async fn deploy(self: &Arc<Self>, spec: RevisionSpec) -> Result<(i64, Plan), DeployError> {
        let _guard = self.deploy_lock.lock().await;
        crate::workflows::check_workflows(&spec).map_err(DeployError::BadWorkflow)?;
        let plan = self.plan(&spec).await?;
        for (name, t) in &spec.tasks {
            let (images, image) = (self.tasks.images().clone(), t.image.clone());
            // Blocking: with a cluster's images, the name is looked up in the
            // store and the image fetched.
            let found = tokio::task::spawn_blocking(move || images.resolve(&image).is_ok())
                .await
                .unwrap_or(false);
            if !found {
                return Err(DeployError::MissingImage {
                    kind: "task",
                    name: name.to_string(),
                    image: t.image.clone(),
                });
            }
        }
        for (name, f) in &spec.functions {
            // An image function's image is checked when it is prepared.
            if f.spec.has_uploaded_artifact() && !self.has_component(&f.component_digest).await? {
                return Err(DeployError::MissingComponent {
                    function: name.to_string(),
                    digest: f.component_digest.clone(),
                });
            }
        }
        // Every function is ready before anything changes; the revision
        // number is filled in once stored (0 until then).
        let app = spec.app.as_str();
        let previous = self.live().apps.get(app).cloned();
        let prepared = self
            .prepare_functions(&spec, 0, previous.as_deref(), true)
            .await?;

        // Then every new service's replicas are ready.
        let services = self
            .prepare_services(&spec, previous.as_deref(), true)
            .await?;
        let number = match self.store_revision(&spec).await {
            Ok(number) => number,
            Err(e) => {
                self.discard_services(&services, previous.as_deref()).await;
                return Err(e);
            }
        };
        for service in services.values() {
            service.revision.store(number, Ordering::Relaxed);
        }
        let functions = prepared
            .into_iter()
            .map(|f| {
                let mut f = Arc::into_inner(f).expect("freshly prepared functions are unshared");
                f.revision = number;
                Arc::new(f)
            })
            .collect();
        let schedules = crate::assemble::app_schedules(&spec, previous.as_deref(), now_ms());
        let dropped_queues = dropped_queues(previous.as_deref(), Some(&spec));
        self.swap_app(
            app,
            Some(LiveApp {
                name: app.to_string(),
                revision: number,
                spec: spec.clone(),
                functions,
                services,
                schedules,
                deployed_at_ms: now_ms(),
            }),
        );
        self.queues_changed(app, dropped_queues);
        self.runs.counters.deploys.fetch_add(1, Ordering::Relaxed);
        tracing::info!(app = %spec.app, revision = number, "deployed");
        Ok((number, plan))
    }

    /// Removes the buckets `spec` drops (refused if one is not empty),
    /// declares its buckets and stores it as the app's live revision.
    async fn store_revision(&self, spec: &RevisionSpec) -> Result<i64, DeployError> {
        // Buckets the new revision drops go first: a non-empty one stops
        // the deploy before anything changed.
        let live = self
            .store
            .live_revision(spec.app.as_str())
            .await
            .map_err(storage)?;
        if let Some(live) = &live {
            for dropped in live.spec.buckets.difference(&spec.buckets) {
                self.remove_bucket(dropped, false).await?;
            }
        }
        self.buckets
            .declare_buckets(spec.app.as_str(), &spec.buckets)
            .await
            .map_err(|e| match e {
                BucketError::BucketAlreadyExists(name) => DeployError::BucketTaken(name),
                other => storage(other),
            })?;
        self.store
            .deploy_revision(spec, now_ms())
            .await
            .map_err(storage)
    }

    /// Removes an app: its routes stop answering at once; runs in flight
    /// finish. Its buckets go too, refused if not empty unless `force`.
    pub async fn destroy(self: &Arc<Self>, app: &str, force: bool) -> Result<(), DeployError> {
        let _guard = self.deploy_lock.lock().await;
        let live = self
            .store
            .live_revision(app)
            .await
            .map_err(storage)?
            .ok_or_else(|| DeployError::NoSuchApp(app.to_string()))?;
        if !force {
            for name in &live.spec.buckets {
                if !self
                    .buckets
                    .list_objects(
                        name,
                        &Scope::Admin,
                        &ListRequest {
                            max_keys: 1,
                            ..Default::default()
                        },
                    )
                    .await
                    .map(|p| p.objects.is_empty() && p.common_prefixes.is_empty())
                    .map_err(storage)?
                {
                    return Err(DeployError::BucketNotEmpty(name.clone()));
                }
            }
        }
        for name in &live.spec.buckets {
            self.remove_bucket(name, force).await?;
        }
        if !self.store.destroy_app(app).await.map_err(storage)? {
            return Err(DeployError::NoSuchApp(app.to_string()));
        }
        let previous = self.live().apps.get(app).cloned();
        self.swap_app(app, None);
        self.queues_changed(app, dropped_queues(previous.as_deref(), None));
        tracing::info!(app, "destroyed");
        Ok(())
    }

    async fn remove_bucket(&self, name: &str, force: bool) -> Result<(), DeployError> {
        match self.buckets.delete_bucket(name, &Scope::Admin, force).await {
            Ok(()) | Err(BucketError::NoSuchBucket(_)) => Ok(()),
            Err(BucketError::BucketNotEmpty(name)) => Err(DeployError::BucketNotEmpty(name)),
            Err(e) => Err(storage(e)),
        }
    }
}

/// Queues the app had and `next` no longer declares (`None`: all of them).
fn dropped_queues(previous: Option<&LiveApp>, next: Option<&RevisionSpec>) -> Vec<String> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    previous
        .spec
        .queues
        .keys()
        .filter(|q| next.is_none_or(|n| !n.queues.contains_key(q.as_str())))
        .map(|q| q.to_string())
        .collect()
}
