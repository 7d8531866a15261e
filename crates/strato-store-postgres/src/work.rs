//! Durable work on PostgreSQL: the async invocation queue, leases on every
//! kind of leased work, and the completion effects that commit with a
//! run. Claims lock the rows they take with `FOR UPDATE SKIP LOCKED`, so
//! nodes claiming at once never wait for each other nor take the same row.

use crate::db::{execute, query, query_one};
use crate::{objects, queues, tasks};
use deadpool_postgres::{GenericClient, Transaction};
use strato_core::invocation::Priority;
use strato_core::target::Target;
use strato_store::{Effect, Fence, Invocation, NewInvocation, StoreError, WorkRef};
use tokio_postgres::Row;

const COLUMNS: &str = "id, app, target, priority, head, body, created_ms, expires_ms, attempts, max_attempts, rank_ms";

fn invocation_from_row(row: &Row) -> Result<Invocation, StoreError> {
    let target: String = row.get(2);
    let priority: String = row.get(3);
    let id: String = row.get(0);
    Ok(Invocation {
        target: Target::decode(&target)
            .map_err(|e| StoreError::corrupt("invocation target", format!("{id}: {e}")))?,
        id,
        app: row.get(1),
        priority: Priority::parse(&priority).unwrap_or_default(),
        head: row.get(4),
        body: row.get(5),
        created_ms: row.get(6),
        expires_ms: row.get(7),
        attempts: row.get::<_, i64>(8) as u32,
        max_attempts: row.get::<_, i64>(9) as u32,
    })
}

/// Inserts invocations; those due now are stored leased to `owner` with
/// their first attempt counted when `lease_ms > 0`. One statement for the
/// whole batch.
pub(crate) async fn insert(
    c: &impl GenericClient,
    new: &[NewInvocation],
    now_ms: i64,
    lease_ms: i64,
    owner: &str,
) -> Result<(), StoreError> {
    if new.is_empty() {
        return Ok(());
    }
    let mut cols = InvocationColumns::default();
    for n in new {
        let leased = n.due_ms <= now_ms && lease_ms > 0;
        cols.id.push(&n.id);
        cols.app.push(&n.app);
        cols.target.push(n.target.encode());
        cols.priority.push(n.priority.as_str());
        cols.rank.push(n.due_ms + n.priority.offset_ms());
        cols.due.push(n.due_ms);
        cols.expires.push(n.expires_ms);
        cols.attempts.push(i64::from(leased));
        cols.max_attempts.push(i64::from(n.max_attempts));
        cols.lease.push(if leased { now_ms + lease_ms } else { 0 });
        cols.owner.push(if leased { owner } else { "" });
        cols.head.push(&n.head);
        cols.body.push(&n.body);
    }
    execute(
        c,
        "queueing invocations",
        "INSERT INTO invocations (id, app, target, priority, rank_ms, due_ms, expires_ms, attempts, max_attempts, lease_until_ms, lease_owner, created_ms, head, body)
         SELECT id, app, target, priority, rank_ms, due_ms, expires_ms, attempts, max_attempts, lease_until_ms, lease_owner, $14, head, body
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::bytea[])
           AS u(id, app, target, priority, rank_ms, due_ms, expires_ms, attempts, max_attempts, lease_until_ms, lease_owner, head, body)",
        &[
            &cols.id,
            &cols.app,
            &cols.target,
            &cols.priority,
            &cols.rank,
            &cols.due,
            &cols.expires,
            &cols.attempts,
            &cols.max_attempts,
            &cols.lease,
            &cols.owner,
            &cols.head,
            &cols.body,
            &now_ms,
        ],
    )
    .await
    .map(drop)
}

/// A batch of invocations, column by column, for one `unnest` insert.
#[derive(Default)]
struct InvocationColumns<'a> {
    id: Vec<&'a str>,
    app: Vec<&'a str>,
    target: Vec<String>,
    priority: Vec<&'static str>,
    rank: Vec<i64>,
    due: Vec<i64>,
    expires: Vec<i64>,
    attempts: Vec<i64>,
    max_attempts: Vec<i64>,
    lease: Vec<i64>,
    owner: Vec<&'a str>,
    head: Vec<&'a str>,
    body: Vec<&'a [u8]>,
}

/// Claims due invocations: expired leases first, then unleased rows by
/// rank, through the partial indexes, skipping rows another node is
/// claiming.
pub(crate) async fn claim(
    c: &impl GenericClient,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<Invocation>, StoreError> {
    // Row locks cannot be taken under a UNION, so each population is
    // locked in its own CTE.
    let sql = format!(
        "WITH expired AS (
           SELECT id FROM invocations
            WHERE lease_until_ms > 0 AND lease_until_ms <= $1 AND due_ms <= $1
            ORDER BY rank_ms LIMIT $3 FOR UPDATE SKIP LOCKED),
         unleased AS (
           SELECT id FROM invocations
            WHERE lease_until_ms = 0 AND due_ms <= $1 AND rank_ms <= $1 + $4
            ORDER BY rank_ms LIMIT $3 FOR UPDATE SKIP LOCKED),
         picked AS (SELECT id FROM (SELECT id FROM expired UNION ALL SELECT id FROM unleased) p LIMIT $3)
         UPDATE invocations i SET lease_until_ms = $2, lease_owner = $5, attempts = i.attempts + 1
         FROM picked WHERE i.id = picked.id
         RETURNING {}",
        COLUMNS.split(", ").map(|c| format!("i.{c}")).collect::<Vec<_>>().join(", ")
    );
    let rows = query(
        c,
        "claiming invocations",
        &sql,
        &[
            &now_ms,
            &(now_ms + lease_ms),
            &(limit as i64),
            &Priority::Low.offset_ms(),
            &owner,
        ],
    )
    .await?;
    let mut out: Vec<(i64, Invocation)> = rows
        .iter()
        .map(|r| Ok((r.get::<_, i64>(10), invocation_from_row(r)?)))
        .collect::<Result<_, StoreError>>()?;
    out.sort_by_key(|(rank, _)| *rank);
    Ok(out.into_iter().map(|(_, i)| i).collect())
}

/// Deletes a settled invocation.
pub(crate) async fn settle(c: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    execute(
        c,
        "settling an invocation",
        "DELETE FROM invocations WHERE id = $1",
        &[&id],
    )
    .await
    .map(drop)
}

pub(crate) async fn retry(c: &impl GenericClient, id: &str, due_ms: i64) -> Result<(), StoreError> {
    execute(
        c,
        "scheduling an invocation retry",
        "UPDATE invocations SET due_ms = $2::bigint, lease_until_ms = 0,
         rank_ms = $2::bigint + CASE priority WHEN 'high' THEN $3::bigint WHEN 'low' THEN $5::bigint ELSE $4::bigint END
         WHERE id = $1",
        &[
            &id,
            &due_ms,
            &Priority::High.offset_ms(),
            &Priority::Normal.offset_ms(),
            &Priority::Low.offset_ms(),
        ],
    )
    .await
    .map(drop)
}

pub(crate) async fn count(c: &impl GenericClient, sql: &str) -> Result<u64, StoreError> {
    let row = query_one(c, "counting pending work", sql, &[]).await?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Each kind of leased work: its table, key column and what makes it
/// still live.
const LEASED: &[(&str, &str, &str)] = &[
    ("bucket_events", "id", " AND NOT done"),
    ("invocations", "id", ""),
    ("task_requests", "run_id", ""),
    ("workflow_steps", "id", ""),
];

pub(crate) async fn release_leases(tx: &Transaction<'_>, owner: &str) -> Result<(), StoreError> {
    for (table, _, live) in LEASED {
        execute(
            tx,
            "releasing leases",
            &format!(
                "UPDATE {table} SET lease_until_ms = 0 WHERE lease_until_ms > 0 AND lease_owner = $1{live}"
            ),
            &[&owner],
        )
        .await?;
    }
    Ok(())
}

/// Extends `owner`'s leases on `work`, one statement per kind of work.
pub(crate) async fn renew_leases(
    c: &impl GenericClient,
    owner: &str,
    work: &[WorkRef],
    until_ms: i64,
) -> Result<(), StoreError> {
    let mut events = Vec::new();
    let (mut invocations, mut tasks, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for item in work {
        match item {
            WorkRef::BucketEvent(id) => events.push(*id),
            WorkRef::Invocation(id) => invocations.push(id.as_str()),
            WorkRef::TaskRun(id) => tasks.push(id.as_str()),
            WorkRef::WorkflowStep(id) => steps.push(id.as_str()),
        }
    }
    const DOING: &str = "renewing leases";
    let tail = "AND lease_until_ms > 0 AND lease_owner = $3";
    if !events.is_empty() {
        let sql = format!("UPDATE bucket_events SET lease_until_ms = $2 WHERE id = ANY($1) {tail}");
        execute(c, DOING, &sql, &[&events, &until_ms, &owner]).await?;
    }
    if !invocations.is_empty() {
        let sql = format!("UPDATE invocations SET lease_until_ms = $2 WHERE id = ANY($1) {tail}");
        execute(c, DOING, &sql, &[&invocations, &until_ms, &owner]).await?;
    }
    if !tasks.is_empty() {
        let sql =
            format!("UPDATE task_requests SET lease_until_ms = $2 WHERE run_id = ANY($1) {tail}");
        execute(c, DOING, &sql, &[&tasks, &until_ms, &owner]).await?;
    }
    if !steps.is_empty() {
        let sql =
            format!("UPDATE workflow_steps SET lease_until_ms = $2 WHERE id = ANY($1) {tail}");
        execute(c, DOING, &sql, &[&steps, &until_ms, &owner]).await?;
    }
    Ok(())
}

/// Whether `fence` still holds (see [`Fence`]), locking the work's row
/// until the transaction ends so no claim moves it meanwhile.
pub(crate) async fn fence_holds(tx: &Transaction<'_>, fence: &Fence) -> Result<bool, StoreError> {
    const DOING: &str = "checking a lease";
    let owner = fence.owner.as_str();
    let attempt = i64::from(fence.attempt);
    let row = match &fence.work {
        WorkRef::Invocation(id) => {
            crate::db::query_opt(
                tx,
                DOING,
                "SELECT 1 FROM invocations WHERE id = $1 AND lease_owner = $2 AND attempts = $3 FOR UPDATE",
                &[id, &owner, &attempt],
            )
            .await?
        }
        WorkRef::BucketEvent(id) => {
            crate::db::query_opt(
                tx,
                DOING,
                "SELECT 1 FROM bucket_events WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND NOT done FOR UPDATE",
                &[id, &owner, &attempt],
            )
            .await?
        }
        WorkRef::TaskRun(id) => {
            crate::db::query_opt(
                tx,
                DOING,
                "SELECT 1 FROM task_requests WHERE run_id = $1 AND lease_owner = $2 FOR UPDATE",
                &[id, &owner],
            )
            .await?
        }
        WorkRef::WorkflowStep(id) => {
            return crate::workflows::step_fence_holds(tx, id, fence).await;
        }
    };
    Ok(row.is_some())
}

/// Writes `effects` in `tx`, as of `now_ms`: the one place that knows how
/// each completion effect is written.
pub(crate) async fn apply(
    tx: &Transaction<'_>,
    effects: &[Effect],
    now_ms: i64,
) -> Result<(), StoreError> {
    for effect in effects {
        match effect {
            Effect::SettleEvent(id) => objects::settle_event(tx, *id, now_ms).await?,
            Effect::SettleInvocation(id) => settle(tx, id).await?,
            Effect::Enqueue(new) => insert(tx, std::slice::from_ref(new), now_ms, 0, "").await?,
            Effect::QueueTaskRun(run) => tasks::queue_task_run(tx, run, "", 0).await?,
            Effect::SendMessage {
                app,
                queue,
                message,
            } => {
                queues::insert_messages(tx, app, queue, std::slice::from_ref(message), now_ms)
                    .await?
            }
            // Answered already (a retry's late duplicate): nothing to do.
            Effect::ResumeWorkflowStep { id, outcome } => {
                crate::workflows::resume(tx, id, outcome).await?;
            }
            Effect::EndWorkflowBranch(end) => crate::workflows::end_branch(tx, end).await?,
            Effect::StartExecution(new) => {
                crate::workflows::start(tx, &new.execution, &new.events, &new.steps).await?;
            }
            Effect::KeepPayload { run_id, body } => {
                execute(
                    tx,
                    "keeping a run's payload",
                    "INSERT INTO run_payloads (run_id, body) VALUES ($1, $2)
                     ON CONFLICT (run_id) DO UPDATE SET body = excluded.body",
                    &[run_id, body],
                )
                .await?;
            }
        }
    }
    Ok(())
}
