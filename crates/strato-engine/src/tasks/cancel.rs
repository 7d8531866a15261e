//! Cancelling a task run (the dashboard's and the API's cancel, like ECS
//! StopTask). A run this node executes is stopped as a timeout stops it
//! (SIGTERM, then SIGKILL after its stop timeout) and ends failed with no
//! retry. A run no node holds (a retry waiting for its time, a run
//! waiting for room) ends at once, in the transaction that takes it off
//! the queue, so a claim and a cancel never both take it. Either way the
//! run's end still does what an end does: its destination, and the
//! workflow step waiting for it fails.

use super::{TaskRequest, Tasks};
use crate::platform::Platform;
use crate::util::now_ms;
use std::sync::Arc;
use std::time::Duration;
use strato_core::RunStatus;
use strato_store::WorkRef;

/// The error of a run cancelled before its container started.
pub(super) const BEFORE_START: &str = "cancelled before it started";
/// The error of a run whose container was stopped by a cancel.
pub(super) const WHILE_RUNNING: &str =
    "cancelled: stopped with SIGTERM (then SIGKILL after its stop timeout)";

/// Longest a cancel keeps killing a container that will not go.
const KILL_ATTEMPTS: u32 = 60;

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The run's container is being stopped; its end is recorded when it
    /// has gone.
    Stopping,
    /// The run had not started; it has ended.
    Ended,
}

/// Why a run could not be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no run `{0}`; see `strato runs`")]
    NoSuchRun(String),
    #[error(
        "run `{0}` is not a queued or running container task run; only those can be cancelled (a function's run ends within its timeout)"
    )]
    NotCancellable(String),
    #[error("run `{id}` has already ended ({status})")]
    Ended { id: String, status: String },
    #[error("run `{0}` is running on another node; cancel it through that node")]
    HeldElsewhere(String),
    #[error("storage failed: {0}")]
    Storage(String),
}

impl Tasks {
    pub(super) fn is_cancelled(&self, id: &str) -> bool {
        self.cancelled_runs().contains(id)
    }

    /// Whether `id` was cancelled, forgetting it.
    pub(super) fn take_cancelled(&self, id: &str) -> bool {
        self.cancelled_runs().remove(id)
    }

    fn cancelled_runs(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.cancelled.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Platform {
    /// Cancels task run `id` (of `only_app`, for an app's token).
    pub async fn cancel_task_run(
        self: &Arc<Self>,
        id: &str,
        only_app: Option<&str>,
    ) -> Result<Cancelled, CancelError> {
        let storage = |e: strato_store::StoreError| CancelError::Storage(e.to_string());
        let run = self
            .store
            .get_run(id)
            .await
            .map_err(storage)?
            .filter(|r| only_app.is_none_or(|app| app == r.app))
            .ok_or_else(|| CancelError::NoSuchRun(id.into()))?;
        if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
            return Err(CancelError::Ended {
                id: id.into(),
                status: run.status.as_str().into(),
            });
        }
        let queued = self
            .store
            .unfinished_task_runs()
            .await
            .map_err(storage)?
            .into_iter()
            .find(|r| r.record.id == id)
            .ok_or_else(|| CancelError::NotCancellable(id.into()))?;
        let request: TaskRequest = serde_json::from_value(queued.request)
            .map_err(|e| CancelError::Storage(format!("run {id}'s request is unreadable: {e}")))?;
        let work = WorkRef::TaskRun(id.to_string());
        if self.in_hand.holds(&work) {
            self.tasks.cancelled_runs().insert(id.to_string());
            let grace = Duration::from_millis(request.spec.stop_timeout_ms);
            tokio::spawn(stop(self.clone(), id.to_string(), grace));
            return Ok(Cancelled::Stopping);
        }
        let mut record = queued.record;
        record.status = RunStatus::Failed;
        record.error = Some(BEFORE_START.into());
        record.duration_us = 0;
        record.billed_ms = 0;
        let mut effects = super::execute::end_effects(self, &record, Some(&request));
        effects.extend(super::execute::kept_overrides(&record, &request));
        if !self
            .store
            .cancel_task_run(&record, &effects, now_ms())
            .await
            .map_err(storage)?
        {
            return Err(CancelError::HeldElsewhere(id.into()));
        }
        self.runs.counters.count(record.status);
        if request.workflow_step.is_some() {
            self.workflow_wakeup.notify_one();
        }
        let _ = self.tasks.run_ended.send(record.id);
        Ok(Cancelled::Ended)
    }
}

/// Stops run `id`'s container: SIGTERM, then SIGKILL once `grace` has
/// passed, again until the run has let go of its work (a container still
/// being created when the first signal came is killed once it exists).
async fn stop(platform: Arc<Platform>, id: String, grace: Duration) {
    let work = WorkRef::TaskRun(id.clone());
    let containers = platform.tasks.containers.clone();
    containers.terminate(&id).await;
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if !platform.in_hand.holds(&work) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..KILL_ATTEMPTS {
        if !platform.in_hand.holds(&work) {
            return;
        }
        containers.kill(&id).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::warn!(run = %id, "a cancelled run's container would not die");
}
