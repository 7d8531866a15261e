//! Runs, their logs and task runs on PostgreSQL. A queued task run is its
//! `runs` row (status `queued`) plus its request in `task_requests`, with
//! the lease of the node running it; the request goes in the transaction
//! that records the run's end.

use crate::db::{Param, execute, query};
use deadpool_postgres::{GenericClient, Transaction};
use strato_core::{LogLine, LogStream, RunRecord, RunStatus, Trigger};
use strato_store::{LogEntry, LogFilter, RunFilter, StoreError, UsageFilter, UsageRow};
use tokio_postgres::Row;

/// Columns of a run, in [`run_from_row`]'s order.
pub(crate) const RUN_COLUMNS: &str = "id, app, function, revision, trigger, status, started_at_ms, duration_us, cold_start, memory_limit_bytes, billed_ms, http_status, error, event_id, attempt, exit_code, init_us, trace_id, span_id, parent_span_id, cpu_us, queued_us";
pub(crate) const RUN_COLUMN_COUNT: usize = strato_store::column_count(RUN_COLUMNS);

fn unknown(what: &'static str, value: &str) -> StoreError {
    StoreError::corrupt(what, format!("unknown value `{value}`"))
}

pub(crate) fn run_from_row(row: &Row) -> Result<RunRecord, StoreError> {
    let trigger: String = row.get(4);
    let status: String = row.get(5);
    let mut record = RunRecord {
        id: row.get(0),
        app: row.get(1),
        function: row.get(2),
        revision: row.get(3),
        trigger: Trigger::parse(&trigger).ok_or_else(|| unknown("run trigger", &trigger))?,
        status: RunStatus::parse(&status).ok_or_else(|| unknown("run status", &status))?,
        started_at_ms: row.get(6),
        duration_us: row.get(7),
        cold_start: row.get(8),
        memory_limit_bytes: row.get::<_, i64>(9) as u64,
        billed_ms: row.get(10),
        http_status: row.get::<_, Option<i64>>(11).map(|s| s as u16),
        error: row.get(12),
        event_id: row.get(13),
        attempt: row.get::<_, i64>(14) as u32,
        exit_code: row.get::<_, Option<i64>>(15).map(|c| c as i32),
        init_us: row.get(16),
        trace_id: row.get(17),
        span_id: row.get(18),
        parent_span_id: row.get(19),
        cpu_us: row.get(20),
        queued_us: row.get(21),
    };
    record.fill_trace_id();
    Ok(record)
}

/// Writes (or overwrites) a run's record.
pub(crate) async fn insert_run(c: &impl GenericClient, r: &RunRecord) -> Result<(), StoreError> {
    let updates: Vec<String> = RUN_COLUMNS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
         ON CONFLICT (id) DO UPDATE SET {}",
        updates.join(", ")
    );
    execute(
        c,
        "recording a run",
        &sql,
        &[
            &r.id,
            &r.app,
            &r.function,
            &r.revision,
            &r.trigger.as_str(),
            &r.status.as_str(),
            &r.started_at_ms,
            &r.duration_us,
            &r.cold_start,
            &(r.memory_limit_bytes as i64),
            &r.billed_ms,
            &r.http_status.map(i64::from),
            &r.error,
            &r.event_id,
            &i64::from(r.attempt),
            &r.exit_code.map(i64::from),
            &r.init_us,
            &r.stored_trace_id(),
            &r.span_id,
            &r.parent_span_id,
            &r.cpu_us,
            &r.queued_us,
        ],
    )
    .await
    .map(drop)
}

/// Adds a run's log lines: one statement for the whole batch.
/// Taken by every transaction that writes log lines, just before it
/// writes them (the last thing it does before committing).
const LOG_ORDER_LOCK: i64 = 0x7374_6c6f_6773;

/// Makes log lines commit in the order of their sequence numbers. A
/// follower reads lines `after` the last number it saw; if two nodes'
/// transactions took numbers 101 and 102 and 102 committed first, a
/// follower could read 102, move past 101 and never see it. Holding this
/// lock from taking the numbers until the commit (a transaction-level
/// advisory lock is released after the commit is visible) serializes only
/// that last step of each writer. Anything else a writer locks it locks
/// before this, so waiting here never closes a cycle.
pub(crate) async fn order_log_commit(tx: &Transaction<'_>) -> Result<(), StoreError> {
    execute(
        tx,
        "ordering log lines",
        "SELECT pg_advisory_xact_lock($1)",
        &[&LOG_ORDER_LOCK],
    )
    .await
    .map(drop)
}

/// Writes a run's log lines in `tx`: the last writes of the transaction.
pub(crate) async fn insert_logs(
    tx: &Transaction<'_>,
    r: &RunRecord,
    lines: &[LogLine],
) -> Result<(), StoreError> {
    if lines.is_empty() {
        return Ok(());
    }
    order_log_commit(tx).await?;
    let ts: Vec<i64> = lines.iter().map(|l| l.ts_ms).collect();
    let streams: Vec<&str> = lines.iter().map(|l| l.stream.as_str()).collect();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    execute(
        tx,
        "recording log lines",
        "INSERT INTO logs (run_id, app, function, ts_ms, stream, line)
         SELECT $1, $2, $3, t, s, l FROM unnest($4::bigint[], $5::text[], $6::text[]) WITH ORDINALITY AS u(t, s, l, n) ORDER BY n",
        &[&r.id, &r.app, &r.function, &ts, &streams, &texts],
    )
    .await
    .map(drop)
}

pub(crate) async fn list_runs(
    c: &impl GenericClient,
    filter: &RunFilter,
) -> Result<Vec<RunRecord>, StoreError> {
    let Some(app) = filter.app.as_deref().filter(|_| filter.per_function()) else {
        return list_runs_by_sql(c, filter).await;
    };
    let functions = query(
        c,
        "listing an app's functions",
        strato_store::APP_FUNCTIONS_SQL,
        &[&app],
    )
    .await?;
    let mut lists = Vec::with_capacity(functions.len());
    for row in &functions {
        let function: String = row.get(0);
        lists.push(list_runs_by_sql(c, &filter.for_function(&function)).await?);
    }
    Ok(filter.merge_newest(lists))
}

async fn list_runs_by_sql(
    c: &impl GenericClient,
    filter: &RunFilter,
) -> Result<Vec<RunRecord>, StoreError> {
    let (sql, values) = filter.to_sql(RUN_COLUMNS, |n| format!("${n}"));
    let args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let rows = query(c, "listing runs", &sql, &args).await?;
    rows.iter().map(run_from_row).collect()
}

pub(crate) async fn runs_in_trace(
    c: &impl GenericClient,
    trace_id: &str,
    limit: usize,
) -> Result<Vec<RunRecord>, StoreError> {
    let sql = strato_store::runs_in_trace_sql(RUN_COLUMNS, limit);
    let root = strato_core::trace::root_run_id(trace_id).unwrap_or_default();
    let rows = query(c, "listing a trace's runs", &sql, &[&trace_id, &root]).await?;
    let runs: Vec<RunRecord> = rows.iter().map(run_from_row).collect::<Result<_, _>>()?;
    // The root named by the trace id is in it only if its span says so.
    Ok(runs
        .into_iter()
        .filter(|r| r.trace_id.as_deref() == Some(trace_id))
        .collect())
}

pub(crate) async fn usage(
    c: &impl GenericClient,
    filter: &UsageFilter,
) -> Result<Vec<UsageRow>, StoreError> {
    // `$2 IS NULL` needs the parameter's type spelled out.
    let sql = strato_store::USAGE_SQL.replace("$2 IS NULL", "$2::text IS NULL");
    let rows = query(c, "summing usage", &sql, &[&filter.since_ms, &filter.app]).await?;
    Ok(rows
        .iter()
        .map(|r| UsageRow {
            app: r.get(0),
            function: r.get(1),
            runs: r.get::<_, i64>(2) as u64,
            errors: r.get::<_, i64>(3) as u64,
            throttles: r.get::<_, i64>(4) as u64,
            cold_starts: r.get::<_, i64>(5) as u64,
            billed_ms: r.get(6),
            gb_seconds: r.get(7),
            cpu_seconds: r.get(8),
        })
        .collect())
}

pub(crate) async fn read_logs(
    c: &impl GenericClient,
    filter: &LogFilter,
) -> Result<Vec<LogEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT seq, run_id, app, function, ts_ms, stream, line FROM logs WHERE seq > $1",
    );
    let mut args: Vec<Param<'_>> = vec![&filter.after];
    for (column, value) in [
        ("run_id", filter.run_id.as_ref()),
        ("app", filter.app.as_ref()),
        ("function", filter.function.as_ref()),
    ] {
        if let Some(v) = value {
            args.push(v);
            sql.push_str(&format!(" AND {column} = ${}", args.len()));
        }
    }
    let limit = if filter.limit == 0 {
        1000
    } else {
        filter.limit
    };
    let order = if filter.tail { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY seq {order} LIMIT {limit}"));
    let rows = query(c, "reading logs", &sql, &args).await?;
    let mut lines: Vec<LogEntry> = rows
        .iter()
        .map(|r| LogEntry {
            seq: r.get(0),
            run_id: r.get(1),
            app: r.get(2),
            function: r.get(3),
            line: LogLine {
                ts_ms: r.get(4),
                stream: LogStream::parse(r.get(5)),
                text: r.get(6),
            },
        })
        .collect();
    if filter.tail {
        lines.reverse();
    }
    Ok(lines)
}
