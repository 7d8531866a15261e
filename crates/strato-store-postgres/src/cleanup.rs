//! Routine cleanup on PostgreSQL: history past retention deleted in
//! batches of [`CLEANUP_BATCH`] rows from the old end of each table's
//! index, each batch its own short transaction, until a batch comes back
//! short. Deleting from the old end of monotonically increasing keys
//! empties whole index pages, which PostgreSQL's vacuum recycles, instead
//! of thinning every page.

use crate::db::execute;
use deadpool_postgres::GenericClient;
use strato_store::{CLEANUP_BATCH, Cleanup, StoreError, execution_id_bound, run_id_bound};

/// Runs `sql` (a batched DELETE taking `$1`) until a batch is short;
/// returns how many rows went.
async fn in_batches(
    c: &impl GenericClient,
    doing: &'static str,
    sql: &str,
    bound: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = execute(c, doing, sql, &[bound, &CLEANUP_BATCH]).await?;
        total += n;
        if n < CLEANUP_BATCH as u64 {
            return Ok(total);
        }
    }
}

pub(crate) async fn clean_up(
    c: &impl GenericClient,
    before_ms: i64,
    now_ms: i64,
) -> Result<Cleanup, StoreError> {
    let runs = in_batches(
        c,
        "cleaning up runs",
        "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE id < $1
           AND status NOT IN ('queued', 'running') ORDER BY id LIMIT $2)",
        &run_id_bound(before_ms),
    )
    .await?;
    // Not counted: each goes with a run counted above.
    in_batches(
        c,
        "cleaning up run payloads",
        "DELETE FROM run_payloads WHERE run_id IN
           (SELECT run_id FROM run_payloads WHERE run_id < $1 ORDER BY run_id LIMIT $2)",
        &run_id_bound(before_ms),
    )
    .await?;
    // Log lines are in time order by sequence: each batch looks at the
    // oldest lines only, and a batch with younger ones among them is the
    // last.
    let log_lines = in_batches(
        c,
        "cleaning up logs",
        "DELETE FROM logs WHERE seq IN (SELECT seq FROM (SELECT seq, ts_ms FROM logs ORDER BY seq LIMIT $2) o
           WHERE ts_ms < $1)",
        &before_ms,
    )
    .await?;
    let events = in_batches(
        c,
        "cleaning up bucket events",
        "DELETE FROM bucket_events WHERE id IN (SELECT id FROM bucket_events WHERE done AND due_ms < $1 LIMIT $2)",
        &before_ms,
    )
    .await?;
    let messages = in_batches(
        c,
        "dropping expired messages",
        "DELETE FROM queue_messages WHERE seq IN (SELECT seq FROM queue_messages WHERE expires_ms <= $1 LIMIT $2)",
        &now_ms,
    )
    .await?;
    // Ended executions with their history, a batch per statement.
    let bound = execution_id_bound(before_ms);
    let mut executions = 0;
    loop {
        let rows = crate::db::query(
            c,
            "cleaning up executions",
            "WITH gone AS (DELETE FROM executions WHERE id IN (
                 SELECT id FROM executions WHERE id < $1 AND status <> 'RUNNING' ORDER BY id LIMIT $2)
               RETURNING id),
             history AS (DELETE FROM execution_events WHERE execution IN (SELECT id FROM gone))
             SELECT count(*) FROM gone",
            &[&bound, &CLEANUP_BATCH],
        )
        .await?;
        let n = rows[0].get::<_, i64>(0) as u64;
        executions += n;
        if n < CLEANUP_BATCH as u64 {
            break;
        }
    }
    Ok(Cleanup {
        runs,
        log_lines,
        events,
        messages,
        executions,
    })
}
