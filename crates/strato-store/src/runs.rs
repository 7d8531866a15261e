//! Reading runs and their logs back: the filters the listings take, and
//! the SQL the backends share for an app's runs, a trace's runs and a
//! usage report (each backend spells its placeholders).

use strato_core::{LogLine, RunRecord, RunStatus};

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub app: Option<String>,
    pub function: Option<String>,
    pub status: Option<RunStatus>,
    pub trigger: Option<strato_core::Trigger>,
    /// Only runs older than this run id (the next page after it).
    pub before: Option<String>,
    /// Only runs with a log line containing this text.
    pub log_text: Option<String>,
    pub limit: usize,
}

impl RunFilter {
    /// The filter's conditions for a backend's SQL, each with `{}` where
    /// its (text) parameter goes, in order.
    pub fn conditions(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(app) = &self.app {
            out.push(("app = {}", app.clone()));
        }
        if let Some(function) = &self.function {
            out.push(("function = {}", function.clone()));
        }
        if let Some(status) = self.status {
            out.push(("status = {}", status.as_str().to_string()));
        }
        if let Some(trigger) = self.trigger {
            out.push(("trigger = {}", trigger.as_str().to_string()));
        }
        if let Some(before) = &self.before {
            out.push(("id < {}", before.clone()));
        }
        if let Some(text) = &self.log_text {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            out.push((
                "id IN (SELECT run_id FROM logs WHERE line LIKE {} ESCAPE '\\')",
                format!("%{escaped}%"),
            ));
        }
        out
    }

    /// Whether the listing goes function by function: an app's runs with
    /// no function named are each of its functions' newest (by the
    /// `(app, function, id)` index), merged. An index over `(app, id)`
    /// would answer in one query, but every run's write pays for it: 5 %
    /// of gateway throughput.
    pub fn per_function(&self) -> bool {
        self.app.is_some() && self.function.is_none()
    }

    /// This filter narrowed to one function.
    pub fn for_function(&self, function: &str) -> RunFilter {
        RunFilter {
            function: Some(function.to_string()),
            ..self.clone()
        }
    }

    /// The newest of the per-function lists (see [`RunFilter::per_function`]).
    pub fn merge_newest(&self, lists: Vec<Vec<RunRecord>>) -> Vec<RunRecord> {
        let mut runs: Vec<RunRecord> = lists.into_iter().flatten().collect();
        runs.sort_by(|a, b| b.id.cmp(&a.id));
        runs.truncate(self.page_size());
        runs
    }

    fn page_size(&self) -> usize {
        if self.limit == 0 { 100 } else { self.limit }
    }

    /// The filter as SQL over `runs` (newest first), placeholders made by
    /// `placeholder(n)` (1-based), and its parameters.
    pub fn to_sql(
        &self,
        columns: &str,
        placeholder: impl Fn(usize) -> String,
    ) -> (String, Vec<String>) {
        let mut sql = format!("SELECT {columns} FROM runs WHERE 1 = 1");
        let mut args = Vec::new();
        for (condition, value) in self.conditions() {
            args.push(value);
            sql.push_str(" AND ");
            sql.push_str(&condition.replace("{}", &placeholder(args.len())));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", self.page_size()));
        (sql, args)
    }
}

/// The functions of app `$1` that have runs, by a loose scan of the
/// `(app, function, id)` index: one seek per function, however many runs
/// each has. Shared by the backends.
pub const APP_FUNCTIONS_SQL: &str = "WITH RECURSIVE f(name) AS (
    SELECT (SELECT MIN(function) FROM runs WHERE app = $1)
    UNION ALL
    SELECT (SELECT MIN(function) FROM runs WHERE app = $1 AND function > f.name)
      FROM f WHERE f.name IS NOT NULL
  ) SELECT name FROM f WHERE name IS NOT NULL";

/// The runs of trace `trace_id`, at most `limit`: those with a parent (by
/// the partial index over them) and the root run the trace is named
/// after ([`strato_core::trace::root_run_id`]), whose row may not keep
/// the trace id: the caller keeps it only if its filled-in trace id is
/// `$1`. Shared by the backends; `$1` is the trace id, `$2` the root's
/// run id.
pub fn runs_in_trace_sql(columns: &str, limit: usize) -> String {
    format!(
        "SELECT {columns} FROM runs WHERE trace_id = $1 AND parent_span_id IS NOT NULL
         UNION ALL
         SELECT {columns} FROM runs WHERE id = $2 AND parent_span_id IS NULL
         LIMIT {limit}"
    )
}

/// Which finished runs a usage report sums.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub app: Option<String>,
    /// Runs started at or after this (ms since the epoch).
    pub since_ms: i64,
}

/// What one function, task or service of an app used: the figures a bill
/// would use.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UsageRow {
    pub app: String,
    pub function: String,
    /// Runs that ended (throttled ones included).
    pub runs: u64,
    /// Runs that failed, timed out or were killed for memory.
    pub errors: u64,
    pub throttles: u64,
    pub cold_starts: u64,
    /// Billed time (each run rounded up to a millisecond).
    pub billed_ms: i64,
    /// Memory limit times billed time, in GiB-seconds.
    pub gb_seconds: f64,
    /// CPU time container runs used (seconds), where it was counted.
    pub cpu_seconds: f64,
}

/// SQL summing usage over `runs`, shared by the backends: a row per
/// (app, function) of runs that ended, started at or after the first
/// parameter, of the app in the second (when it is not NULL).
pub const USAGE_SQL: &str = "SELECT app, function, COUNT(*),
    SUM(CASE WHEN status IN ('failed', 'timed_out', 'oom_killed') THEN 1 ELSE 0 END),
    SUM(CASE WHEN status = 'throttled' THEN 1 ELSE 0 END),
    SUM(CASE WHEN cold_start THEN 1 ELSE 0 END),
    CAST(SUM(billed_ms) AS BIGINT),
    SUM(CAST(memory_limit_bytes AS DOUBLE PRECISION) * billed_ms) / 1073741824000.0,
    CAST(SUM(COALESCE(cpu_us, 0)) AS DOUBLE PRECISION) / 1000000.0
  FROM runs
  WHERE started_at_ms >= $1 AND ($2 IS NULL OR app = $2) AND status NOT IN ('queued', 'running')
  GROUP BY app, function ORDER BY app, function";

/// Which log lines to read, oldest first.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub app: Option<String>,
    pub function: Option<String>,
    pub run_id: Option<String>,
    /// Only lines with a sequence number above this (for following).
    pub after: i64,
    pub limit: usize,
    /// Return the newest `limit` matching lines (still oldest first)
    /// instead of the oldest ones.
    pub tail: bool,
}

/// A stored log line with the run it belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogEntry {
    /// Increasing sequence number; pass the last one seen as `after`.
    pub seq: i64,
    pub run_id: String,
    pub app: String,
    pub function: String,
    #[serde(flatten)]
    pub line: LogLine,
}

/// How many columns a `", "`-separated column list names (for reading
/// what follows them in a row).
pub const fn column_count(columns: &str) -> usize {
    let bytes = columns.as_bytes();
    let mut count = 1;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b',' {
            count += 1;
        }
        i += 1;
    }
    count
}
