//! Task runs: durable from the moment they are accepted. A queued run is
//! its `runs` row (status `queued`) plus its request in `task_requests`,
//! with the lease of the node that runs it and when it is due; the
//! request goes when the run ends, in the same transaction that records
//! the end (and queues the next attempt, if there is one).

use crate::runs::{RUN_COLUMN_COUNT, RUN_COLUMNS, insert_logs, insert_run, run_from_row};
use crate::{Db, db};
use rusqlite::params;
use strato_core::{LogLine, RunRecord};
use strato_store::{Effect, NodeId, StoreError, TaskRoom, TaskRunRequest};

impl Db {
    pub(crate) fn enqueue_task_run(
        &self,
        run: &TaskRunRequest,
        effects: &[Effect],
        owner: &NodeId,
        lease_until_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to queue a task run"))?;
        crate::effects::queue_task_run(&tx, run, owner.as_str(), lease_until_ms)?;
        crate::effects::apply(&tx, effects, run.record.started_at_ms)?;
        tx.commit().map_err(db("committing a task run"))
    }

    pub(crate) fn claim_task_runs(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        room: TaskRoom,
    ) -> Result<Vec<TaskRunRequest>, StoreError> {
        // The sweeper asks every 100 ms and there is rarely anything to
        // claim: a reader answers that without taking the writer from
        // the group commit.
        let any: bool = self
            .read()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM task_requests WHERE lease_until_ms <= ?1 AND due_ms <= ?1)",
            )
            .and_then(|mut s| s.query_row([now_ms], |r| r.get(0)))
            .map_err(db("looking for claimable task runs"))?;
        if !any {
            return Ok(Vec::new());
        }
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to claim task runs"))?;
        let max_memory = i64::try_from(room.memory_bytes).unwrap_or(i64::MAX);
        let claimed = select_task_runs(
            &tx,
            CLAIMABLE,
            params![now_ms, limit as i64, max_memory, room.cpus_milli],
        )?;
        {
            let mut lease = tx
                .prepare_cached(
                    "UPDATE task_requests SET lease_owner = ?2, lease_until_ms = ?3 WHERE run_id = ?1",
                )
                .map_err(db("leasing task runs"))?;
            for run in &claimed {
                lease
                    .execute(params![run.record.id, owner.as_str(), now_ms + lease_ms])
                    .map_err(db("leasing a task run"))?;
            }
        }
        tx.commit().map_err(db("committing claimed task runs"))?;
        Ok(claimed)
    }

    pub(crate) fn start_task_run(&self, id: &str, started_at_ms: i64) -> Result<(), StoreError> {
        self.write()
            .execute(
                "UPDATE runs SET status = 'running', started_at_ms = ?2 WHERE id = ?1",
                params![id, started_at_ms],
            )
            .map(|_| ())
            .map_err(db("starting a task run"))
    }

    pub(crate) fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("starting to append logs"))?;
        insert_logs(&tx, run, lines)?;
        tx.commit().map_err(db("committing logs"))
    }

    pub(crate) fn finish_task_run(
        &self,
        finished: &RunRecord,
        logs: &[LogLine],
        effects: &[Effect],
    ) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to finish a task run"))?;
        insert_run(&tx, finished)?;
        insert_logs(&tx, finished, logs)?;
        tx.execute(
            "DELETE FROM task_requests WHERE run_id = ?1",
            [&finished.id],
        )
        .map_err(db("finishing a task run"))?;
        crate::effects::apply(&tx, effects, finished.started_at_ms)?;
        tx.commit().map_err(db("committing a finished task run"))
    }

    pub(crate) fn cancel_task_run(
        &self,
        finished: &RunRecord,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to cancel a task run"))?;
        let freed = tx
            .execute(
                "DELETE FROM task_requests WHERE run_id = ?1 AND lease_until_ms <= ?2",
                params![finished.id, now_ms],
            )
            .map_err(db("cancelling a task run"))?;
        if freed == 0 {
            return Ok(false);
        }
        insert_run(&tx, finished)?;
        crate::effects::apply(&tx, effects, finished.started_at_ms)?;
        tx.commit().map_err(db("committing a cancelled task run"))?;
        Ok(true)
    }

    pub(crate) fn unfinished_task_runs(&self) -> Result<Vec<TaskRunRequest>, StoreError> {
        select_task_runs(&self.read(), "ORDER BY r.id", [])
    }
}

/// Which task runs a claim takes (`?1` now, `?2` the limit, `?3` and `?4`
/// the memory and CPUs free).
pub(crate) const CLAIMABLE: &str = "WHERE q.lease_until_ms <= ?1 AND q.due_ms <= ?1
     AND (r.status = 'running' OR (r.memory_limit_bytes <= ?3 AND q.cpus_milli <= ?4))
     ORDER BY r.id LIMIT ?2";

/// The query for unfinished task runs matching `tail` (a WHERE/ORDER
/// clause over `r`, the run, and `q`, its request). `CROSS JOIN` makes
/// SQLite walk the few unfinished requests and look each run up, never
/// scan every run: with a plain JOIN and a WHERE on `q` the planner chose
/// to scan `runs`, which the sweeper's claim then did every 100 ms,
/// holding the write lock for 35 ms once runs numbered a few hundred
/// thousand.
pub(crate) fn task_runs_sql(tail: &str) -> String {
    let columns: String = RUN_COLUMNS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns}, q.request, q.due_ms, q.cpus_milli FROM task_requests q CROSS JOIN runs r ON r.id = q.run_id {tail}"
    )
}

/// Unfinished task runs matching `tail` (see [`task_runs_sql`]).
fn select_task_runs(
    conn: &rusqlite::Connection,
    tail: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<TaskRunRequest>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&task_runs_sql(tail))
        .map_err(db("listing unfinished task runs"))?;
    let rows = stmt
        .query_map(params, |row| {
            let record = run_from_row(row)?;
            let request: String = row.get(RUN_COLUMN_COUNT)?;
            let due_ms: i64 = row.get(RUN_COLUMN_COUNT + 1)?;
            let cpus_milli: u32 = row.get(RUN_COLUMN_COUNT + 2)?;
            Ok((record, request, due_ms, cpus_milli))
        })
        .map_err(db("listing unfinished task runs"))?;
    let mut out = Vec::new();
    for row in rows {
        let (record, request, due_ms, cpus_milli) =
            row.map_err(db("reading an unfinished task run"))?;
        let request = serde_json::from_str(&request)
            .map_err(|e| StoreError::corrupt("task request", format!("run {}: {e}", record.id)))?;
        out.push(TaskRunRequest {
            record,
            request,
            due_ms,
            cpus_milli,
        });
    }
    Ok(out)
}
