//! The tables of the runs side (apps, revisions, runs, logs, task
//! requests) and the
//! column migrations that bring an older database up to date. The bucket
//! tables live beside their queries in `objects.rs`.

use crate::db;
use rusqlite::Connection;
use strato_core::target::Target;
use strato_store::StoreError;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS apps (
    name TEXT PRIMARY KEY,
    live_revision INTEGER NOT NULL,
    deployed_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revisions (
    app TEXT NOT NULL,
    number INTEGER NOT NULL,
    spec TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (app, number)
);
CREATE TABLE IF NOT EXISTS components (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    function TEXT NOT NULL,
    revision INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    cold_start INTEGER NOT NULL,
    memory_limit_bytes INTEGER NOT NULL,
    billed_ms INTEGER NOT NULL,
    http_status INTEGER,
    error TEXT,
    event_id TEXT,
    attempt INTEGER NOT NULL DEFAULT 1,
    exit_code INTEGER,
    init_us INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_app ON runs (app, function, id);
CREATE TABLE IF NOT EXISTS run_payloads (
    run_id TEXT PRIMARY KEY,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    app TEXT NOT NULL,
    function TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_function ON logs (app, function, seq);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs (run_id, seq);
CREATE TABLE IF NOT EXISTS task_requests (
    run_id TEXT PRIMARY KEY,
    request TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// Columns added after a table first shipped: (table, column, declaration).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("runs", "event_id", "TEXT"),
    ("runs", "attempt", "INTEGER NOT NULL DEFAULT 1"),
    ("bucket_events", "app", "TEXT NOT NULL DEFAULT ''"),
    ("bucket_events", "function", "TEXT NOT NULL DEFAULT ''"),
    ("objects", "data", "BLOB"),
    ("runs", "exit_code", "INTEGER"),
    ("bucket_events", "lease_owner", "TEXT NOT NULL DEFAULT ''"),
    ("invocations", "lease_owner", "TEXT NOT NULL DEFAULT ''"),
    ("task_requests", "lease_owner", "TEXT NOT NULL DEFAULT ''"),
    (
        "task_requests",
        "lease_until_ms",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    ("task_requests", "due_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("task_requests", "cpus_milli", "INTEGER NOT NULL DEFAULT 0"),
    ("runs", "init_us", "INTEGER"),
    ("runs", "trace_id", "TEXT"),
    ("runs", "span_id", "TEXT"),
    ("runs", "parent_span_id", "TEXT"),
    ("runs", "cpu_us", "INTEGER"),
    ("bucket_events", "traceparent", "TEXT"),
    ("queue_messages", "traceparent", "TEXT"),
    ("upload_parts", "checksum", "TEXT"),
    ("objects", "version_id", "TEXT"),
    ("bucket_events", "version_id", "TEXT"),
    (
        "buckets",
        "versioning",
        "TEXT NOT NULL DEFAULT 'unversioned'",
    ),
    ("buckets", "config", "TEXT NOT NULL DEFAULT '{}'"),
    (
        "object_versions",
        "archived_ms",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    ("runs", "queued_us", "INTEGER"),
    ("executions", "trace_id", "TEXT"),
    ("executions", "span_id", "TEXT"),
    ("executions", "parent_span_id", "TEXT"),
];

/// Brings a database written by an older Strato up to this schema.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: bool = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                [column],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(db("inspecting the schema"))?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))
                .map_err(db("upgrading the schema"))?;
        }
    }
    // Indexes on added columns come after the columns exist. Only runs
    // with a parent are indexed by trace (a trace's root is found by id).
    // An app's runs list function by function: an `(app, id)` index cost
    // every run's write more than it saved (see `RunFilter::per_function`).
    conn.execute_batch(
        "DROP INDEX IF EXISTS runs_by_trace;
         DROP INDEX IF EXISTS runs_by_app_id;
         CREATE INDEX IF NOT EXISTS runs_by_parented_trace ON runs (trace_id)
           WHERE parent_span_id IS NOT NULL;
         CREATE INDEX IF NOT EXISTS executions_by_trace ON executions (trace_id)
           WHERE trace_id IS NOT NULL;",
    )
    .map_err(db("indexing runs by trace"))?;
    migrate_targets(conn)
}

/// Invocation targets were tagged strings (`NAME`, `@task:NAME`,
/// `@queue:NAME`, `@webhook` with the URL as the head's path); they are
/// JSON [`Target`]s now.
fn migrate_targets(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("SELECT id, target, head FROM invocations WHERE target NOT LIKE '{%'")
        .map_err(db("reading old invocation targets"))?;
    let old: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(db("reading old invocation targets"))?;
    for (id, tag, head) in old {
        let target = if let Some(name) = tag.strip_prefix("@task:") {
            Target::task(name)
        } else if let Some(name) = tag.strip_prefix("@queue:") {
            Target::Queue { name: name.into() }
        } else if tag == "@webhook" {
            let url = serde_json::from_str::<serde_json::Value>(&head)
                .ok()
                .and_then(|h| h["path"].as_str().map(str::to_string))
                .unwrap_or_default();
            Target::Webhook { url }
        } else {
            Target::function(tag)
        };
        conn.execute(
            "UPDATE invocations SET target = ?2 WHERE id = ?1",
            [id, target.encode()],
        )
        .map_err(db("upgrading an invocation target"))?;
    }
    Ok(())
}
