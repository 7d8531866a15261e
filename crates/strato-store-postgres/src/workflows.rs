//! Workflow executions on PostgreSQL: execution rows, their history, and
//! their pending steps as leased work claimed with `FOR UPDATE SKIP
//! LOCKED` (see `strato_store::WorkflowStep`). History events are
//! numbered under the execution's row lock, so concurrent branches of one
//! execution never take the same number.

use crate::db::{execute, query, query_opt};
use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use strato_store::{
    BranchEnd, Execution, ExecutionEnd, ExecutionFilter, ExecutionStatus, Fence, HistoryEvent,
    NewHistoryEvent, StoreError, WorkRef, WorkflowAdvance, WorkflowStep,
};
use tokio_postgres::Row;

pub(crate) const SCHEMA: &str = r#"
CREATE TABLE executions (
    id TEXT COLLATE "C" PRIMARY KEY,
    app TEXT NOT NULL,
    workflow TEXT NOT NULL,
    revision BIGINT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    started_ms BIGINT NOT NULL,
    stopped_ms BIGINT,
    parent TEXT,
    events BIGINT NOT NULL DEFAULT 0,
    UNIQUE (app, workflow, name)
);
CREATE INDEX executions_by_workflow ON executions (app, workflow, id);
CREATE TABLE execution_events (
    execution TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (execution, id)
);
CREATE TABLE workflow_steps (
    id TEXT COLLATE "C" PRIMARY KEY,
    execution TEXT COLLATE "C" NOT NULL,
    due_ms BIGINT NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX workflow_steps_due ON workflow_steps (due_ms);
CREATE INDEX workflow_steps_by_execution ON workflow_steps (execution);
"#;

/// Migration 6: what Parallel and Map states' children report to their
/// joins (see `strato_store::BranchEnd`).
pub(crate) const BRANCH_RESULTS: &str = r#"
CREATE TABLE workflow_results (
    join_id TEXT COLLATE "C" NOT NULL,
    idx BIGINT NOT NULL,
    execution TEXT COLLATE "C" NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (join_id, idx)
);
CREATE INDEX workflow_results_by_execution ON workflow_results (execution);
"#;

const COLUMNS: &str = "id, app, workflow, revision, name, status, input, output, error, cause, started_ms, stopped_ms, parent, trace_id, span_id, parent_span_id";

fn json_of(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn execution_from_row(r: &Row) -> Execution {
    let status: String = r.get(5);
    let input: String = r.get(6);
    Execution {
        id: r.get(0),
        app: r.get(1),
        workflow: r.get(2),
        revision: r.get(3),
        name: r.get(4),
        status: ExecutionStatus::parse(&status).unwrap_or(ExecutionStatus::Failed),
        input: serde_json::from_str(&input).unwrap_or(Value::Null),
        output: json_of(r.get(7)),
        error: r.get(8),
        cause: r.get(9),
        started_ms: r.get(10),
        stopped_ms: r.get(11),
        parent: r.get(12),
        trace_id: r.get(13),
        span_id: r.get(14),
        parent_span_id: r.get(15),
    }
}

pub(crate) async fn start(
    tx: &Transaction<'_>,
    e: &Execution,
    events: &[NewHistoryEvent],
    steps: &[WorkflowStep],
) -> Result<bool, StoreError> {
    let inserted = execute(
        tx,
        "starting an execution",
        &format!(
            "INSERT INTO executions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT DO NOTHING"
        ),
        &[
            &e.id,
            &e.app,
            &e.workflow,
            &e.revision,
            &e.name,
            &e.status.as_str(),
            &e.input.to_string(),
            &e.output.as_ref().map(Value::to_string),
            &e.error,
            &e.cause,
            &e.started_ms,
            &e.stopped_ms,
            &e.parent,
            &e.trace_id,
            &e.span_id,
            &e.parent_span_id,
        ],
    )
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    append_events(tx, &e.id, events).await?;
    insert_steps(tx, steps).await?;
    Ok(true)
}

/// Appends events, numbering them after the execution's last under its
/// row lock, in one statement.
async fn append_events(
    tx: &Transaction<'_>,
    execution: &str,
    events: &[NewHistoryEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len() as i64;
    let ts: Vec<i64> = events.iter().map(|e| e.ts_ms).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let details: Vec<String> = events.iter().map(|e| e.details.to_string()).collect();
    let appended = execute(
        tx,
        "appending history events",
        "WITH numbered AS (
           UPDATE executions SET events = events + $2 WHERE id = $1 RETURNING events)
         INSERT INTO execution_events (execution, id, ts_ms, kind, details)
         SELECT $1, numbered.events - $2 + u.o, u.t, u.k, u.d
         FROM numbered, unnest($3::bigint[], $4::text[], $5::text[]) WITH ORDINALITY AS u(t, k, d, o)",
        &[&execution, &n, &ts, &kinds, &details],
    )
    .await?;
    if appended != n as u64 {
        return Err(StoreError::corrupt(
            "execution",
            format!("{execution} is missing"),
        ));
    }
    Ok(())
}

/// Queues steps. Ids are unique by construction; one already there is a
/// repeated advance's, whose fence failed and whose transaction rolls
/// back (its statements are pipelined ahead of that answer).
async fn insert_steps(tx: &Transaction<'_>, steps: &[WorkflowStep]) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    let executions: Vec<&str> = steps.iter().map(|s| s.execution.as_str()).collect();
    let due: Vec<i64> = steps.iter().map(|s| s.due_ms).collect();
    let bodies: Vec<String> = steps.iter().map(|s| s.step.to_string()).collect();
    let attempts: Vec<i64> = steps
        .iter()
        .map(|s| i64::from(!s.lease_owner.is_empty()))
        .collect();
    let owners: Vec<&str> = steps.iter().map(|s| s.lease_owner.as_str()).collect();
    let until: Vec<i64> = steps.iter().map(|s| s.lease_until_ms).collect();
    execute(
        tx,
        "queueing workflow steps",
        "INSERT INTO workflow_steps (id, execution, due_ms, step, attempts, lease_owner, lease_until_ms)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
         ON CONFLICT (id) DO NOTHING",
        &[&ids, &executions, &due, &bodies, &attempts, &owners, &until],
    )
    .await
    .map(drop)
}

/// Whether a step's claim still holds (its execution running), locking
/// the step's row until the transaction ends.
pub(crate) async fn step_fence_holds(
    tx: &Transaction<'_>,
    id: &str,
    fence: &Fence,
) -> Result<bool, StoreError> {
    let row = query_opt(
        tx,
        "checking a workflow step's lease",
        "SELECT 1 FROM workflow_steps s JOIN executions e ON e.id = s.execution
         WHERE s.id = $1 AND s.lease_owner = $2 AND s.attempts = $3 AND e.status = 'RUNNING'
         FOR UPDATE OF s",
        &[&id, &fence.owner.as_str(), &i64::from(fence.attempt)],
    )
    .await?;
    Ok(row.is_some())
}

pub(crate) async fn advance(
    tx: &Transaction<'_>,
    fence: &Fence,
    advance: &WorkflowAdvance,
) -> Result<bool, StoreError> {
    let WorkRef::WorkflowStep(id) = &fence.work else {
        return Err(StoreError::corrupt(
            "fence",
            "a workflow advance needs a workflow step's fence",
        ));
    };
    // The step's removal (which is its fence check: owner, attempt, a
    // running execution), its events and its successors go to the server
    // together, pipelined on the one connection; a fence that no longer
    // holds rolls the lot back (the caller commits only on true).
    let (owner, attempt) = (fence.owner.as_str(), i64::from(fence.attempt));
    let fenced: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [id, &owner, &attempt];
    let completed = execute(
        tx,
        "completing a workflow step",
        "DELETE FROM workflow_steps s USING executions e
         WHERE s.id = $1 AND s.lease_owner = $2 AND s.attempts = $3
           AND e.id = s.execution AND e.status = 'RUNNING'",
        &fenced,
    );
    let appended = append_events(tx, &advance.execution, &advance.events);
    let queued = async {
        match &advance.end {
            Some(_) => Ok(()),
            None => insert_steps(tx, &advance.next).await,
        }
    };
    let (completed, (), ()) = tokio::try_join!(completed, appended, queued)?;
    if completed == 0 {
        return Ok(false);
    }
    if advance.drops_children {
        drop_children(tx, &advance.execution, id).await?;
    }
    if let Some(end) = &advance.end {
        end_running(tx, &advance.execution, end).await?;
    }
    crate::work::apply(tx, &advance.effects, crate::now_ms()).await?;
    Ok(true)
}

async fn end_running(
    tx: &Transaction<'_>,
    id: &str,
    end: &ExecutionEnd,
) -> Result<bool, StoreError> {
    let changed = execute(
        tx,
        "ending an execution",
        "UPDATE executions SET status = $2, output = $3, error = $4, cause = $5, stopped_ms = $6
         WHERE id = $1 AND status = 'RUNNING'",
        &[
            &id,
            &end.status.as_str(),
            &end.output.as_ref().map(Value::to_string),
            &end.error,
            &end.cause,
            &end.stopped_ms,
        ],
    )
    .await?;
    if changed == 1 {
        execute(
            tx,
            "dropping an execution's steps",
            "DELETE FROM workflow_steps WHERE execution = $1",
            &[&id],
        )
        .await?;
        execute(
            tx,
            "dropping an execution's branch results",
            "DELETE FROM workflow_results WHERE execution = $1",
            &[&id],
        )
        .await?;
    }
    Ok(changed == 1)
}

/// A join's results and its children's pending steps (ids under
/// `{join}/`; ids are letters, digits and `/`, so LIKE needs no escape).
async fn drop_children(
    tx: &Transaction<'_>,
    execution: &str,
    join: &str,
) -> Result<(), StoreError> {
    execute(
        tx,
        "dropping a join's children",
        "DELETE FROM workflow_steps WHERE execution = $1 AND id LIKE $2",
        &[&execution, &format!("{join}/%")],
    )
    .await?;
    execute(
        tx,
        "dropping a join's results",
        "DELETE FROM workflow_results WHERE join_id = $1",
        &[&join],
    )
    .await?;
    Ok(())
}

/// Records a child's outcome for its join once, starts the next parked
/// child under a concurrency limit, and wakes the join when the last
/// outcome is in (see `strato_store::BranchEnd`). The join's row is
/// locked first, so of two children ending at once the second counts
/// the first's outcome: the last one always sees them all.
pub(crate) async fn end_branch(tx: &Transaction<'_>, end: &BranchEnd) -> Result<(), StoreError> {
    let join = query_opt(
        tx,
        "locking a join",
        "SELECT 1 FROM workflow_steps WHERE id = $1 FOR UPDATE",
        &[&end.join],
    )
    .await?;
    if join.is_none() {
        // The join ended (a failure elsewhere, a stop): nothing waits.
        return Ok(());
    }
    let inserted = execute(
        tx,
        "recording a branch's outcome",
        "INSERT INTO workflow_results (join_id, idx, execution, outcome) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        &[
            &end.join,
            &i64::from(end.index),
            &end.execution,
            &end.outcome.to_string(),
        ],
    )
    .await?;
    if inserted == 0 {
        return Ok(());
    }
    let done: i64 = query(
        tx,
        "counting a join's results",
        "SELECT count(*) FROM workflow_results WHERE join_id = $1",
        &[&end.join],
    )
    .await?[0]
        .get(0);
    let wake = "UPDATE workflow_steps SET due_ms = 0 WHERE id = $1";
    if end.max_concurrency > 0 {
        let next = i64::from(end.max_concurrency) + done - 1;
        if next < i64::from(end.total) {
            execute(
                tx,
                "starting a parked branch",
                wake,
                &[&format!("{}/{next}", end.join)],
            )
            .await?;
        }
    }
    if end.wake || done >= i64::from(end.total) {
        execute(tx, "waking a join", wake, &[&end.join]).await?;
    }
    Ok(())
}

pub(crate) async fn results(
    c: &impl GenericClient,
    join: &str,
) -> Result<Vec<(u32, Value)>, StoreError> {
    let rows = query(
        c,
        "reading a join's results",
        "SELECT idx, outcome FROM workflow_results WHERE join_id = $1 ORDER BY idx",
        &[&join],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let outcome: String = r.get(1);
            (
                r.get::<_, i64>(0) as u32,
                serde_json::from_str(&outcome).unwrap_or(Value::Null),
            )
        })
        .collect())
}

pub(crate) async fn end(
    tx: &Transaction<'_>,
    id: &str,
    end: &ExecutionEnd,
    events: &[NewHistoryEvent],
) -> Result<bool, StoreError> {
    if !end_running(tx, id, end).await? {
        return Ok(false);
    }
    append_events(tx, id, events).await?;
    Ok(true)
}

pub(crate) async fn resume(
    c: &impl GenericClient,
    id: &str,
    outcome: &Value,
) -> Result<bool, StoreError> {
    let changed = execute(
        c,
        "resuming a workflow step",
        "UPDATE workflow_steps SET outcome = $2, due_ms = 0, lease_until_ms = 0, lease_owner = ''
         WHERE id = $1 AND outcome IS NULL",
        &[&id, &outcome.to_string()],
    )
    .await?;
    Ok(changed == 1)
}

pub(crate) async fn delay(
    c: &impl GenericClient,
    id: &str,
    due_ms: i64,
) -> Result<bool, StoreError> {
    let changed = execute(
        c,
        "delaying a workflow step",
        "UPDATE workflow_steps SET due_ms = $2 WHERE id = $1 AND outcome IS NULL",
        &[&id, &due_ms],
    )
    .await?;
    Ok(changed == 1)
}

pub(crate) async fn claim(
    tx: &Transaction<'_>,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<WorkflowStep>, StoreError> {
    let rows = query(
        tx,
        "claiming workflow steps",
        "WITH due AS (
           SELECT id FROM workflow_steps WHERE due_ms <= $1 AND lease_until_ms <= $1
           ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE workflow_steps s SET lease_owner = $3, lease_until_ms = $4, attempts = s.attempts + 1
         FROM due WHERE s.id = due.id
         RETURNING s.id, s.execution, s.due_ms, s.step, s.outcome, s.attempts",
        &[&now_ms, &(limit as i64), &owner, &(now_ms + lease_ms)],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.get(0);
        let step: String = r.get(3);
        let mut step: Value = serde_json::from_str(&step)
            .map_err(|e| StoreError::corrupt("workflow step", format!("{id}: {e}")))?;
        if let (Some(outcome), Value::Object(fields)) = (json_of(r.get(4)), &mut step) {
            fields.insert("outcome".into(), outcome);
        }
        out.push(WorkflowStep {
            id,
            execution: r.get(1),
            due_ms: r.get(2),
            step,
            attempts: r.get::<_, i64>(5) as u32,
            lease_owner: owner.to_string(),
            lease_until_ms: now_ms + lease_ms,
        });
    }
    out.sort_by(|a, b| (a.due_ms, &a.id).cmp(&(b.due_ms, &b.id)));
    Ok(out)
}

pub(crate) async fn get(c: &impl GenericClient, id: &str) -> Result<Option<Execution>, StoreError> {
    let row = query_opt(
        c,
        "reading an execution",
        &format!("SELECT {COLUMNS} FROM executions WHERE id = $1"),
        &[&id],
    )
    .await?;
    Ok(row.as_ref().map(execution_from_row))
}

pub(crate) async fn find(
    c: &impl GenericClient,
    app: &str,
    workflow: &str,
    name: &str,
) -> Result<Option<Execution>, StoreError> {
    let row = query_opt(
        c,
        "finding an execution",
        &format!("SELECT {COLUMNS} FROM executions WHERE app = $1 AND workflow = $2 AND name = $3"),
        &[&app, &workflow, &name],
    )
    .await?;
    Ok(row.as_ref().map(execution_from_row))
}

pub(crate) async fn list(
    c: &impl GenericClient,
    f: &ExecutionFilter,
) -> Result<Vec<Execution>, StoreError> {
    if let Some(trace_id) = &f.trace_id {
        let rows = query(
            c,
            "listing a trace's executions",
            &format!(
                "SELECT {COLUMNS} FROM executions WHERE trace_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[trace_id, &(f.limit.max(1) as i64)],
        )
        .await?;
        return Ok(rows.iter().map(execution_from_row).collect());
    }
    let rows = query(
        c,
        "listing executions",
        &format!(
            "SELECT {COLUMNS} FROM executions
             WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR workflow = $2)
               AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5"
        ),
        &[
            &f.app,
            &f.workflow,
            &f.status.map(|s| s.as_str()),
            &f.before,
            &(f.limit.max(1) as i64),
        ],
    )
    .await?;
    Ok(rows.iter().map(execution_from_row).collect())
}

pub(crate) async fn history(
    c: &impl GenericClient,
    id: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let rows = query(
        c,
        "reading an execution's history",
        "SELECT id, ts_ms, kind, details FROM execution_events
         WHERE execution = $1 AND id > $2 ORDER BY id LIMIT $3",
        &[&id, &after, &(limit.max(1) as i64)],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let details: String = r.get(3);
            HistoryEvent {
                id: r.get(0),
                ts_ms: r.get(1),
                kind: r.get(2),
                details: serde_json::from_str(&details).unwrap_or(Value::Null),
            }
        })
        .collect())
}
