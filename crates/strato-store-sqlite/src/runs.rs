//! Rows of the `runs` and `logs` tables, shared by every query that
//! writes or reads runs (finished runs, task runs, their logs).

use crate::db;
use rusqlite::{Connection, params};
use strato_core::{LogLine, LogStream, RunRecord, RunStatus, Trigger};
use strato_store::{LogEntry, LogFilter, RunFilter, StoreError, UsageFilter, UsageRow};

/// Columns of a run, in [`run_from_row`]'s order; a query selecting more
/// puts them after these ([`RUN_COLUMN_COUNT`] onwards).
pub(super) const RUN_COLUMNS: &str = "id, app, function, revision, trigger, status, started_at_ms, duration_us, cold_start, memory_limit_bytes, billed_ms, http_status, error, event_id, attempt, exit_code, init_us, trace_id, span_id, parent_span_id, cpu_us, queued_us";

/// How many columns [`RUN_COLUMNS`] names.
pub(super) const RUN_COLUMN_COUNT: usize = strato_store::column_count(RUN_COLUMNS);

/// A stored enum value this version does not know: refuse it rather than
/// report a run as something it was not.
fn unknown_value(column: usize, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unknown value `{value}`").into(),
    )
}

pub(super) fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let trigger: String = row.get(4)?;
    let status: String = row.get(5)?;
    let mut record = RunRecord {
        id: row.get(0)?,
        app: row.get(1)?,
        function: row.get(2)?,
        revision: row.get(3)?,
        trigger: Trigger::parse(&trigger).ok_or_else(|| unknown_value(4, &trigger))?,
        status: RunStatus::parse(&status).ok_or_else(|| unknown_value(5, &status))?,
        started_at_ms: row.get(6)?,
        duration_us: row.get(7)?,
        cold_start: row.get(8)?,
        memory_limit_bytes: row.get::<_, i64>(9)? as u64,
        billed_ms: row.get(10)?,
        http_status: row.get::<_, Option<i64>>(11)?.map(|s| s as u16),
        error: row.get(12)?,
        event_id: row.get(13)?,
        attempt: row.get(14)?,
        exit_code: row.get(15)?,
        init_us: row.get(16)?,
        trace_id: row.get(17)?,
        span_id: row.get(18)?,
        parent_span_id: row.get(19)?,
        cpu_us: row.get(20)?,
        queued_us: row.get(21)?,
    };
    record.fill_trace_id();
    Ok(record)
}

/// Writes (or overwrites) a run's record.
pub(super) fn insert_run(conn: &Connection, r: &RunRecord) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            r.id,
            r.app,
            r.function,
            r.revision,
            r.trigger.as_str(),
            r.status.as_str(),
            r.started_at_ms,
            r.duration_us,
            r.cold_start,
            r.memory_limit_bytes as i64,
            r.billed_ms,
            r.http_status.map(i64::from),
            r.error,
            r.event_id,
            r.attempt,
            r.exit_code,
            r.init_us,
            r.stored_trace_id(),
            r.span_id,
            r.parent_span_id,
            r.cpu_us,
            r.queued_us,
        ])
    })
    .map(|_| ())
    .map_err(db("recording a run"))
}

pub(super) fn insert_logs(
    conn: &Connection,
    r: &RunRecord,
    lines: &[LogLine],
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO logs (run_id, app, function, ts_ms, stream, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db("preparing to record logs"))?;
    for line in lines {
        stmt.execute(params![
            r.id,
            r.app,
            r.function,
            line.ts_ms,
            line.stream.as_str(),
            line.text
        ])
        .map_err(db("recording a log line"))?;
    }
    Ok(())
}

impl super::Db {
    pub(crate) fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let Some(app) = filter.app.as_deref().filter(|_| filter.per_function()) else {
            return self.list_runs_by_sql(filter);
        };
        let functions: Vec<String> = {
            let conn = self.read();
            let mut stmt = conn
                .prepare_cached(&strato_store::APP_FUNCTIONS_SQL.replace('$', "?"))
                .map_err(db("listing an app's functions"))?;
            let rows = stmt
                .query_map([app], |r| r.get(0))
                .map_err(db("listing an app's functions"))?;
            rows.collect::<Result<_, _>>()
                .map_err(db("listing an app's functions"))?
        };
        let lists = functions
            .iter()
            .map(|f| self.list_runs_by_sql(&filter.for_function(f)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(filter.merge_newest(lists))
    }

    fn list_runs_by_sql(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let (sql, args) = filter.to_sql(RUN_COLUMNS, |n| format!("?{n}"));
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&sql).map_err(db("listing runs"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), run_from_row)
            .map_err(db("listing runs"))?;
        rows.collect::<Result<_, _>>().map_err(db("listing runs"))
    }

    pub(crate) fn runs_in_trace(
        &self,
        trace_id: &str,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let sql = strato_store::runs_in_trace_sql(RUN_COLUMNS, limit).replace('$', "?");
        let root = strato_core::trace::root_run_id(trace_id).unwrap_or_default();
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(&sql)
            .map_err(db("listing a trace's runs"))?;
        let rows = stmt
            .query_map(params![trace_id, root], run_from_row)
            .map_err(db("listing a trace's runs"))?;
        let runs: Vec<RunRecord> = rows
            .collect::<Result<_, _>>()
            .map_err(db("listing a trace's runs"))?;
        // The root named by the trace id is in it only if its span says so.
        Ok(runs
            .into_iter()
            .filter(|r| r.trace_id.as_deref() == Some(trace_id))
            .collect())
    }

    pub(crate) fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
        // SQLite spells `$N` as `?N` and has no DOUBLE PRECISION cast.
        let sql = strato_store::USAGE_SQL
            .replace('$', "?")
            .replace("DOUBLE PRECISION", "REAL");
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&sql).map_err(db("summing usage"))?;
        let rows = stmt
            .query_map(params![filter.since_ms, filter.app], |r| {
                Ok(UsageRow {
                    app: r.get(0)?,
                    function: r.get(1)?,
                    runs: r.get::<_, i64>(2)? as u64,
                    errors: r.get::<_, i64>(3)? as u64,
                    throttles: r.get::<_, i64>(4)? as u64,
                    cold_starts: r.get::<_, i64>(5)? as u64,
                    billed_ms: r.get(6)?,
                    gb_seconds: r.get(7)?,
                    cpu_seconds: r.get(8)?,
                })
            })
            .map_err(db("summing usage"))?;
        rows.collect::<Result<_, _>>().map_err(db("summing usage"))
    }

    pub(crate) fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        let mut sql = String::from(
            "SELECT seq, run_id, app, function, ts_ms, stream, line FROM logs WHERE seq > ?1",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![filter.after.into()];
        if let Some(run) = &filter.run_id {
            args.push(run.clone().into());
            sql.push_str(&format!(" AND run_id = ?{}", args.len()));
        }
        if let Some(app) = &filter.app {
            args.push(app.clone().into());
            sql.push_str(&format!(" AND app = ?{}", args.len()));
        }
        if let Some(function) = &filter.function {
            args.push(function.clone().into());
            sql.push_str(&format!(" AND function = ?{}", args.len()));
        }
        let limit = if filter.limit == 0 {
            1000
        } else {
            filter.limit
        };
        let order = if filter.tail { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT {limit}"));
        let conn = self.read();
        let mut stmt = conn.prepare(&sql).map_err(db("reading logs"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                let stream: String = r.get(5)?;
                Ok(LogEntry {
                    seq: r.get(0)?,
                    run_id: r.get(1)?,
                    app: r.get(2)?,
                    function: r.get(3)?,
                    line: LogLine {
                        ts_ms: r.get(4)?,
                        stream: LogStream::parse(&stream),
                        text: r.get(6)?,
                    },
                })
            })
            .map_err(db("reading logs"))?;
        let mut lines: Vec<LogEntry> =
            rows.collect::<Result<_, _>>().map_err(db("reading logs"))?;
        if filter.tail {
            lines.reverse();
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_column_count_matches_the_columns() {
        assert_eq!(
            super::RUN_COLUMNS.split(", ").count(),
            super::RUN_COLUMN_COUNT
        );
    }
}
