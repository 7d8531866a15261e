//! The tables of the runs side (apps, revisions, runs, logs, task
//! requests) and the
//! column migrations that bring an older database up to date. The bucket
//! tables live beside their queries in `objects.rs`.

use crate::db;
use rusqlite::Connection;
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
    exit_code INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_app ON runs (app, function, id);
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
    Ok(())
}
