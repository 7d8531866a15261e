//! Task runs on PostgreSQL. A queued task run is its `runs` row (status
//! `queued`) plus its request in `task_requests`, with the lease of the
//! node running it; the request goes in the transaction that records the
//! run's end (or its cancel, which a claim's row lock keeps from racing).

use crate::db::{Param, execute, query};
use crate::runs::{RUN_COLUMN_COUNT, RUN_COLUMNS, insert_logs, insert_run, run_from_row};
use crate::{PostgresStore, begin, commit, queues_work, work};
use deadpool_postgres::{GenericClient, Transaction};
use strato_core::{LogLine, RunRecord};
use strato_store::{Effect, NodeId, StoreError, TaskRoom, TaskRunRequest};

/// See `WorkStore::enqueue_task_run`.
pub(crate) async fn enqueue(
    store: &PostgresStore,
    run: &TaskRunRequest,
    effects: &[Effect],
    owner: &NodeId,
    lease_until_ms: i64,
) -> Result<(), StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "starting to queue a task run").await?;
    queue_task_run(&tx, run, owner.as_str(), lease_until_ms).await?;
    work::apply(&tx, effects, run.record.started_at_ms).await?;
    commit(tx, "committing a task run").await?;
    if lease_until_ms == 0 || effects.iter().any(queues_work) {
        store.outbox.work();
    }
    Ok(())
}

/// See `WorkStore::claim_task_runs`.
pub(crate) async fn claim(
    store: &PostgresStore,
    owner: &NodeId,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
    room: TaskRoom,
) -> Result<Vec<TaskRunRequest>, StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "starting to claim task runs").await?;
    let claimed = claim_leased(&tx, owner.as_str(), now_ms, lease_ms, limit, room).await?;
    commit(tx, "committing claimed task runs").await?;
    Ok(claimed)
}

/// See `WorkStore::start_task_run`.
pub(crate) async fn start(
    store: &PostgresStore,
    id: &str,
    started_at_ms: i64,
) -> Result<(), StoreError> {
    let c = store.client().await?;
    execute(
        &c,
        "starting a task run",
        "UPDATE runs SET status = 'running', started_at_ms = $2 WHERE id = $1",
        &[&id, &started_at_ms],
    )
    .await
    .map(drop)
}

/// See `WorkStore::finish_task_run`.
pub(crate) async fn finish(
    store: &PostgresStore,
    finished: &RunRecord,
    logs: &[LogLine],
    effects: &[Effect],
) -> Result<(), StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "starting to finish a task run").await?;
    insert_run(&tx, finished).await?;
    execute(
        &tx,
        "finishing a task run",
        "DELETE FROM task_requests WHERE run_id = $1",
        &[&finished.id],
    )
    .await?;
    work::apply(&tx, effects, finished.started_at_ms).await?;
    insert_logs(&tx, finished, logs).await?;
    commit(tx, "committing a finished task run").await?;
    if effects.iter().any(queues_work) {
        store.outbox.work();
    }
    Ok(())
}

/// See `WorkStore::cancel_task_run`.
pub(crate) async fn cancel(
    store: &PostgresStore,
    finished: &RunRecord,
    effects: &[Effect],
    now_ms: i64,
) -> Result<bool, StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "starting to cancel a task run").await?;
    // A claim holds the row locked until it commits its lease; this
    // waits for it and then finds the lease taken.
    let freed = execute(
        &tx,
        "cancelling a task run",
        "DELETE FROM task_requests WHERE run_id = $1 AND lease_until_ms <= $2",
        &[&finished.id, &now_ms],
    )
    .await?;
    if freed == 0 {
        return Ok(false);
    }
    insert_run(&tx, finished).await?;
    work::apply(&tx, effects, finished.started_at_ms).await?;
    commit(tx, "committing a cancelled task run").await?;
    if effects.iter().any(queues_work) {
        store.outbox.work();
    }
    Ok(true)
}

/// A task run's queued record and its request, leased to `owner` until
/// `lease_until_ms` (0: unleased).
pub(crate) async fn queue_task_run(
    tx: &Transaction<'_>,
    run: &TaskRunRequest,
    owner: &str,
    lease_until_ms: i64,
) -> Result<(), StoreError> {
    insert_run(tx, &run.record).await?;
    execute(
        tx,
        "queueing a task run",
        "INSERT INTO task_requests (run_id, request, lease_owner, lease_until_ms, due_ms, cpus_milli)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (run_id) DO UPDATE SET request = excluded.request, lease_owner = excluded.lease_owner,
         lease_until_ms = excluded.lease_until_ms, due_ms = excluded.due_ms, cpus_milli = excluded.cpus_milli",
        &[
            &run.record.id,
            &run.request.to_string(),
            &owner,
            &lease_until_ms,
            &run.due_ms,
            &(run.cpus_milli as i32),
        ],
    )
    .await
    .map(drop)
}

/// The query for unfinished task runs matching `tail` (a clause over `r`,
/// the run, and `q`, its request).
fn task_runs_sql(tail: &str) -> String {
    let columns: Vec<String> = RUN_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect();
    format!(
        "SELECT {}, q.request, q.due_ms, q.cpus_milli FROM task_requests q JOIN runs r ON r.id = q.run_id {tail}",
        columns.join(", ")
    )
}

/// Unfinished task runs matching `tail` (see [`task_runs_sql`]).
pub(crate) async fn select_task_runs(
    c: &impl GenericClient,
    tail: &str,
    params: &[Param<'_>],
) -> Result<Vec<TaskRunRequest>, StoreError> {
    let rows = query(
        c,
        "listing unfinished task runs",
        &task_runs_sql(tail),
        params,
    )
    .await?;
    rows.iter()
        .map(|row| {
            let record = run_from_row(row)?;
            let request: String = row.get(RUN_COLUMN_COUNT);
            let request = serde_json::from_str(&request).map_err(|e| {
                StoreError::corrupt("task request", format!("run {}: {e}", record.id))
            })?;
            Ok(TaskRunRequest {
                record,
                request,
                due_ms: row.get(RUN_COLUMN_COUNT + 1),
                cpus_milli: row.get::<_, i32>(RUN_COLUMN_COUNT + 2) as u32,
            })
        })
        .collect()
}

/// Claims due task runs: locks them (skipping those another claimer is
/// taking) and leases them to `owner`.
async fn claim_leased(
    tx: &Transaction<'_>,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
    room: TaskRoom,
) -> Result<Vec<TaskRunRequest>, StoreError> {
    let max_memory = i64::try_from(room.memory_bytes).unwrap_or(i64::MAX);
    let max_cpus = i32::try_from(room.cpus_milli).unwrap_or(i32::MAX);
    let claimed = select_task_runs(
        tx,
        "WHERE q.lease_until_ms <= $1 AND q.due_ms <= $1
         AND (r.status = 'running' OR (r.memory_limit_bytes <= $3 AND q.cpus_milli <= $4))
         ORDER BY r.id LIMIT $2 FOR UPDATE OF q SKIP LOCKED",
        &[&now_ms, &(limit as i64), &max_memory, &max_cpus],
    )
    .await?;
    if claimed.is_empty() {
        return Ok(claimed);
    }
    let ids: Vec<&str> = claimed.iter().map(|r| r.record.id.as_str()).collect();
    execute(
        tx,
        "leasing task runs",
        "UPDATE task_requests SET lease_owner = $2, lease_until_ms = $3 WHERE run_id = ANY($1)",
        &[&ids, &owner, &(now_ms + lease_ms)],
    )
    .await?;
    Ok(claimed)
}
