//! Applying [`Effect`]s inside the caller's transaction: the one place that
//! knows how each completion effect is written, for every path that
//! commits work with a record (runs, task runs, schedule slots).

use crate::{db, invocations, objects, queues, runs};
use rusqlite::{Connection, params};
use strato_store::{Effect, Fence, StoreError, TaskRunRequest, WorkRef};

/// Writes `effects` in `tx`, as of `now_ms`.
pub(crate) fn apply(tx: &Connection, effects: &[Effect], now_ms: i64) -> Result<(), StoreError> {
    for effect in effects {
        match effect {
            Effect::SettleEvent(id) => objects::settle_event(tx, *id)?,
            Effect::SettleInvocation(id) => invocations::settle(tx, id)?,
            // Queued unleased: whichever node's sweeper claims it runs it.
            Effect::Enqueue(new) => {
                invocations::insert(tx, std::slice::from_ref(new), now_ms, 0, "")?
            }
            // Unleased: whichever node's sweeper claims it when due runs it.
            Effect::QueueTaskRun(run) => queue_task_run(tx, run, "", 0)?,
            Effect::SendMessage {
                app,
                queue,
                message,
            } => queues::insert_messages(tx, app, queue, std::slice::from_ref(message), now_ms)?,
            // Answered already (a retry's late duplicate): nothing to do.
            Effect::ResumeWorkflowStep { id, outcome } => {
                crate::workflows::resume(tx, id, outcome)?;
            }
            Effect::EndWorkflowBranch(end) => crate::workflows::end_branch(tx, end)?,
            Effect::StartExecution(new) => {
                crate::workflows::start(tx, &new.execution, &new.events, &new.steps)?;
            }
            Effect::KeepPayload { run_id, body } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO run_payloads (run_id, body) VALUES (?1, ?2)",
                )
                .and_then(|mut s| s.execute(params![run_id, body]))
                .map_err(db("keeping a run's payload"))?;
            }
        }
    }
    Ok(())
}

/// Whether `fence` still holds: the work's row names its owner and
/// attempt (see [`Fence`]).
pub(crate) fn fence_holds(tx: &Connection, fence: &Fence) -> Result<bool, StoreError> {
    let owner = fence.owner.as_str();
    let attempt = i64::from(fence.attempt);
    let held = match &fence.work {
        WorkRef::Invocation(id) => tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM invocations WHERE id = ?1 AND lease_owner = ?2 AND attempts = ?3)",
            )
            .and_then(|mut s| s.query_row(params![id, owner, attempt], |r| r.get(0))),
        WorkRef::BucketEvent(id) => tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM bucket_events WHERE id = ?1 AND lease_owner = ?2 AND attempts = ?3 AND done = 0)",
            )
            .and_then(|mut s| s.query_row(params![id, owner, attempt], |r| r.get(0))),
        WorkRef::TaskRun(id) => tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM task_requests WHERE run_id = ?1 AND lease_owner = ?2)",
            )
            .and_then(|mut s| s.query_row(params![id, owner], |r| r.get(0))),
        WorkRef::WorkflowStep(id) => return crate::workflows::step_fence_holds(tx, id, fence),
    };
    held.map_err(db("checking a lease"))
}

/// A task run's queued record and its request, leased to `owner` until
/// `lease_until_ms` (0: unleased).
pub(crate) fn queue_task_run(
    tx: &Connection,
    run: &TaskRunRequest,
    owner: &str,
    lease_until_ms: i64,
) -> Result<(), StoreError> {
    runs::insert_run(tx, &run.record)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO task_requests (run_id, request, lease_owner, lease_until_ms, due_ms, cpus_milli)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            run.record.id,
            run.request.to_string(),
            owner,
            lease_until_ms,
            run.due_ms,
            run.cpus_milli
        ])
    })
    .map_err(db("queueing a task run"))?;
    Ok(())
}
