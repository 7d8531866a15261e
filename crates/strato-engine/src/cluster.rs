//! This node among others: its row in the node registry (a heartbeat with
//! its load, which also tells it when it was asked to drain), and, on a
//! cluster, keeping what it serves in step with what other nodes change
//! in the shared store (deploys and destroys, buckets, access keys).
//!
//! Every node serves every app: a deploy on one node is seen by the others
//! at their next sync (within [`ClusterConfig::sync_every`]), which
//! assembles the new revision from the store (fetching its components
//! from the shared blobs) and swaps it in, as a restart would.

use crate::platform::Platform;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use strato_store::{NodeInfo, NodeState};

/// How often a node writes its row.
const NODE_BEAT: Duration = Duration::from_secs(2);

/// A node's place in a deployment.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Other nodes share the store: poll it for their changes this often.
    /// `None`: this node is alone (the embedded store).
    pub sync_every: Option<Duration>,
    /// Its listeners, as shown by `strato nodes`.
    pub addresses: serde_json::Value,
    /// Memory and CPUs it offers container work.
    pub memory_bytes: u64,
    pub cpus: f64,
}

impl ClusterConfig {
    /// What it offers task runs, in the store's terms.
    pub(crate) fn task_room(&self) -> strato_store::TaskRoom {
        strato_store::TaskRoom {
            memory_bytes: self.memory_bytes,
            cpus_milli: (self.cpus * 1000.0).round().clamp(0.0, u32::MAX as f64) as u32,
        }
    }
}

/// What this node is doing, shared by the loops that take work.
#[derive(Default)]
pub(crate) struct NodeStatus {
    /// Asked to drain: take no new work.
    draining: AtomicBool,
}

impl NodeStatus {
    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

impl Platform {
    /// This node's row as of now.
    fn node_info(&self, state: NodeState) -> NodeInfo {
        let cluster = &self.config.cluster;
        NodeInfo {
            id: self.config.node_id.clone(),
            addresses: cluster.addresses.clone(),
            memory_bytes: cluster.memory_bytes,
            cpus: cluster.cpus,
            load: serde_json::json!({
                "runs_in_flight": self.runs.in_flight(),
                "work_in_hand": self.in_hand.len(),
                "memory_reserved": self.tasks.reserved().memory_bytes,
                "cpus_reserved": self.tasks.reserved().cpus_milli as f64 / 1000.0,
                "holding": holding(&self.in_hand.all()),
                "apps": self.live().apps.len(),
            }),
            state,
            started_ms: self.started_ms,
            heartbeat_ms: crate::util::now_ms(),
        }
    }

    /// Says this node has left (a clean stop): `strato nodes` shows it
    /// left rather than lost.
    pub(crate) async fn leave(&self) {
        if let Err(e) = self
            .store
            .heartbeat_node(&self.node_info(NodeState::Left))
            .await
        {
            tracing::warn!(error = %e, "recording that this node left");
        }
    }

    /// Brings what this node serves in line with the store: apps other
    /// nodes deployed or destroyed, buckets and keys they changed.
    pub(crate) async fn sync_with_cluster(self: &std::sync::Arc<Self>) {
        if let Err(e) = self.buckets.reload().await {
            tracing::warn!(error = %e, "reloading buckets and keys");
        }
        let numbers = match self.store.live_revision_numbers().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading live revisions");
                return;
            }
        };
        let live = self.live();
        let changed: Vec<&String> = numbers
            .iter()
            .filter(|(app, n)| live.apps.get(app).map(|a| a.revision) != Some(*n))
            .map(|(app, _)| app)
            .collect();
        let gone: Vec<String> = live
            .apps
            .keys()
            .filter(|app| !numbers.iter().any(|(a, _)| a == *app))
            .cloned()
            .collect();
        if changed.is_empty() && gone.is_empty() {
            return;
        }
        // A deploy on this node holds the lock from storing the revision
        // to swapping it in, so this never sees one half done.
        let _guard = self.deploy_lock.lock().await;
        for app in changed {
            let revision = match self.store.live_revision(app).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(app, error = %e, "reading a revision another node deployed");
                    continue;
                }
            };
            if self.live().apps.get(app).map(|a| a.revision) == Some(revision.number) {
                continue;
            }
            let previous = self.live().apps.get(app).cloned();
            match self
                .assemble_app(&revision, previous.as_deref(), false)
                .await
            {
                Ok(assembled) => {
                    self.swap_app(app, Some(assembled));
                    self.restart_consumers(app);
                    tracing::info!(
                        app,
                        revision = revision.number,
                        "serving a revision deployed on another node"
                    );
                }
                Err(e) => {
                    tracing::error!(app, revision = revision.number, error = %e, "preparing a revision deployed on another node")
                }
            }
        }
        for app in gone {
            self.swap_app(&app, None);
            self.restart_consumers(&app);
            tracing::info!(app, "stopped serving an app destroyed on another node");
        }
    }
}

impl Platform {
    /// Every node of the deployment, as their heartbeats left them.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, strato_store::StoreError> {
        self.store.list_nodes().await
    }

    /// Asks a node to drain; false if there is no such node.
    pub async fn drain_node(&self, id: &str) -> Result<bool, strato_store::StoreError> {
        self.store
            .set_node_state(&strato_store::NodeId(id.to_string()), NodeState::Draining)
            .await
    }

    /// How long a node may go without a heartbeat before it counts as
    /// lost (a few missed beats).
    pub fn node_lost_after(&self) -> Duration {
        NODE_BEAT * 5
    }
}

/// What a node holds, as `strato nodes` shows it: the first few pieces
/// of work, sorted (`task:RUN`, `invocation:ID`, `event:ID`).
fn holding(work: &[strato_store::WorkRef]) -> Vec<String> {
    let mut names: Vec<String> = work
        .iter()
        .map(|w| match w {
            strato_store::WorkRef::TaskRun(id) => format!("task:{id}"),
            strato_store::WorkRef::Invocation(id) => format!("invocation:{id}"),
            strato_store::WorkRef::BucketEvent(id) => format!("event:{id}"),
            strato_store::WorkRef::WorkflowStep(id) => format!("step:{id}"),
        })
        .collect();
    names.sort();
    names.truncate(20);
    names
}

/// Runs until the platform is dropped: writes this node's row every
/// [`NODE_BEAT`] and follows the state it reads back (drain when asked;
/// once drained, say so).
pub(crate) async fn run_node_heartbeat(platform: Weak<Platform>) {
    let mut beat = tokio::time::interval(NODE_BEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut left = false;
    loop {
        beat.tick().await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        let draining = platform.status.draining();
        let drained = draining && platform.in_hand.len() == 0 && platform.runs.in_flight() == 0;
        let state = if drained || left {
            NodeState::Left
        } else {
            NodeState::Active
        };
        match platform
            .store
            .heartbeat_node(&platform.node_info(state))
            .await
        {
            Ok(NodeState::Draining) if !draining => {
                tracing::info!("asked to drain: taking no new work, finishing what is in hand");
                platform.status.draining.store(true, Ordering::Relaxed);
            }
            Ok(NodeState::Left) if drained && !left => {
                tracing::info!("drained: this node holds no work and takes none");
                left = true;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "writing this node's heartbeat"),
        }
    }
}

/// Waits for the next tick, or for a wakeup if there is a source of them.
pub(crate) async fn tick_or_wakeup(
    tick: &mut tokio::time::Interval,
    woken: Option<&mut tokio::sync::watch::Receiver<u64>>,
) {
    match woken {
        None => {
            tick.tick().await;
        }
        Some(woken) => {
            tokio::select! {
                _ = tick.tick() => {}
                _ = woken.changed() => {}
            }
        }
    }
}

/// Runs until the platform is dropped, on a cluster: syncs with the store
/// every `every`, and at once when another node says it changed state.
pub(crate) async fn run_cluster_sync(platform: Weak<Platform>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut woken = platform
        .upgrade()
        .and_then(|p| p.store.wakeups())
        .map(|w| w.state.subscribe());
    loop {
        tick_or_wakeup(&mut tick, woken.as_mut()).await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        platform.sync_with_cluster().await;
    }
}
