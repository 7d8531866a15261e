//! Workflow executions on SQLite: the execution rows, their history, and
//! their pending steps as leased work (see `strato_store::WorkflowStep`).
//! Every write is a function of a transaction, run on the group-commit
//! thread, so many executions' steps share one fsync.

use crate::{Db, db};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use strato_store::{
    BranchEnd, Execution, ExecutionEnd, ExecutionFilter, ExecutionStatus, Fence, HistoryEvent,
    NewHistoryEvent, StoreError, WorkRef, WorkflowAdvance, WorkflowStep,
};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    workflow TEXT NOT NULL,
    revision INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    started_ms INTEGER NOT NULL,
    stopped_ms INTEGER,
    parent TEXT,
    events INTEGER NOT NULL DEFAULT 0,
    UNIQUE (app, workflow, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS executions_by_workflow ON executions (app, workflow, id);
CREATE TABLE IF NOT EXISTS execution_events (
    execution TEXT NOT NULL,
    id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (execution, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workflow_steps (
    id TEXT PRIMARY KEY,
    execution TEXT NOT NULL,
    due_ms INTEGER NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS workflow_steps_due ON workflow_steps (due_ms);
CREATE INDEX IF NOT EXISTS workflow_steps_by_execution ON workflow_steps (execution);
CREATE TABLE IF NOT EXISTS workflow_results (
    join_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    execution TEXT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (join_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS workflow_results_by_execution ON workflow_results (execution);
"#;

const EXECUTION_COLUMNS: &str = "id, app, workflow, revision, name, status, input, output, error, cause, started_ms, stopped_ms, parent, trace_id, span_id, parent_span_id";

fn json_of(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn execution_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Execution> {
    let status: String = r.get(5)?;
    let input: String = r.get(6)?;
    Ok(Execution {
        id: r.get(0)?,
        app: r.get(1)?,
        workflow: r.get(2)?,
        revision: r.get(3)?,
        name: r.get(4)?,
        status: ExecutionStatus::parse(&status).unwrap_or(ExecutionStatus::Failed),
        input: serde_json::from_str(&input).unwrap_or(Value::Null),
        output: json_of(r.get(7)?),
        error: r.get(8)?,
        cause: r.get(9)?,
        started_ms: r.get(10)?,
        stopped_ms: r.get(11)?,
        parent: r.get(12)?,
        trace_id: r.get(13)?,
        span_id: r.get(14)?,
        parent_span_id: r.get(15)?,
    })
}

/// Starts an execution (see `WorkflowStore::start_execution`).
pub(crate) fn start(
    tx: &Connection,
    e: &Execution,
    events: &[NewHistoryEvent],
    steps: &[WorkflowStep],
) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO executions ({EXECUTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        ))
        .and_then(|mut s| {
            s.execute(params![
                e.id,
                e.app,
                e.workflow,
                e.revision,
                e.name,
                e.status.as_str(),
                e.input.to_string(),
                e.output.as_ref().map(Value::to_string),
                e.error,
                e.cause,
                e.started_ms,
                e.stopped_ms,
                e.parent,
                e.trace_id,
                e.span_id,
                e.parent_span_id
            ])
        })
        .map_err(db("starting an execution"))?;
    if inserted == 0 {
        return Ok(false);
    }
    append_events(tx, &e.id, events)?;
    insert_steps(tx, steps)?;
    Ok(true)
}

fn append_events(
    tx: &Connection,
    execution: &str,
    events: &[NewHistoryEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let last: i64 = tx
        .prepare_cached("UPDATE executions SET events = events + ?2 WHERE id = ?1 RETURNING events")
        .and_then(|mut s| s.query_row(params![execution, events.len() as i64], |r| r.get(0)))
        .map_err(db("numbering history events"))?;
    let first = last - events.len() as i64 + 1;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO execution_events (execution, id, ts_ms, kind, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db("appending history events"))?;
    for (i, event) in events.iter().enumerate() {
        insert
            .execute(params![
                execution,
                first + i as i64,
                event.ts_ms,
                event.kind,
                event.details.to_string()
            ])
            .map_err(db("appending a history event"))?;
    }
    Ok(())
}

fn insert_steps(tx: &Connection, steps: &[WorkflowStep]) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO workflow_steps (id, execution, due_ms, step, attempts, lease_owner, lease_until_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db("queueing workflow steps"))?;
    for step in steps {
        let leased = !step.lease_owner.is_empty();
        insert
            .execute(params![
                step.id,
                step.execution,
                step.due_ms,
                step.step.to_string(),
                i64::from(leased),
                step.lease_owner,
                step.lease_until_ms
            ])
            .map_err(db("queueing a workflow step"))?;
    }
    Ok(())
}

/// Whether a step's claim still holds: the row names its owner and
/// attempt, and its execution runs.
pub(crate) fn step_fence_holds(
    tx: &Connection,
    id: &str,
    fence: &Fence,
) -> Result<bool, StoreError> {
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM workflow_steps s JOIN executions e ON e.id = s.execution
         WHERE s.id = ?1 AND s.lease_owner = ?2 AND s.attempts = ?3 AND e.status = 'RUNNING')",
    )
    .and_then(|mut s| {
        s.query_row(
            params![id, fence.owner.as_str(), i64::from(fence.attempt)],
            |r| r.get(0),
        )
    })
    .map_err(db("checking a workflow step's lease"))
}

pub(crate) fn advance(
    tx: &Connection,
    fence: &Fence,
    advance: &WorkflowAdvance,
) -> Result<bool, StoreError> {
    let WorkRef::WorkflowStep(id) = &fence.work else {
        return Err(StoreError::corrupt(
            "fence",
            "a workflow advance needs a workflow step's fence",
        ));
    };
    if !step_fence_holds(tx, id, fence)? {
        return Ok(false);
    }
    tx.execute("DELETE FROM workflow_steps WHERE id = ?1", [id])
        .map_err(db("completing a workflow step"))?;
    if advance.drops_children {
        drop_children(tx, &advance.execution, id)?;
    }
    append_events(tx, &advance.execution, &advance.events)?;
    match &advance.end {
        Some(end) => {
            end_running(tx, &advance.execution, end)?;
        }
        None => insert_steps(tx, &advance.next)?,
    }
    crate::effects::apply(tx, &advance.effects, strato_core::time::now_ms())?;
    Ok(true)
}

/// Ends a running execution and drops its steps; false if not running.
fn end_running(tx: &Connection, id: &str, end: &ExecutionEnd) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE executions SET status = ?2, output = ?3, error = ?4, cause = ?5, stopped_ms = ?6
             WHERE id = ?1 AND status = 'RUNNING'",
        )
        .and_then(|mut s| {
            s.execute(params![
                id,
                end.status.as_str(),
                end.output.as_ref().map(Value::to_string),
                end.error,
                end.cause,
                end.stopped_ms
            ])
        })
        .map_err(db("ending an execution"))?;
    if changed == 1 {
        tx.execute("DELETE FROM workflow_steps WHERE execution = ?1", [id])
            .map_err(db("dropping an execution's steps"))?;
        tx.execute("DELETE FROM workflow_results WHERE execution = ?1", [id])
            .map_err(db("dropping an execution's branch results"))?;
    }
    Ok(changed == 1)
}

/// A join's results and its children's pending steps (ids under
/// `{join}/`; ids are letters, digits and `/`, so LIKE needs no escape).
fn drop_children(tx: &Connection, execution: &str, join: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM workflow_steps WHERE execution = ?1 AND id LIKE ?2")
        .and_then(|mut s| s.execute(params![execution, format!("{join}/%")]))
        .map_err(db("dropping a join's children"))?;
    tx.prepare_cached("DELETE FROM workflow_results WHERE join_id = ?1")
        .and_then(|mut s| s.execute([join]))
        .map_err(db("dropping a join's results"))?;
    Ok(())
}

/// Records a child's outcome for its join once, starts the next parked
/// child under a concurrency limit, and wakes the join when the last
/// outcome is in (see `strato_store::BranchEnd`). SQLite has one writer,
/// so the count is exact without a row lock.
pub(crate) fn end_branch(tx: &Connection, end: &BranchEnd) -> Result<(), StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO workflow_results (join_id, idx, execution, outcome)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM workflow_steps WHERE id = ?1)
             ON CONFLICT DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                end.join,
                end.index,
                end.execution,
                end.outcome.to_string()
            ])
        })
        .map_err(db("recording a branch's outcome"))?;
    if inserted == 0 {
        return Ok(());
    }
    let done: u32 = tx
        .prepare_cached("SELECT count(*) FROM workflow_results WHERE join_id = ?1")
        .and_then(|mut s| s.query_row([&end.join], |r| r.get(0)))
        .map_err(db("counting a join's results"))?;
    let mut wake = tx
        .prepare_cached("UPDATE workflow_steps SET due_ms = 0 WHERE id = ?1")
        .map_err(db("waking a workflow step"))?;
    if end.max_concurrency > 0 {
        let next = end.max_concurrency + done - 1;
        if next < end.total {
            wake.execute([format!("{}/{next}", end.join)])
                .map_err(db("starting a parked branch"))?;
        }
    }
    if end.wake || done >= end.total {
        wake.execute([&end.join]).map_err(db("waking a join"))?;
    }
    Ok(())
}

impl Db {
    pub(crate) fn workflow_results(&self, join: &str) -> Result<Vec<(u32, Value)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(
                "SELECT idx, outcome FROM workflow_results WHERE join_id = ?1 ORDER BY idx",
            )
            .map_err(db("reading a join's results"))?;
        let rows = stmt
            .query_map([join], |r| {
                let outcome: String = r.get(1)?;
                Ok((
                    r.get::<_, u32>(0)?,
                    serde_json::from_str(&outcome).unwrap_or(Value::Null),
                ))
            })
            .map_err(db("reading a join's results"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("reading a join's results"))
    }
}

pub(crate) fn end(
    tx: &Connection,
    id: &str,
    end: &ExecutionEnd,
    events: &[NewHistoryEvent],
) -> Result<bool, StoreError> {
    if !end_running(tx, id, end)? {
        return Ok(false);
    }
    append_events(tx, id, events)?;
    Ok(true)
}

pub(crate) fn resume(tx: &Connection, id: &str, outcome: &Value) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE workflow_steps SET outcome = ?2, due_ms = 0, lease_until_ms = 0, lease_owner = ''
             WHERE id = ?1 AND outcome IS NULL",
        )
        .and_then(|mut s| s.execute(params![id, outcome.to_string()]))
        .map_err(db("resuming a workflow step"))?;
    Ok(changed == 1)
}

pub(crate) fn delay(tx: &Connection, id: &str, due_ms: i64) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached("UPDATE workflow_steps SET due_ms = ?2 WHERE id = ?1 AND outcome IS NULL")
        .and_then(|mut s| s.execute(params![id, due_ms]))
        .map_err(db("delaying a workflow step"))?;
    Ok(changed == 1)
}

pub(crate) fn claim(
    tx: &Connection,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<WorkflowStep>, StoreError> {
    let mut select = tx
        .prepare_cached(
            "SELECT id, execution, due_ms, step, outcome, attempts FROM workflow_steps
             WHERE due_ms <= ?1 AND lease_until_ms <= ?1 ORDER BY due_ms, id LIMIT ?2",
        )
        .map_err(db("claiming workflow steps"))?;
    let rows = select
        .query_map(params![now_ms, limit as i64], |r| {
            let step: String = r.get(3)?;
            let outcome: Option<String> = r.get(4)?;
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                step,
                outcome,
                r.get::<_, u32>(5)?,
            ))
        })
        .map_err(db("claiming workflow steps"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db("claiming workflow steps"))?;
    let mut lease = tx
        .prepare_cached(
            "UPDATE workflow_steps SET lease_owner = ?2, lease_until_ms = ?3, attempts = attempts + 1 WHERE id = ?1",
        )
        .map_err(db("leasing workflow steps"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, execution, due_ms, step, outcome, attempts) in rows {
        lease
            .execute(params![id, owner, now_ms + lease_ms])
            .map_err(db("leasing a workflow step"))?;
        let mut step: Value = serde_json::from_str(&step)
            .map_err(|e| StoreError::corrupt("workflow step", format!("{id}: {e}")))?;
        if let (Some(outcome), Value::Object(fields)) = (json_of(outcome), &mut step) {
            fields.insert("outcome".into(), outcome);
        }
        out.push(WorkflowStep {
            id,
            execution,
            due_ms,
            step,
            attempts: attempts + 1,
            lease_owner: owner.to_string(),
            lease_until_ms: now_ms + lease_ms,
        });
    }
    Ok(out)
}

impl Db {
    pub(crate) fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.read()
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row([id], execution_from_row).optional())
            .map_err(db("reading an execution"))
    }

    pub(crate) fn find_execution(
        &self,
        app: &str,
        workflow: &str,
        name: &str,
    ) -> Result<Option<Execution>, StoreError> {
        self.read()
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions WHERE app = ?1 AND workflow = ?2 AND name = ?3"
            ))
            .and_then(|mut s| s.query_row(params![app, workflow, name], execution_from_row).optional())
            .map_err(db("finding an execution"))
    }

    pub(crate) fn list_executions(
        &self,
        f: &ExecutionFilter,
    ) -> Result<Vec<Execution>, StoreError> {
        let conn = self.read();
        if let Some(trace_id) = &f.trace_id {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {EXECUTION_COLUMNS} FROM executions WHERE trace_id = ?1
                     ORDER BY id DESC LIMIT ?2"
                ))
                .map_err(db("listing a trace's executions"))?;
            let rows = stmt
                .query_map(params![trace_id, f.limit.max(1) as i64], execution_from_row)
                .map_err(db("listing a trace's executions"))?;
            return rows
                .collect::<Result<_, _>>()
                .map_err(db("listing a trace's executions"));
        }
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions
                 WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR workflow = ?2)
                   AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR id < ?4)
                 ORDER BY id DESC LIMIT ?5"
            ))
            .map_err(db("listing executions"))?;
        let rows = stmt
            .query_map(
                params![
                    f.app,
                    f.workflow,
                    f.status.map(|s| s.as_str()),
                    f.before,
                    f.limit.max(1) as i64
                ],
                execution_from_row,
            )
            .map_err(db("listing executions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing executions"))
    }

    pub(crate) fn execution_history(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, ts_ms, kind, details FROM execution_events
                 WHERE execution = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(db("reading an execution's history"))?;
        let rows = stmt
            .query_map(params![id, after, limit.max(1) as i64], |r| {
                let details: String = r.get(3)?;
                Ok(HistoryEvent {
                    id: r.get(0)?,
                    ts_ms: r.get(1)?,
                    kind: r.get(2)?,
                    details: serde_json::from_str(&details).unwrap_or(Value::Null),
                })
            })
            .map_err(db("reading an execution's history"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("reading an execution's history"))
    }

    /// Whether any step is due (a reader answers the sweeper's frequent
    /// question without the writer).
    pub(crate) fn any_workflow_step_due(&self, now_ms: i64) -> Result<bool, StoreError> {
        self.read()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM workflow_steps WHERE due_ms <= ?1 AND lease_until_ms <= ?1)",
            )
            .and_then(|mut s| s.query_row([now_ms], |r| r.get(0)))
            .map_err(db("looking for due workflow steps"))
    }
}
