//! Applying [`Effect`]s inside the caller's transaction: the one place that
//! knows how each completion effect is written, for every path that
//! commits work with a record (runs, task runs, schedule slots).

use crate::{db, invocations, objects, queues, runs};
use rusqlite::{Connection, params};
use strato_store::{Effect, StoreError};

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
            Effect::QueueTaskRun(run) => queue_task_run(tx, &run.record, &run.request)?,
            Effect::SendMessage {
                app,
                queue,
                message,
            } => queues::insert_messages(tx, app, queue, std::slice::from_ref(message), now_ms)?,
        }
    }
    Ok(())
}

/// A task run's queued record and its request.
pub(crate) fn queue_task_run(
    tx: &Connection,
    run: &strato_core::RunRecord,
    request: &serde_json::Value,
) -> Result<(), StoreError> {
    runs::insert_run(tx, run)?;
    tx.prepare_cached("INSERT OR REPLACE INTO task_requests (run_id, request) VALUES (?1, ?2)")
        .and_then(|mut s| s.execute(params![run.id, request.to_string()]))
        .map_err(db("queueing a task run"))?;
    Ok(())
}
