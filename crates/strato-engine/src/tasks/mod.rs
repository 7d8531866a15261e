//! Container tasks: accept a run durably, run it with the OCI executor,
//! record its output and end, retry it, and pick up what a crash left.
//!
//! A run is written to the store as `queued` with its request (the task's
//! spec as deployed plus the caller's overrides) before it is
//! acknowledged, leased to this node, which runs it at once and holds it
//! in hand while it runs (the heartbeat renews the lease: see
//! `crate::lifecycle`). Its end, with its last output lines, is written
//! together with the next attempt (unleased, due after its backoff) when
//! it failed and retries remain. The sweeper claims due retries and runs
//! whose lease ran out (their node died, or this node restarted and
//! released its leases): a queued one runs; a running one was interrupted
//! and counts as a failed attempt, retried as its `retries` allow. At
//! start, [`clean_leftovers`] kills containers a crashed server left.

use crate::live::LiveTask;
use crate::platform::Platform;
use crate::util::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_core::spec::TaskSpec;
use strato_core::{RunRecord, RunStatus, Trigger};
use strato_oci::{ContainerRuntime, ImageStore};
use strato_store::{Effect, NodeState, TaskRoom, TaskRunRequest, WorkRef};

mod cancel;
mod execute;

pub use cancel::{CancelError, Cancelled};

use execute::{finish, retry_of, spawn_execute};

/// Why a task run was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("no deployed task `{task}` in app `{app}`; see `strato apps`")]
    NoSuchTask { app: String, task: String },
    #[error("this token may only start tasks of app `{0}`")]
    Forbidden(String),
    #[error("bad override: {0}")]
    BadOverride(String),
    #[error(
        "the task needs {need}, more than any node offers (the most: {most}); lower its `memory` or `cpus`, or start nodes with more (--node-memory, --node-cpus)"
    )]
    TooBig { need: String, most: String },
    #[error("storage failed: {0}")]
    Storage(String),
}

/// What the caller may change for one run (like ECS RunTask overrides).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOverrides {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
}

/// What is stored with a queued run: everything needed to run it, so a
/// restart does not depend on the revision still being live.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TaskRequest {
    spec: TaskSpec,
    overrides: TaskOverrides,
    /// When the first attempt was queued (`max_age` counts from it).
    #[serde(default)]
    queued_ms: i64,
    /// A workflow step waiting for the run's end (`ecs:runTask.sync`),
    /// resumed with it in the record's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workflow_step: Option<String>,
}

/// The tasks component's own state: the image store, the container
/// runtime, and who waits for runs to end.
pub(crate) struct Tasks {
    images: Arc<ImageStore>,
    containers: Arc<ContainerRuntime>,
    /// Ids of task runs whose end was just recorded (for long polls).
    run_ended: tokio::sync::broadcast::Sender<String>,
    /// Memory and CPUs held by the task runs executing on this node.
    reserved: Arc<std::sync::Mutex<TaskRoom>>,
    /// Runs this node executes that were cancelled: they end failed,
    /// with no retry.
    cancelled: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Memory and CPUs held for a task run executing on this node; given back
/// on drop.
pub(crate) struct Reservation(Arc<std::sync::Mutex<TaskRoom>>, TaskRoom);

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut held = self.0.lock().unwrap();
        held.memory_bytes -= self.1.memory_bytes;
        held.cpus_milli -= self.1.cpus_milli;
    }
}

impl Tasks {
    pub(crate) fn new(images: Arc<ImageStore>, containers: Arc<ContainerRuntime>) -> Tasks {
        Tasks {
            images,
            containers,
            run_ended: tokio::sync::broadcast::channel(1024).0,
            cancelled: Default::default(),
            reserved: Arc::new(std::sync::Mutex::new(TaskRoom {
                memory_bytes: 0,
                cpus_milli: 0,
            })),
        }
    }

    /// Memory and CPUs reserved by task runs executing on this node.
    pub(crate) fn reserved(&self) -> TaskRoom {
        *self.reserved.lock().unwrap()
    }

    /// What of `capacity` is free.
    pub(crate) fn free(&self, capacity: TaskRoom) -> TaskRoom {
        let held = self.reserved();
        TaskRoom {
            memory_bytes: capacity.memory_bytes.saturating_sub(held.memory_bytes),
            cpus_milli: capacity.cpus_milli.saturating_sub(held.cpus_milli),
        }
    }

    /// Reserves `need` of this node's `capacity` for a run, if it fits.
    pub(crate) fn reserve(&self, need: TaskRoom, capacity: TaskRoom) -> Option<Reservation> {
        let mut held = self.reserved.lock().unwrap();
        let fits = held.memory_bytes.saturating_add(need.memory_bytes) <= capacity.memory_bytes
            && held.cpus_milli.saturating_add(need.cpus_milli) <= capacity.cpus_milli;
        if !fits {
            return None;
        }
        held.memory_bytes += need.memory_bytes;
        held.cpus_milli += need.cpus_milli;
        Some(Reservation(self.reserved.clone(), need))
    }

    pub(crate) fn images(&self) -> &Arc<ImageStore> {
        &self.images
    }
}

impl Platform {
    /// Queues a run of `app`'s task `task` durably and starts it; returns
    /// its record (status `queued`).
    pub async fn start_task(
        self: &Arc<Self>,
        app: &str,
        task: &str,
        overrides: TaskOverrides,
        only_app: Option<&str>,
    ) -> Result<RunRecord, TaskError> {
        if let Some(scope) = only_app
            && scope != app
        {
            return Err(TaskError::Forbidden(scope.to_string()));
        }
        for key in overrides.env.keys() {
            strato_core::spec::check_env_name(key).map_err(TaskError::BadOverride)?;
        }
        let live = self.task_to_start(app, task)?;
        self.queue_task(&live, overrides, Trigger::Invoke, None, None)
            .await
    }

    /// Starts a run of a task as an async invocation (`strato invoke
    /// --async APP/TASK`, `X-Strato-Invocation-Type: Event`): the payload
    /// in `STRATO_PAYLOAD`, trigger `async`, its `[tasks.NAME.async]`
    /// settings applying.
    pub async fn invoke_task_async(
        self: &Arc<Self>,
        app: &str,
        task: &str,
        payload: &[u8],
        only_app: Option<&str>,
    ) -> Result<RunRecord, TaskError> {
        if let Some(scope) = only_app
            && scope != app
        {
            return Err(TaskError::Forbidden(scope.to_string()));
        }
        let live = self.task_to_start(app, task)?;
        let mut overrides = TaskOverrides::default();
        overrides.env.insert(
            "STRATO_PAYLOAD".into(),
            String::from_utf8_lossy(payload).into_owned(),
        );
        self.queue_task(&live, overrides, Trigger::Async, None, None)
            .await
    }

    fn task_to_start(&self, app: &str, task: &str) -> Result<LiveTask, TaskError> {
        self.live_task(app, task)
            .ok_or_else(|| TaskError::NoSuchTask {
                app: app.to_string(),
                task: task.to_string(),
            })
    }

    /// Makes a run durable (settling `event` with it) and spawns it.
    pub(crate) async fn queue_task(
        self: &Arc<Self>,
        live: &LiveTask,
        overrides: TaskOverrides,
        trigger: Trigger,
        event: Option<(i64, String)>,
        attempt: Option<u32>,
    ) -> Result<RunRecord, TaskError> {
        let run = self.task_run_request(
            live,
            overrides,
            trigger,
            event.as_ref().map(|(_, id)| id.clone()),
            attempt,
            None,
        );
        // A run answering a bucket event settles it in the same step
        // (the run has its own retries from there).
        let effects: Vec<Effect> = event
            .map(|(id, _)| Effect::SettleEvent(id))
            .into_iter()
            .collect();
        // Run here if this node has room for it; else queued for a node
        // that has (each claims only what fits), waiting while none has.
        let room = if self.status.draining() {
            None
        } else {
            self.tasks
                .reserve(run.room(), self.config.cluster.task_room())
        };
        if room.is_none() {
            self.fits_some_node(run.room()).await?;
        }
        let lease_until = match room {
            Some(_) => now_ms() + self.lease_ms(),
            None => 0,
        };
        self.store
            .enqueue_task_run(&run, &effects, &self.config.node_id, lease_until)
            .await
            .map_err(|e| TaskError::Storage(e.to_string()))?;
        let record = run.record.clone();
        match room {
            Some(reservation) => spawn_execute(self, run, reservation),
            None => tracing::info!(run = %record.id, memory = live.spec.memory_bytes,
                cpus_milli = run.cpus_milli,
                "no room on this node for the task run; queued for a node with room"),
        }
        Ok(record)
    }

    /// A workflow's run of `app`'s task, to queue with the step that
    /// starts it (`Effect::QueueTaskRun`); `waiting`: the step to resume
    /// with its end.
    pub(crate) async fn workflow_task_run(
        &self,
        app: &str,
        task: &str,
        overrides: TaskOverrides,
        key: String,
        waiting: Option<String>,
    ) -> Result<TaskRunRequest, TaskError> {
        for name in overrides.env.keys() {
            strato_core::spec::check_env_name(name).map_err(TaskError::BadOverride)?;
        }
        let live = self.task_to_start(app, task)?;
        let run = self.task_run_request(
            &live,
            overrides,
            Trigger::Workflow,
            Some(key),
            None,
            waiting,
        );
        self.fits_some_node(run.room()).await?;
        Ok(run)
    }

    /// A run's queued record and stored request.
    fn task_run_request(
        &self,
        live: &LiveTask,
        overrides: TaskOverrides,
        trigger: Trigger,
        event_id: Option<String>,
        attempt: Option<u32>,
        workflow_step: Option<String>,
    ) -> TaskRunRequest {
        let id = self.runs.next_id('r');
        let mut record = RunRecord {
            revision: live.revision,
            started_at_ms: now_ms(),
            memory_limit_bytes: live.spec.memory_bytes,
            event_id,
            attempt: attempt.unwrap_or(1),
            ..RunRecord::blank(&id, &live.app, &live.name, trigger)
        };
        // The run joins the trace of whatever asked for it.
        let span = crate::trace::begin(crate::trace::current_cause(), &record.id);
        record.set_span(&span);
        let request = serde_json::to_value(TaskRequest {
            spec: live.spec.clone(),
            overrides,
            queued_ms: now_ms(),
            workflow_step,
        })
        .expect("task requests serialize");
        TaskRunRequest {
            record,
            request,
            due_ms: 0,
            cpus_milli: live.spec.cpus_milli.unwrap_or(0),
        }
    }

    /// Refuses a run no node could ever take (it would wait forever).
    async fn fits_some_node(&self, need: TaskRoom) -> Result<(), TaskError> {
        let fits = |room: TaskRoom| {
            need.memory_bytes <= room.memory_bytes && need.cpus_milli <= room.cpus_milli
        };
        let mut offers = vec![self.config.cluster.task_room()];
        if self.config.cluster.sync_every.is_some() {
            let lost_before = now_ms() - self.node_lost_after().as_millis() as i64;
            let nodes = self
                .store
                .list_nodes()
                .await
                .map_err(|e| TaskError::Storage(e.to_string()))?;
            offers.extend(
                nodes
                    .iter()
                    .filter(|n| n.state == NodeState::Active && n.heartbeat_ms >= lost_before)
                    .map(|n| TaskRoom {
                        memory_bytes: n.memory_bytes,
                        cpus_milli: (n.cpus * 1000.0).round() as u32,
                    }),
            );
        }
        if offers.iter().copied().any(fits) {
            return Ok(());
        }
        let show = |room: TaskRoom| {
            format!(
                "{} and {} CPUs",
                strato_core::units::format_size(room.memory_bytes),
                room.cpus_milli as f64 / 1000.0
            )
        };
        let most = offers
            .iter()
            .max_by_key(|r| (r.memory_bytes, r.cpus_milli))
            .copied()
            .map(show)
            .unwrap_or_default();
        Err(TaskError::TooBig {
            need: show(need),
            most,
        })
    }

    /// The run `id`; with a `wait`, as soon as it has ended (or when the
    /// wait is over, as it is then). `None` if there is no such run.
    pub async fn wait_for_run(
        &self,
        id: &str,
        wait: Duration,
    ) -> Result<Option<RunRecord>, strato_store::StoreError> {
        // Subscribe before reading, so an end between the two is not missed.
        let mut ended = self.tasks.run_ended.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let run = self.store.get_run(id).await?;
            let running = run
                .as_ref()
                .is_some_and(|r| matches!(r.status, RunStatus::Queued | RunStatus::Running));
            if !running {
                return Ok(run);
            }
            // On a cluster another node may run it: look again at least
            // every half second.
            let look_again =
                (tokio::time::Instant::now() + Duration::from_millis(500)).min(deadline);
            loop {
                match tokio::time::timeout_at(look_again, ended.recv()).await {
                    Err(_) if look_again >= deadline => return Ok(run),
                    Err(_) => break,
                    Ok(Ok(done)) if done != id => continue,
                    // Ours ended, or we lagged behind and must look again.
                    Ok(_) => break,
                }
            }
        }
    }

    /// A live task whose image is `image`, if any: (app, task).
    pub fn tasks_using_image(&self, image: &str) -> Option<(String, String)> {
        let wanted = strato_oci::normalize_name(image).ok()?;
        self.live()
            .tasks
            .values()
            .find(|t| strato_oci::normalize_name(&t.spec.image).ok().as_deref() == Some(&wanted))
            .map(|t| (t.app.clone(), t.name.clone()))
    }

    /// Whether a function or task `name` (of `app`, if given) is deployed
    /// or has runs on record.
    pub async fn is_known_runner(
        &self,
        app: Option<&str>,
        name: &str,
    ) -> Result<bool, strato_store::StoreError> {
        let in_app = |a: &str| app.is_none_or(|want| want == a);
        let live = self.live();
        let deployed = live
            .functions
            .keys()
            .chain(live.tasks.keys())
            .any(|(a, n)| in_app(a) && n == name);
        if deployed {
            return Ok(true);
        }
        let filter = strato_store::RunFilter {
            app: app.map(str::to_string),
            function: Some(name.to_string()),
            limit: 1,
            ..Default::default()
        };
        Ok(!self.store.list_runs(&filter).await?.is_empty())
    }

    /// Whether `app` has a task `name` deployed now.
    pub fn is_live_task(&self, app: &str, name: &str) -> bool {
        self.live_task(app, name).is_some()
    }

    pub(crate) fn live_task(&self, app: &str, name: &str) -> Option<LiveTask> {
        self.live().task(app, name).cloned()
    }

    /// The image store tasks run from.
    pub fn images(&self) -> &Arc<ImageStore> {
        self.tasks.images()
    }

    /// Whether this machine can run containers (root, runtime installed),
    /// and if not what to do.
    pub fn containers_available(&self) -> Result<(), String> {
        self.tasks.containers.check()
    }
}

/// At start: kills containers a crashed server left on this machine
/// (their runs come back to the sweeper when their leases are void).
pub(crate) async fn clean_leftovers(platform: Arc<Platform>) {
    for id in platform.tasks.containers.leftovers() {
        tracing::warn!(run = %id, "removing a container left by a previous server");
        platform.tasks.containers.clean_leftover(&id).await;
    }
}

/// Most task runs one sweep claims.
const CLAIM_BATCH: usize = 64;

/// One sweep (see `crate::sweep`): claims task runs that are due (retries
/// past their backoff) or whose lease ran out, and runs them; a claimed
/// run that was running was interrupted, and ends as a failed attempt.
pub(crate) async fn sweep(platform: &Arc<Platform>) {
    let node = &platform.config.node_id;
    let capacity = platform.config.cluster.task_room();
    // One at a time, each within the memory and CPUs still free, so what
    // this node takes always fits; the rest waits for a node with room.
    for _ in 0..CLAIM_BATCH {
        let free = platform.tasks.free(capacity);
        let claimed = platform
            .store
            .claim_task_runs(node, now_ms(), platform.lease_ms(), 1, free)
            .await;
        let run = match claimed {
            Ok(mut runs) if !runs.is_empty() => runs.remove(0),
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "claiming task runs");
                return;
            }
        };
        end_or_start(platform, run, capacity).await;
    }
}

/// Starts a claimed queued run, or ends one that was interrupted.
async fn end_or_start(platform: &Arc<Platform>, run: TaskRunRequest, capacity: TaskRoom) {
    if run.record.status == RunStatus::Queued {
        match platform.tasks.reserve(run.room(), capacity) {
            Some(room) => spawn_execute(platform, run, room),
            // Another run took the room meanwhile: the lease runs out
            // and a node with room claims it.
            None => {
                tracing::warn!(run = %run.record.id, "claimed a task run that no longer fits; leaving it")
            }
        }
        return;
    }
    let _held = platform
        .in_hand
        .hold(WorkRef::TaskRun(run.record.id.clone()));
    let mut record = run.record;
    record.status = RunStatus::Failed;
    record.error =
        Some("the node running it was lost (its server stopped while this run was running)".into());
    let request = serde_json::from_value::<TaskRequest>(run.request).ok();
    let retry = request
        .as_ref()
        .and_then(|req| retry_of(platform, &record, req));
    tracing::warn!(run = %record.id, retried = retry.is_some(), "task run interrupted by a server stop");
    finish(platform, record, request.as_ref(), Vec::new(), retry).await;
}
