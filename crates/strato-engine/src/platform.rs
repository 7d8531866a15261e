//! The [`Platform`]: shared state of a running server.

use crate::buckets::{Buckets, Subscriber};
use crate::routing::{LiveFunction, Routing};
use crate::tasks::LiveTask;
use crate::tokens::TokenIssuer;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use strato_blob::BlobStore;
use strato_core::FunctionKind;
use strato_core::outbound::OutboundRule;
use strato_core::spec::DeployedFunction;
use strato_executor::{FunctionArtifact, FunctionExecutor, RunLimits};
use strato_oci::{ContainerRuntime, ImageStore};
use strato_store::{RunRecorder, Store};
use tokio::sync::{Mutex, Notify, Semaphore};

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Where uploaded component bytes live (`<data-dir>/components`).
    pub components_dir: PathBuf,
    /// URL of the control API as seen by runs (`STRATO_API`).
    pub api_url: String,
    /// How long a request over a function's concurrency waits for a slot
    /// before it is answered 429.
    pub queue_wait: Duration,
    /// Where object bytes live (`<data-dir>/blobs`).
    pub blobs_dir: PathBuf,
    /// URL of the S3 API as seen by runs (`AWS_ENDPOINT_URL`).
    pub s3_url: String,
    /// Region reported to clients and in events (`AWS_REGION`).
    pub region: String,
    /// Wait before the first retry of a failed event delivery (or task
    /// run); doubles with each further attempt.
    pub event_retry_base: Duration,
    /// Where images live (`<data-dir>/images`).
    pub images_dir: PathBuf,
    /// The OCI runtime and where task runs keep their bundles.
    pub containers: strato_oci::RuntimeConfig,
    /// The control API's listening address (forwarded into tasks'
    /// platform network at 127.0.0.1 on the same port).
    pub api_addr: std::net::SocketAddr,
    /// The S3 API's listening address (forwarded likewise).
    pub s3_addr: std::net::SocketAddr,
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub runs_succeeded: AtomicU64,
    pub runs_failed: AtomicU64,
    pub runs_timed_out: AtomicU64,
    pub runs_throttled: AtomicU64,
    pub deploys: AtomicU64,
}

impl Counters {
    /// Counts a run that ended with `status` (throttles are counted where
    /// they happen: they never start).
    pub(crate) fn count(&self, status: strato_core::RunStatus) {
        use strato_core::RunStatus;
        let counter = match status {
            RunStatus::Succeeded => &self.runs_succeeded,
            RunStatus::TimedOut => &self.runs_timed_out,
            RunStatus::Throttled => &self.runs_throttled,
            _ => &self.runs_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The engine service shared by every HTTP surface.
pub struct Platform {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) buckets: Arc<Buckets>,
    /// One executor per kind of function.
    pub(crate) executors: HashMap<FunctionKind, Arc<dyn FunctionExecutor>>,
    pub(crate) recorder: Arc<RunRecorder>,
    pub(crate) routing: ArcSwap<Routing>,
    pub(crate) config: PlatformConfig,
    pub(crate) tokens: TokenIssuer,
    /// Serialises deploys and destroys so route checks and swaps don't race.
    pub(crate) deploy_lock: Mutex<()>,
    pub(crate) counters: Counters,
    /// Tasks of live revisions, by (app, task).
    pub(crate) tasks: ArcSwap<HashMap<(String, String), LiveTask>>,
    pub(crate) images: Arc<ImageStore>,
    pub(crate) containers: Arc<ContainerRuntime>,
    /// Queues of live revisions, by (app, queue).
    pub(crate) queues: ArcSwap<HashMap<(String, String), strato_core::queue::QueueSpec>>,
    pub(crate) queue_signals: crate::queues::QueueSignals,
    /// Running consumer loops, by (app, queue).
    pub(crate) consumers: std::sync::Mutex<HashMap<(String, String), tokio::task::JoinHandle<()>>>,
    /// Schedules of live revisions, by (app, schedule).
    pub(crate) schedules: ArcSwap<HashMap<(String, String), crate::schedules::LiveSchedule>>,
    /// Async invocations this process holds; their leases are renewed.
    pub(crate) in_hand: crate::async_invoke::InHand,
    /// Accepted async invocations on their way to the store.
    pub(crate) enqueuer: crate::async_invoke::EnqueueSender,
    /// Ids of task runs whose end was just recorded (for long polls).
    pub(crate) run_ended: tokio::sync::broadcast::Sender<String>,
    in_flight: AtomicUsize,
    drained: Notify,
    run_seq: AtomicU64,
}

impl Platform {
    /// Starts the engine and makes every live revision in `store` routable
    /// again, each function prepared by the executor of its kind (from its
    /// cache, for a component compiled before).
    pub async fn start(
        store: Arc<dyn Store>,
        executors: Vec<Arc<dyn FunctionExecutor>>,
        tokens: TokenIssuer,
        config: PlatformConfig,
    ) -> Result<Arc<Platform>, crate::DeployError> {
        std::fs::create_dir_all(&config.components_dir).map_err(|e| {
            crate::DeployError::Storage(format!(
                "creating {}: {e}",
                config.components_dir.display()
            ))
        })?;
        let recorder = RunRecorder::spawn(store.clone());
        let blobs = BlobStore::local(&config.blobs_dir)
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        // One server owns the store: leases left by a previous process
        // (a crash mid-delivery) are void, so those events go out again now.
        store
            .release_bucket_event_leases()
            .await
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        store
            .release_invocation_leases()
            .await
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let buckets = Buckets::open(store.clone(), blobs, events_tx)
            .await
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        let images = ImageStore::open(&config.images_dir)
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        let containers = ContainerRuntime::new(config.containers.clone())
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        let (enqueuer, enqueued) = crate::async_invoke::enqueue_channel();
        let platform = Arc::new(Platform {
            store,
            buckets: Arc::new(buckets),
            executors: executors.into_iter().map(|e| (e.kind(), e)).collect(),
            recorder,
            routing: ArcSwap::from_pointee(Routing::default()),
            config,
            tokens,
            deploy_lock: Mutex::new(()),
            counters: Counters::default(),
            tasks: ArcSwap::from_pointee(HashMap::new()),
            images: Arc::new(images),
            containers: Arc::new(containers),
            queues: ArcSwap::from_pointee(HashMap::new()),
            queue_signals: Default::default(),
            consumers: Default::default(),
            schedules: ArcSwap::from_pointee(HashMap::new()),
            in_hand: Default::default(),
            enqueuer,
            run_ended: tokio::sync::broadcast::channel(1024).0,
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            run_seq: AtomicU64::new(rand::random::<u32>() as u64),
        });
        let live = platform
            .store
            .live_revisions()
            .await
            .map_err(|e| crate::DeployError::Storage(e.to_string()))?;
        let mut functions = Vec::new();
        let mut tasks = HashMap::new();
        for revision in &live {
            for (name, spec) in &revision.spec.tasks {
                let task = LiveTask {
                    app: revision.app.clone(),
                    name: name.to_string(),
                    revision: revision.number,
                    spec: spec.clone(),
                };
                tasks.insert((revision.app.clone(), name.to_string()), task);
            }
            for (name, f) in &revision.spec.functions {
                let live = platform
                    .live_function(
                        &revision.app,
                        name.as_str(),
                        revision.number,
                        f,
                        &HashMap::new(),
                    )
                    .await;
                match live {
                    Ok(live) => functions.push(live),
                    Err(e) => {
                        tracing::error!(app = %revision.app, function = %name, error = %e, "cannot serve function")
                    }
                }
            }
        }
        platform.tasks.store(Arc::new(tasks));
        platform.set_routing(Routing::build(functions));
        // Consumers start once their functions and tasks are routable.
        for revision in &live {
            platform.set_app_queues(&revision.app, Some(&revision.spec.queues));
            platform.set_app_schedules(
                &revision.app,
                revision.deployed_at_ms,
                Some(&revision.spec.schedules),
            );
        }
        tokio::spawn(crate::events::run_deliverer(platform.clone(), events_rx));
        tokio::spawn(crate::tasks::recover(platform.clone()));
        tokio::spawn(crate::async_invoke::run_sweeper(Arc::downgrade(&platform)));
        tokio::spawn(crate::schedules::run_scheduler(Arc::downgrade(&platform)));
        tokio::spawn(crate::async_invoke::run_heartbeat(Arc::downgrade(
            &platform,
        )));
        tokio::spawn(crate::async_invoke::run_enqueuer(
            Arc::downgrade(&platform),
            enqueued,
        ));
        Ok(platform)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn buckets(&self) -> &Arc<Buckets> {
        &self.buckets
    }

    /// The image store tasks run from.
    pub fn images(&self) -> &Arc<ImageStore> {
        &self.images
    }

    /// Whether this machine can run containers (root, runtime installed),
    /// and if not what to do.
    pub fn containers_available(&self) -> Result<(), String> {
        self.containers.check()
    }

    /// Makes `routing` live, with the bucket subscriptions of its
    /// functions and of the live tasks.
    pub(crate) fn set_routing(&self, routing: Routing) {
        let tasks = self.tasks.load();
        let subscribers = routing
            .functions
            .values()
            .flat_map(|f| {
                let lease_ms = (f.spec.timeout_ms + 60_000) as i64;
                f.spec.on_bucket.iter().map(move |s| Subscriber {
                    app: f.app.clone(),
                    function: f.name.clone(),
                    subscription: s.clone(),
                    lease_ms,
                })
            })
            .chain(tasks.values().flat_map(|t| {
                // Delivering to a task is queueing its run: quick.
                t.spec.on_bucket.iter().map(move |s| Subscriber {
                    app: t.app.clone(),
                    function: t.name.clone(),
                    subscription: s.clone(),
                    lease_ms: 60_000,
                })
            }))
            .collect();
        self.routing.store(Arc::new(routing));
        self.buckets.set_subscribers(subscribers);
    }

    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    pub(crate) fn component_path(&self, digest: &str) -> PathBuf {
        self.config.components_dir.join(format!("{digest}.wasm"))
    }

    /// Prepares one function of a revision for serving. `previous` holds the
    /// live functions being replaced, to carry their concurrency permits over.
    pub(crate) async fn live_function(
        &self,
        app: &str,
        name: &str,
        revision: i64,
        f: &DeployedFunction,
        previous: &HashMap<(String, String), Arc<LiveFunction>>,
    ) -> Result<Arc<LiveFunction>, crate::DeployError> {
        let executor =
            self.executors
                .get(&f.spec.kind)
                .ok_or_else(|| crate::DeployError::NoExecutor {
                    function: name.to_string(),
                    kind: f.spec.kind.to_string(),
                })?;
        let path = self.component_path(&f.component_digest);
        let prepared = executor
            .prepare(FunctionArtifact {
                app,
                name,
                spec: &f.spec,
                digest: &f.component_digest,
                path: &path,
            })
            .await
            .map_err(|source| crate::DeployError::Prepare {
                function: name.to_string(),
                source,
            })?;
        let mut env: Vec<(String, String)> = f
            .spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let platform_env = self
            .run_env(app, &self.config.api_url, &self.config.s3_url)
            .await;
        env.extend(platform_env.into_iter().map(|(k, v)| (k.to_string(), v)));
        env.push(("STRATO_FUNCTION".into(), name.to_string()));
        let (permits, async_slots) = match previous.get(&(app.to_string(), name.to_string())) {
            Some(old) if old.spec.concurrency == f.spec.concurrency => {
                (old.permits.clone(), old.async_slots.clone())
            }
            _ => (
                Arc::new(Semaphore::new(f.spec.concurrency as usize)),
                Default::default(),
            ),
        };
        Ok(Arc::new(LiveFunction {
            app: app.to_string(),
            name: name.to_string(),
            revision,
            spec: f.spec.clone(),
            prepared,
            limits: RunLimits {
                memory_bytes: f.spec.memory_bytes,
                timeout: Duration::from_millis(f.spec.timeout_ms),
                env: env.into(),
                extra_env: Vec::new(),
                outbound: self.outbound_rules(&f.spec.allowed_outbound_hosts).into(),
            },
            permits,
            async_slots,
        }))
    }

    /// A function's outbound allow-list plus Strato's own control API,
    /// which every run may call with its token (objects, invokes).
    fn outbound_rules(&self, declared: &[OutboundRule]) -> Vec<OutboundRule> {
        let mut rules = declared.to_vec();
        match OutboundRule::parse(&self.config.api_url) {
            Ok(api) => rules.push(api),
            Err(e) => tracing::error!(error = %e, "the API URL is not a valid outbound rule"),
        }
        rules
    }

    /// A new, time-ordered run id.
    pub(crate) fn next_run_id(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let seq = self.run_seq.fetch_add(1, Ordering::Relaxed);
        format!("r{ms:012x}{:08x}", seq as u32)
    }

    pub(crate) fn run_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn run_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// Waits until no run is in flight, then writes every recorded run.
    /// Call after the listeners have stopped accepting.
    pub async fn drain(&self, limit: Duration) {
        let wait = async {
            loop {
                let notified = self.drained.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            tracing::warn!(
                in_flight = self.in_flight.load(Ordering::SeqCst),
                "runs still in flight at shutdown"
            );
        }
        self.recorder.flush_and_stop().await;
    }

    /// Prometheus text exposition of the engine's counters.
    pub async fn metrics_text(&self) -> String {
        let c = &self.counters;
        let routing = self.routing.load();
        let mut out = String::new();
        out.push_str("# HELP strato_runs_total Runs finished, by status.\n# TYPE strato_runs_total counter\n");
        for (status, v) in [
            ("succeeded", &c.runs_succeeded),
            ("failed", &c.runs_failed),
            ("timed_out", &c.runs_timed_out),
            ("throttled", &c.runs_throttled),
        ] {
            out.push_str(&format!(
                "strato_runs_total{{status=\"{status}\"}} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        metric(
            "strato_runs_in_flight",
            "gauge",
            "Runs executing now.",
            self.in_flight.load(Ordering::Relaxed) as u64,
        );
        for executor in self.executors.values() {
            for m in executor.metrics() {
                metric(m.name, m.kind, m.help, m.value);
            }
        }
        metric(
            "strato_deploys_total",
            "counter",
            "Revisions deployed by this process.",
            c.deploys.load(Ordering::Relaxed),
        );
        metric(
            "strato_bucket_events_pending",
            "gauge",
            "Bucket events written but not yet delivered or given up on.",
            self.store.pending_bucket_events().await.unwrap_or(0),
        );
        metric(
            "strato_async_invocations_pending",
            "gauge",
            "Async invocations accepted and not yet settled.",
            self.store.pending_invocations().await.unwrap_or(0),
        );
        metric(
            "strato_live_functions",
            "gauge",
            "Functions currently routable.",
            routing.functions.len() as u64,
        );
        out
    }
}
