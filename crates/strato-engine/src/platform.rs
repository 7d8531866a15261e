//! The [`Platform`]: the engine's components, wired together.
//!
//! Each component owns its state in its own module and reads what is
//! deployed from one shared snapshot ([`crate::live::Live`], swapped once
//! per deploy): runs (`runs.rs`: ids, recorder, counters, drain), async
//! invocations (`async_invoke.rs`), tasks (`tasks.rs`), queues and their
//! consumers (`queues.rs`), buckets (`buckets/`). The scheduler, the event
//! deliverer and the gateway hold no state of their own.

use crate::buckets::Buckets;
use crate::live::{Live, LiveApp, LiveHandle};
use crate::tokens::TokenIssuer;
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use strato_blob::BlobStore;
use strato_core::FunctionKind;
use strato_executor::FunctionExecutor;
use strato_oci::{ContainerRuntime, ImageStore};
use strato_store::Store;
use tokio::sync::Mutex;

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
    /// URL of the S3 API as seen by runs (`AWS_ENDPOINT_URL`).
    pub s3_url: String,
    /// Region reported to clients and in events (`AWS_REGION`).
    pub region: String,
    /// Wait before the first retry of a failed event delivery (or task
    /// run); doubles with each further attempt.
    pub event_retry_base: Duration,
    /// The control API's listening address (forwarded into tasks'
    /// platform network at 127.0.0.1 on the same port).
    pub api_addr: std::net::SocketAddr,
    /// The S3 API's listening address (forwarded likewise).
    pub s3_addr: std::net::SocketAddr,
    /// This node's id: the owner of the leases it takes on durable work.
    pub node_id: strato_store::NodeId,
    /// The key SSE-S3 objects' data keys are sealed with (the binary
    /// keeps it in `<data-dir>/sse.key`).
    pub sse_master_key: crate::buckets::sse::MasterKey,
    /// What a day is to bucket lifecycle rules (24 hours; tests shorten
    /// it to see rules act).
    pub lifecycle_day: Duration,
    /// This node among others (alone on the embedded store).
    pub cluster: crate::cluster::ClusterConfig,
    /// How long a lease on durable work lasts without renewal: the work of
    /// a node that died is taken over by the others within this long.
    pub lease: Duration,
    /// How long runs, their logs and delivered events are kept (`None`:
    /// forever).
    pub retention: Option<Duration>,
    /// Where to export runs as OpenTelemetry spans and logs (`None`: no
    /// export).
    pub otlp: Option<crate::otlp::OtlpConfig>,
}

/// The engine service shared by every HTTP surface.
pub struct Platform {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: PlatformConfig,
    pub(crate) tokens: TokenIssuer,
    /// What is deployed: one snapshot, swapped once per deploy.
    pub(crate) live: LiveHandle,
    /// One executor per kind of function.
    pub(crate) executors: HashMap<FunctionKind, Arc<dyn FunctionExecutor>>,
    pub(crate) buckets: Arc<Buckets>,
    pub(crate) runs: crate::runs::Runs,
    /// Durable work this node holds; the heartbeat renews its leases.
    pub(crate) in_hand: Arc<crate::lifecycle::InHand>,
    pub(crate) invocations: crate::async_invoke::Invocations,
    pub(crate) tasks: crate::tasks::Tasks,
    /// Services' replica pools and counters.
    pub(crate) services: crate::services::Services,
    pub(crate) queues: crate::queues::Queues,
    /// Serialises deploys and destroys so route checks and swaps don't race.
    pub(crate) deploy_lock: Mutex<()>,
    /// Whether this node takes new work (not while draining).
    pub(crate) status: crate::cluster::NodeStatus,
    /// Parsed workflow definitions by revision.
    pub(crate) workflows: crate::workflows::Definitions,
    /// Rung when a workflow step became due (a task's answer).
    pub(crate) workflow_wakeup: Arc<tokio::sync::Notify>,
    /// Ids of executions that ended on this node (for waiting callers).
    pub(crate) execution_ended: tokio::sync::broadcast::Sender<String>,
    /// When this process started (tells a restart from a heartbeat).
    pub(crate) started_ms: i64,
}

impl Platform {
    /// Starts the engine on the backends the binary chose (`store` for
    /// state, `blobs` for object bytes, an executor per kind of function,
    /// the image store and container runtime tasks share with executors
    /// that run containers) and makes every live revision in `store` routable
    /// again, each function prepared by the executor of its kind (from its
    /// cache, for a component compiled before).
    pub async fn start(
        store: Arc<dyn Store>,
        blobs: BlobStore,
        executors: Vec<Arc<dyn FunctionExecutor>>,
        images: Arc<ImageStore>,
        containers: Arc<ContainerRuntime>,
        tokens: TokenIssuer,
        config: PlatformConfig,
    ) -> Result<Arc<Platform>, crate::DeployError> {
        let storage = |e: &dyn std::fmt::Display| crate::DeployError::Storage(e.to_string());
        std::fs::create_dir_all(&config.components_dir).map_err(|e| {
            crate::DeployError::Storage(format!(
                "creating {}: {e}",
                config.components_dir.display()
            ))
        })?;
        // Leases this node held before a crash or restart are void: that
        // work goes out again now. Other nodes' leases are theirs.
        store
            .release_leases(&config.node_id)
            .await
            .map_err(|e| storage(&e))?;
        // Nodes sharing blobs share images too: names in the store, bytes
        // in the blobs, this node's image store their cache.
        if blobs.is_shared() {
            images.share_through(Arc::new(crate::image_catalog::SharedImages::new(
                store.clone(),
                blobs.clone(),
            )));
        }
        if config.cluster.sync_every.is_none() {
            crate::services::end_orphaned_runs(&store).await;
        }
        let live: LiveHandle = Arc::new(ArcSwap::from_pointee(Live::default()));
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let buckets = Buckets::open(
            store.clone(),
            blobs,
            live.clone(),
            config.node_id.clone(),
            events_tx,
            config.sse_master_key.clone(),
            config.lease.as_millis() as i64,
        )
        .await
        .map_err(|e| storage(&e))?;
        let (invocations, enqueued) = crate::async_invoke::Invocations::new();
        let platform = Arc::new(Platform {
            runs: crate::runs::Runs::start(store.clone(), config.otlp.clone()),
            in_hand: Default::default(),
            store,
            config,
            tokens,
            live,
            executors: executors.into_iter().map(|e| (e.kind(), e)).collect(),
            buckets: Arc::new(buckets),
            invocations,
            services: crate::services::Services::new(containers.clone()),
            tasks: crate::tasks::Tasks::new(images, containers),
            queues: Default::default(),
            deploy_lock: Mutex::new(()),
            status: Default::default(),
            workflows: Default::default(),
            workflow_wakeup: Default::default(),
            execution_ended: tokio::sync::broadcast::channel(1024).0,
            started_ms: crate::util::now_ms(),
        });
        // Every live app, assembled as a deploy assembles one, made live
        // in one swap.
        let revisions = platform
            .store
            .live_revisions()
            .await
            .map_err(|e| storage(&e))?;
        let mut apps = BTreeMap::new();
        for revision in &revisions {
            let app = platform.assemble_app(revision, None, false).await?;
            apps.insert(revision.app.clone(), Arc::new(app));
        }
        platform.live.store(Arc::new(Live::build(apps)));
        // Consumers start once their functions and tasks are live.
        for revision in &revisions {
            platform.restart_consumers(&revision.app);
        }
        tokio::spawn(crate::events::run_deliverer(platform.clone(), events_rx));
        tokio::spawn(crate::tasks::clean_leftovers(platform.clone()));
        tokio::spawn(crate::sweep::run_sweeper(Arc::downgrade(&platform)));
        tokio::spawn(crate::buckets::lifecycle::run_lifecycle(
            Arc::downgrade(&platform),
            platform.config.lifecycle_day,
        ));
        tokio::spawn(crate::schedules::run_scheduler(Arc::downgrade(&platform)));
        tokio::spawn(crate::workflows::run_sweeper(Arc::downgrade(&platform)));
        tokio::spawn(crate::lifecycle::run_heartbeat(
            Arc::downgrade(&platform),
            platform.config.lease,
        ));
        tokio::spawn(crate::cluster::run_node_heartbeat(Arc::downgrade(
            &platform,
        )));
        if let Some(retention) = platform.config.retention {
            tokio::spawn(crate::lifecycle::run_cleanup(
                Arc::downgrade(&platform),
                retention,
            ));
        }
        if let Some(every) = platform.config.cluster.sync_every {
            tokio::spawn(crate::cluster::run_cluster_sync(
                Arc::downgrade(&platform),
                every,
            ));
        }
        tokio::spawn(crate::async_invoke::run_enqueuer(
            Arc::downgrade(&platform),
            enqueued,
        ));
        Ok(platform)
    }

    /// What is deployed now (held across awaits; the gateway's hot path
    /// borrows it with `self.live.load()` instead).
    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Makes `app` (or, with `None`, its removal) live in one swap. The
    /// pools of services it no longer serves close: their replicas stop
    /// once their in-flight requests end.
    pub(crate) fn swap_app(&self, name: &str, app: Option<LiveApp>) {
        let before = self.live();
        let next = before.with_app(name, app.map(Arc::new));
        let kept = |s: &Arc<crate::services::LiveService>| {
            next.apps
                .get(name)
                .is_some_and(|a| a.services.values().any(|n| Arc::ptr_eq(n, s)))
        };
        let closing: Vec<_> = before
            .apps
            .get(name)
            .map(|a| a.services.values().filter(|s| !kept(s)).cloned().collect())
            .unwrap_or_default();
        self.live.store(Arc::new(next));
        for service in closing {
            service.close();
        }
    }

    /// The lease on durable work, in milliseconds.
    pub(crate) fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn buckets(&self) -> &Arc<Buckets> {
        &self.buckets
    }

    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    pub(crate) fn component_path(&self, digest: &str) -> PathBuf {
        self.config.components_dir.join(format!("{digest}.wasm"))
    }

    /// Waits until no run is in flight, writes every recorded run, and
    /// shuts the executors down. Call after the listeners have stopped
    /// accepting.
    pub async fn drain(&self, limit: Duration) {
        self.runs.drain(limit).await;
        // Then executors stop what they keep running between runs (warm
        // Lambda environments), so no container outlives the server.
        for executor in self.executors.values() {
            executor.shutdown().await;
        }
        self.services.shutdown().await;
        self.leave().await;
    }

    /// Prometheus text exposition of the engine's counters.
    /// Runs executing on this node now.
    pub fn runs_in_flight(&self) -> usize {
        self.runs.in_flight()
    }

    pub async fn metrics_text(&self) -> String {
        let c = &self.runs.counters;
        let live = self.live();
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
            self.runs.in_flight() as u64,
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
            live.functions.len() as u64,
        );
        let replicas: Vec<(String, String, usize)> = self
            .services_status(None)
            .into_iter()
            .map(|s| {
                let ready = s.replicas.iter().filter(|r| r.state == "ready").count();
                (s.app, s.name, ready)
            })
            .collect();
        self.services.write_metrics(&mut out, &replicas);
        self.runs.metrics.write(&mut out);
        self.write_queue_metrics(&mut out).await;
        self.write_node_metrics(&mut out).await;
        out
    }

    /// Each live queue's depth by state and its oldest message's age,
    /// and each schedule's lag (its latest slot's firing after its time).
    async fn write_queue_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let live = self.live();
        let now = crate::util::now_ms();
        let mut queues: Vec<_> = live.queues.keys().cloned().collect();
        queues.sort();
        out.push_str(
            "# HELP strato_queue_messages Messages in a queue, by state.
# TYPE strato_queue_messages gauge
# HELP strato_queue_oldest_message_age_seconds Age of a queue's oldest message.
# TYPE strato_queue_oldest_message_age_seconds gauge
",
        );
        for (app, queue) in &queues {
            let Ok(stats) = self.store.queue_stats(app, queue, now).await else {
                continue;
            };
            let labels = format!("app=\"{app}\",queue=\"{queue}\"");
            for (state, n) in [
                ("visible", stats.visible),
                ("in_flight", stats.in_flight),
                ("delayed", stats.delayed),
            ] {
                let _ = writeln!(
                    out,
                    "strato_queue_messages{{{labels},state=\"{state}\"}} {n}"
                );
            }
            let age = stats.oldest_age_ms.unwrap_or(0).max(0) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "strato_queue_oldest_message_age_seconds{{{labels}}} {age}"
            );
        }
        let mut schedules: Vec<_> = live.schedules.keys().cloned().collect();
        schedules.sort();
        out.push_str("# HELP strato_schedule_lag_seconds How long after its time a schedule's latest slot was recorded.
# TYPE strato_schedule_lag_seconds gauge
");
        for (app, schedule) in &schedules {
            if let Ok(Some(slot)) = self.store.latest_schedule_slot(app, schedule).await {
                let lag = (slot.recorded_ms - slot.slot_ms).max(0) as f64 / 1000.0;
                let _ = writeln!(
                    out,
                    "strato_schedule_lag_seconds{{app=\"{app}\",schedule=\"{schedule}\"}} {lag}"
                );
            }
        }
    }

    /// On a cluster, each node's state and heartbeat age as the store has
    /// them.
    async fn write_node_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let Ok(nodes) = self.store.list_nodes().await else {
            return;
        };
        let now = crate::util::now_ms();
        out.push_str(
            "# HELP strato_node_heartbeat_age_seconds Time since a node's last heartbeat.
# TYPE strato_node_heartbeat_age_seconds gauge
# HELP strato_node_up Whether a node is serving (1) or draining, left or lost (0).
# TYPE strato_node_up gauge
",
        );
        for node in &nodes {
            let age = (now - node.heartbeat_ms).max(0) as f64 / 1000.0;
            let up = node.state == strato_store::NodeState::Active
                && age * 1000.0 < self.config.lease.as_millis() as f64;
            let id = node.id.as_str();
            let _ = writeln!(
                out,
                "strato_node_heartbeat_age_seconds{{node=\"{id}\"}} {age}"
            );
            let _ = writeln!(out, "strato_node_up{{node=\"{id}\"}} {}", up as u8);
        }
    }
}
