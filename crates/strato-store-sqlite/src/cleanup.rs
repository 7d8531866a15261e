//! Routine cleanup on SQLite: history past retention deleted in batches of
//! [`CLEANUP_BATCH`] rows from the old end of each table's key, each batch
//! its own short write transaction (so requests' writes interleave), until
//! a batch comes back short.

use crate::{Db, db};
use rusqlite::params;
use strato_store::{CLEANUP_BATCH, Cleanup, StoreError, execution_id_bound, run_id_bound};

impl Db {
    /// Runs `sql` (a batched DELETE taking `?1` and the batch size `?2`)
    /// until a batch is short; returns how many rows went.
    fn in_batches(
        &self,
        doing: &'static str,
        sql: &str,
        bound: &dyn rusqlite::ToSql,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self
                .write()
                .execute(sql, params![bound, CLEANUP_BATCH])
                .map_err(db(doing))? as u64;
            total += n;
            if n < CLEANUP_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    pub(crate) fn clean_up(&self, before_ms: i64, now_ms: i64) -> Result<Cleanup, StoreError> {
        Ok(Cleanup {
            runs: self.in_batches(
                "cleaning up runs",
                "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE id < ?1
                   AND status NOT IN ('queued', 'running') ORDER BY id LIMIT ?2)",
                &run_id_bound(before_ms),
            )?,
            // Not counted: each goes with a run counted above.
            log_lines: {
                self.in_batches(
                    "cleaning up run payloads",
                    "DELETE FROM run_payloads WHERE run_id IN
                       (SELECT run_id FROM run_payloads WHERE run_id < ?1 ORDER BY run_id LIMIT ?2)",
                    &run_id_bound(before_ms),
                )?;
                self.in_batches(
                "cleaning up logs",
                "DELETE FROM logs WHERE seq IN (SELECT seq FROM (SELECT seq, ts_ms FROM logs ORDER BY seq LIMIT ?2)
                   WHERE ts_ms < ?1)",
                &before_ms,
            )?
            },
            events: self.in_batches(
                "cleaning up bucket events",
                "DELETE FROM bucket_events WHERE id IN (SELECT id FROM bucket_events WHERE done = 1 AND due_ms < ?1 LIMIT ?2)",
                &before_ms,
            )?,
            messages: self.in_batches(
                "dropping expired messages",
                "DELETE FROM queue_messages WHERE seq IN (SELECT seq FROM queue_messages WHERE expires_ms <= ?1 LIMIT ?2)",
                &now_ms,
            )?,
            executions: self.clean_up_executions(&execution_id_bound(before_ms))?,
        })
    }

    /// Ended executions started before `bound`, each batch with its
    /// history in one transaction (the writer held across both).
    fn clean_up_executions(&self, bound: &str) -> Result<u64, StoreError> {
        const OLD: &str =
            "SELECT id FROM executions WHERE id < ?1 AND status != 'RUNNING' ORDER BY id LIMIT ?2";
        let mut total = 0;
        loop {
            let mut conn = self.write();
            let tx = conn.transaction().map_err(db("cleaning up executions"))?;
            tx.execute(
                &format!("DELETE FROM execution_events WHERE execution IN ({OLD})"),
                params![bound, CLEANUP_BATCH],
            )
            .map_err(db("cleaning up execution history"))?;
            let n = tx
                .execute(
                    &format!("DELETE FROM executions WHERE id IN ({OLD})"),
                    params![bound, CLEANUP_BATCH],
                )
                .map_err(db("cleaning up executions"))? as u64;
            tx.commit().map_err(db("cleaning up executions"))?;
            total += n;
            if n < CLEANUP_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
