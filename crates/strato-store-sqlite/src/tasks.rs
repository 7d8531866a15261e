//! Task runs: durable from the moment they are accepted. A queued run is
//! its `runs` row (status `queued`) plus its request in `task_requests`;
//! the request goes when the run ends, in the same transaction that
//! records the end (and queues the next attempt, if there is one).

use crate::runs::{RUN_COLUMNS, insert_logs, insert_run, run_from_row};
use crate::{Db, db};
use rusqlite::params;
use serde_json::Value;
use strato_core::{LogLine, RunRecord};
use strato_store::{Effect, StoreError, TaskRunRequest};

impl Db {
    pub(crate) fn enqueue_task_run(
        &self,
        run: &RunRecord,
        request: &Value,
        effects: &[Effect],
    ) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to queue a task run"))?;
        crate::effects::queue_task_run(&tx, run, request)?;
        crate::effects::apply(&tx, effects, run.started_at_ms)?;
        tx.commit().map_err(db("committing a task run"))
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

    pub(crate) fn unfinished_task_runs(&self) -> Result<Vec<TaskRunRequest>, StoreError> {
        let conn = self.read();
        let columns: String = RUN_COLUMNS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {columns}, q.request FROM task_requests q JOIN runs r ON r.id = q.run_id ORDER BY r.id"
            ))
            .map_err(db("listing unfinished task runs"))?;
        let rows = stmt
            .query_map([], |row| {
                let record = run_from_row(row)?;
                let request: String = row.get(16)?;
                Ok((record, request))
            })
            .map_err(db("listing unfinished task runs"))?;
        let mut out = Vec::new();
        for row in rows {
            let (record, request) = row.map_err(db("reading an unfinished task run"))?;
            let request = serde_json::from_str(&request).map_err(|e| {
                StoreError::corrupt("task request", format!("run {}: {e}", record.id))
            })?;
            out.push(TaskRunRequest { record, request });
        }
        Ok(out)
    }
}
