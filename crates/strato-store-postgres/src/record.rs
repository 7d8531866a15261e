//! Recording a batch of finished runs in one transaction with a handful
//! of statements, whatever the batch's size: the fences of every run
//! checked in one query per kind of work, the records inserted with one
//! `unnest`, the log lines with another, and the effects grouped by kind.
//! (Statement by statement, a batch cost four round trips per run and
//! capped one node at ~3,000 runs/s.)

use crate::db::{execute, query};
use crate::{runs, work};
use deadpool_postgres::Transaction;
use std::collections::HashSet;
use strato_core::{RunRecord, RunStatus};
use strato_store::{Effect, FinishedRun, StoreError, WorkRef};

/// Writes `finished` in `tx`.
pub(crate) async fn record_runs(
    tx: &Transaction<'_>,
    finished: &[FinishedRun],
) -> Result<(), StoreError> {
    let held = fences_held(tx, finished).await?;
    let mut records = Vec::with_capacity(finished.len());
    let mut effects: Vec<(&Effect, i64)> = Vec::new();
    for (i, run) in finished.iter().enumerate() {
        if held[i] {
            records.push(run.record.clone());
            effects.extend(run.effects.iter().map(|e| (e, run.record.started_at_ms)));
        } else {
            let mut superseded = run.record.clone();
            superseded.status = RunStatus::Failed;
            superseded.error = Some(strato_store::SUPERSEDED.to_string());
            records.push(superseded);
        }
    }
    apply_grouped(tx, &effects).await?;
    insert_records(tx, &records).await?;
    insert_all_logs(tx, finished).await
}

/// Whether each run's fence holds (runs without one always do), locking
/// the rows of the work whose fence holds.
async fn fences_held(
    tx: &Transaction<'_>,
    finished: &[FinishedRun],
) -> Result<Vec<bool>, StoreError> {
    let mut held = vec![true; finished.len()];
    // Per kind: (ids, owners, attempts) of the fences to check.
    let (mut inv, mut ev, mut task) = (Columns::default(), Columns::default(), Columns::default());
    for run in finished {
        let Some(fence) = &run.fence else { continue };
        let (owner, attempt) = (fence.owner.as_str().to_string(), i64::from(fence.attempt));
        match &fence.work {
            WorkRef::Invocation(id) => inv.push(id.clone(), owner, attempt),
            WorkRef::BucketEvent(id) => ev.push(id.to_string(), owner, attempt),
            WorkRef::TaskRun(id) => task.push(id.clone(), owner, attempt),
            // Runs never hold a step's lease; a fence naming one is
            // checked on its own below.
            WorkRef::WorkflowStep(_) => {}
        }
    }
    const DOING: &str = "checking leases";
    let mut ok: HashSet<(u8, String)> = HashSet::new();
    if !inv.ids.is_empty() {
        let rows = query(
            tx,
            DOING,
            "SELECT i.id FROM invocations i
             JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS f(id, owner, attempt)
               ON i.id = f.id AND i.lease_owner = f.owner AND i.attempts = f.attempt
             FOR UPDATE OF i",
            &[&inv.ids, &inv.owners, &inv.attempts],
        )
        .await?;
        ok.extend(rows.iter().map(|r| (0, r.get::<_, String>(0))));
    }
    if !ev.ids.is_empty() {
        let ids: Vec<i64> = ev.ids.iter().map(|i| i.parse().unwrap_or(-1)).collect();
        let rows = query(
            tx,
            DOING,
            "SELECT e.id FROM bucket_events e
             JOIN unnest($1::bigint[], $2::text[], $3::bigint[]) AS f(id, owner, attempt)
               ON e.id = f.id AND e.lease_owner = f.owner AND e.attempts = f.attempt AND NOT e.done
             FOR UPDATE OF e",
            &[&ids, &ev.owners, &ev.attempts],
        )
        .await?;
        ok.extend(rows.iter().map(|r| (1, r.get::<_, i64>(0).to_string())));
    }
    if !task.ids.is_empty() {
        let rows = query(
            tx,
            DOING,
            "SELECT q.run_id FROM task_requests q
             JOIN unnest($1::text[], $2::text[]) AS f(id, owner)
               ON q.run_id = f.id AND q.lease_owner = f.owner
             FOR UPDATE OF q",
            &[&task.ids, &task.owners],
        )
        .await?;
        ok.extend(rows.iter().map(|r| (2, r.get::<_, String>(0))));
    }
    for (i, run) in finished.iter().enumerate() {
        if let Some(fence) = &run.fence {
            let key = match &fence.work {
                WorkRef::Invocation(id) => (0, id.clone()),
                WorkRef::BucketEvent(id) => (1, id.to_string()),
                WorkRef::TaskRun(id) => (2, id.clone()),
                WorkRef::WorkflowStep(id) => {
                    held[i] = crate::workflows::step_fence_holds(tx, id, fence).await?;
                    continue;
                }
            };
            held[i] = ok.contains(&key);
        }
    }
    Ok(held)
}

#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    owners: Vec<String>,
    attempts: Vec<i64>,
}

impl Columns {
    fn push(&mut self, id: String, owner: String, attempt: i64) {
        self.ids.push(id);
        self.owners.push(owner);
        self.attempts.push(attempt);
    }
}

/// Applies effects grouped by kind: settles in one statement each, new
/// invocations in one insert; the rarer kinds one by one.
async fn apply_grouped(tx: &Transaction<'_>, effects: &[(&Effect, i64)]) -> Result<(), StoreError> {
    let mut settle_invocations: Vec<&str> = Vec::new();
    let mut settle_events: Vec<i64> = Vec::new();
    let mut enqueue = Vec::new();
    let mut now = 0;
    for (effect, at_ms) in effects {
        match effect {
            Effect::SettleInvocation(id) => settle_invocations.push(id),
            Effect::SettleEvent(id) => settle_events.push(*id),
            Effect::Enqueue(new) => {
                enqueue.push(new.clone());
                now = now.max(*at_ms);
            }
            other => work::apply(tx, std::slice::from_ref(*other), *at_ms).await?,
        }
    }
    if !settle_invocations.is_empty() {
        execute(
            tx,
            "settling invocations",
            "DELETE FROM invocations WHERE id = ANY($1)",
            &[&settle_invocations],
        )
        .await?;
    }
    if !settle_events.is_empty() {
        execute(
            tx,
            "settling bucket events",
            "UPDATE bucket_events SET done = TRUE, done_ms = $2 WHERE id = ANY($1)",
            &[&settle_events, &crate::now_ms()],
        )
        .await?;
    }
    work::insert(tx, &enqueue, now, 0, "").await?;
    Ok(())
}

/// Inserts (or overwrites) run records, one statement for all.
async fn insert_records(tx: &Transaction<'_>, records: &[RunRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&RunRecord) -> i64| records.iter().map(f).collect::<Vec<i64>>();
    let text = |f: fn(&RunRecord) -> &str| records.iter().map(f).collect::<Vec<&str>>();
    let opt =
        |f: fn(&RunRecord) -> Option<i64>| records.iter().map(f).collect::<Vec<Option<i64>>>();
    let opt_text =
        |f: fn(&RunRecord) -> Option<&str>| records.iter().map(f).collect::<Vec<Option<&str>>>();
    let cold: Vec<bool> = records.iter().map(|r| r.cold_start).collect();
    let updates: Vec<String> = runs::RUN_COLUMNS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO runs ({}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
           $7::bigint[], $8::bigint[], $9::bool[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[],
           $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::text[], $20::text[], $21::bigint[], $22::bigint[])
         ON CONFLICT (id) DO UPDATE SET {}",
        runs::RUN_COLUMNS,
        updates.join(", ")
    );
    execute(
        tx,
        "recording runs",
        &sql,
        &[
            &text(|r| &r.id),
            &text(|r| &r.app),
            &text(|r| &r.function),
            &col(|r| r.revision),
            &text(|r| r.trigger.as_str()),
            &text(|r| r.status.as_str()),
            &col(|r| r.started_at_ms),
            &col(|r| r.duration_us),
            &cold,
            &col(|r| r.memory_limit_bytes as i64),
            &col(|r| r.billed_ms),
            &opt(|r| r.http_status.map(i64::from)),
            &opt_text(|r| r.error.as_deref()),
            &opt_text(|r| r.event_id.as_deref()),
            &col(|r| i64::from(r.attempt)),
            &opt(|r| r.exit_code.map(i64::from)),
            &opt(|r| r.init_us),
            &opt_text(|r| r.stored_trace_id()),
            &opt_text(|r| r.span_id.as_deref()),
            &opt_text(|r| r.parent_span_id.as_deref()),
            &opt(|r| r.cpu_us),
            &opt(|r| r.queued_us),
        ],
    )
    .await
    .map(drop)
}

/// Inserts every run's log lines, in order, one statement for all.
async fn insert_all_logs(tx: &Transaction<'_>, finished: &[FinishedRun]) -> Result<(), StoreError> {
    let lines = finished.iter().map(|r| r.logs.len()).sum::<usize>();
    if lines == 0 {
        return Ok(());
    }
    let (mut run_ids, mut apps, mut functions) = (
        Vec::with_capacity(lines),
        Vec::with_capacity(lines),
        Vec::with_capacity(lines),
    );
    let (mut ts, mut streams, mut texts) = (
        Vec::with_capacity(lines),
        Vec::with_capacity(lines),
        Vec::with_capacity(lines),
    );
    runs::order_log_commit(tx).await?;
    for run in finished {
        for line in &run.logs {
            run_ids.push(run.record.id.as_str());
            apps.push(run.record.app.as_str());
            functions.push(run.record.function.as_str());
            ts.push(line.ts_ms);
            streams.push(line.stream.as_str());
            texts.push(line.text.as_str());
        }
    }
    execute(
        tx,
        "recording log lines",
        "INSERT INTO logs (run_id, app, function, ts_ms, stream, line)
         SELECT r, a, f, t, s, l FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
           WITH ORDINALITY AS u(r, a, f, t, s, l, n) ORDER BY n",
        &[&run_ids, &apps, &functions, &ts, &streams, &texts],
    )
    .await
    .map(drop)
}
