//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through one connection, reads through another, so listing runs
//! never waits behind a batch of inserts (WAL lets readers and one writer
//! proceed together). `synchronous = NORMAL` in WAL mode keeps every commit
//! across a process crash; only an OS crash or power cut can lose the last
//! few commits.

use crate::{
    AppSummary, BucketDeletion, BucketEvent, BucketInfo, FinishedRun, LiveRevision, LogEntry,
    LogFilter, NewBucketEvent, ObjectMeta, RunFilter, Store, StoreError,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use strato_core::{LogLine, LogStream, RevisionSpec, RunRecord, RunStatus, Trigger};

const SCHEMA: &str = r#"
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
    error TEXT
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
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    app TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    blob TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS bucket_events_due ON bucket_events (done, due_ms);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn db(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database { doing, source }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let writer = Connection::open(path).map_err(db("opening the database"))?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
            )
            .map_err(db("configuring the database"))?;
        writer
            .execute_batch(SCHEMA)
            .map_err(db("creating the schema"))?;
        let reader = Connection::open(path).map_err(db("opening the database"))?;
        reader
            .execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(db("configuring the database"))?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    fn write(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse_spec(app: &str, text: &str) -> Result<RevisionSpec, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: "revision",
        detail: format!("app {app}: {e}"),
    })
}

/// A stored enum value this version does not know: refuse it rather than
/// report a run as something it was not.
fn unknown_value(column: usize, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unknown value `{value}`").into(),
    )
}

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let trigger: String = row.get(4)?;
    let status: String = row.get(5)?;
    Ok(RunRecord {
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
    })
}

const OBJECT_COLUMNS: &str = "bucket, key, size, etag, content_type, headers, blob, modified_ms";

fn object_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectMeta> {
    let headers: String = row.get(5)?;
    Ok(ObjectMeta {
        bucket: row.get(0)?,
        key: row.get(1)?,
        size: row.get::<_, i64>(2)? as u64,
        etag: row.get(3)?,
        content_type: row.get(4)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        blob: row.get(6)?,
        modified_ms: row.get(7)?,
    })
}

fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    object: &ObjectMeta,
    event: &NewBucketEvent,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO bucket_events (bucket, key, name, size, etag, at_ms, due_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![object.bucket, object.key, event.name, object.size as i64, object.etag, event.at_ms],
    )
    .map_err(db("recording a bucket event"))?;
    Ok(())
}

const RUN_COLUMNS: &str = "id, app, function, revision, trigger, status, started_at_ms, duration_us, cold_start, memory_limit_bytes, billed_ms, http_status, error";

impl Store for SqliteStore {
    fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        self.write()
            .execute(
                "INSERT OR IGNORE INTO components (digest, size) VALUES (?1, ?2)",
                params![digest, size as i64],
            )
            .map_err(db("recording a component"))?;
        Ok(())
    }

    fn has_component(&self, digest: &str) -> Result<bool, StoreError> {
        self.read()
            .query_row(
                "SELECT 1 FROM components WHERE digest = ?1",
                [digest],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(db("looking up a component"))
    }

    fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError> {
        let text = serde_json::to_string(spec).expect("revision specs serialize");
        let app = spec.app.as_str();
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("starting a deploy"))?;
        let number: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE app = ?1",
                [app],
                |r| r.get(0),
            )
            .map_err(db("numbering a revision"))?;
        tx.execute(
            "INSERT INTO revisions (app, number, spec, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![app, number, text, now_ms],
        )
        .map_err(db("storing a revision"))?;
        tx.execute(
            "INSERT INTO apps (name, live_revision, deployed_at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET live_revision = excluded.live_revision, deployed_at_ms = excluded.deployed_at_ms",
            params![app, number, now_ms],
        )
        .map_err(db("switching the live revision"))?;
        tx.commit().map_err(db("committing a deploy"))?;
        Ok(number)
    }

    fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT a.name, a.live_revision, r.spec, a.deployed_at_ms FROM apps a
                 JOIN revisions r ON r.app = a.name AND r.number = a.live_revision ORDER BY a.name",
            )
            .map_err(db("listing live revisions"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get::<_, String>(2)?,
                    r.get(3)?,
                ))
            })
            .map_err(db("listing live revisions"))?;
        let mut out = Vec::new();
        for row in rows {
            let (app, number, spec, deployed_at_ms) = row.map_err(db("listing live revisions"))?;
            out.push(LiveRevision {
                spec: parse_spec(&app, &spec)?,
                app,
                number,
                deployed_at_ms,
            });
        }
        Ok(out)
    }

    fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError> {
        let row = self
            .read()
            .query_row(
                "SELECT a.live_revision, r.spec, a.deployed_at_ms FROM apps a
                 JOIN revisions r ON r.app = a.name AND r.number = a.live_revision WHERE a.name = ?1",
                [app],
                |r| Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db("reading a live revision"))?;
        row.map(|(number, spec, deployed_at_ms)| {
            Ok(LiveRevision {
                app: app.to_string(),
                number,
                spec: parse_spec(app, &spec)?,
                deployed_at_ms,
            })
        })
        .transpose()
    }

    fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError> {
        Ok(self
            .live_revisions()?
            .into_iter()
            .map(|l| AppSummary {
                name: l.app,
                live_revision: l.number,
                functions: l.spec.functions.len(),
                deployed_at_ms: l.deployed_at_ms,
            })
            .collect())
    }

    fn destroy_app(&self, app: &str) -> Result<bool, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("starting a destroy"))?;
        let removed = tx
            .execute("DELETE FROM apps WHERE name = ?1", [app])
            .map_err(db("deleting an app"))?;
        tx.execute("DELETE FROM revisions WHERE app = ?1", [app])
            .map_err(db("deleting revisions"))?;
        tx.commit().map_err(db("committing a destroy"))?;
        Ok(removed > 0)
    }

    fn record_runs(&self, runs: &[FinishedRun]) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("starting to record runs"))?;
        {
            let mut run_stmt = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ))
                .map_err(db("preparing to record runs"))?;
            let mut log_stmt = tx
                .prepare_cached(
                    "INSERT INTO logs (run_id, app, function, ts_ms, stream, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db("preparing to record logs"))?;
            for run in runs {
                let r = &run.record;
                run_stmt
                    .execute(params![
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
                    ])
                    .map_err(db("recording a run"))?;
                for line in &run.logs {
                    log_stmt
                        .execute(params![
                            r.id,
                            r.app,
                            r.function,
                            line.ts_ms,
                            line.stream.as_str(),
                            line.text
                        ])
                        .map_err(db("recording a log line"))?;
                }
            }
        }
        tx.commit().map_err(db("committing runs"))
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        if let Some(app) = &filter.app {
            args.push(app.clone());
            sql.push_str(&format!(" AND app = ?{}", args.len()));
        }
        if let Some(function) = &filter.function {
            args.push(function.clone());
            sql.push_str(&format!(" AND function = ?{}", args.len()));
        }
        if let Some(status) = filter.status {
            args.push(status.as_str().to_string());
            sql.push_str(&format!(" AND status = ?{}", args.len()));
        }
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let conn = self.read();
        let mut stmt = conn.prepare(&sql).map_err(db("listing runs"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), run_from_row)
            .map_err(db("listing runs"))?;
        rows.collect::<Result<_, _>>().map_err(db("listing runs"))
    }

    fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.read()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_from_row,
            )
            .optional()
            .map_err(db("reading a run"))
    }

    fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
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

    fn create_bucket(
        &self,
        name: &str,
        app: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .write()
            .execute(
                "INSERT OR IGNORE INTO buckets (name, app, created_at_ms) VALUES (?1, ?2, ?3)",
                params![name, app, now_ms],
            )
            .map_err(db("creating a bucket"))?;
        Ok(inserted == 1)
    }

    fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("deleting a bucket"))?;
        let has_objects = tx
            .query_row(
                "SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map_err(db("checking a bucket is empty"))?
            .is_some();
        if has_objects {
            return Ok(BucketDeletion::NotEmpty);
        }
        let removed = tx
            .execute("DELETE FROM buckets WHERE name = ?1", [name])
            .map_err(db("deleting a bucket"))?;
        tx.commit().map_err(db("committing a bucket deletion"))?;
        Ok(if removed == 1 {
            BucketDeletion::Deleted
        } else {
            BucketDeletion::NotFound
        })
    }

    fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare("SELECT name, app, created_at_ms FROM buckets ORDER BY name")
            .map_err(db("listing buckets"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BucketInfo {
                    name: r.get(0)?,
                    app: r.get(1)?,
                    created_at_ms: r.get(2)?,
                })
            })
            .map_err(db("listing buckets"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing buckets"))
    }

    fn put_object(
        &self,
        meta: &ObjectMeta,
        event: Option<&NewBucketEvent>,
    ) -> Result<Option<String>, StoreError> {
        let headers = serde_json::to_string(&meta.headers).expect("headers serialize");
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("storing an object"))?;
        let previous: Option<String> = tx
            .query_row(
                "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
                params![meta.bucket, meta.key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("looking up an object"))?;
        tx.execute(
            &format!("INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                meta.bucket,
                meta.key,
                meta.size as i64,
                meta.etag,
                meta.content_type,
                headers,
                meta.blob,
                meta.modified_ms
            ],
        )
        .map_err(db("storing an object"))?;
        if let Some(event) = event {
            insert_event(&tx, meta, event)?;
        }
        tx.commit().map_err(db("committing an object"))?;
        Ok(previous.filter(|b| *b != meta.blob))
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.read()
            .query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                params![bucket, key],
                object_from_row,
            )
            .optional()
            .map_err(db("reading an object"))
    }

    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        event: Option<&NewBucketEvent>,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("deleting an object"))?;
        let removed = tx
            .query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                params![bucket, key],
                object_from_row,
            )
            .optional()
            .map_err(db("looking up an object"))?;
        if let Some(object) = &removed {
            tx.execute(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
            )
            .map_err(db("deleting an object"))?;
            if let Some(event) = event {
                insert_event(&tx, object, event)?;
            }
        }
        tx.commit().map_err(db("committing an object deletion"))?;
        Ok(removed)
    }

    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError> {
        // Keys compare as bytes (BINARY collation), as S3 lists them. The
        // prefix bound uses `substr` so LIKE's wildcards in keys are inert.
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key > ?2 AND key >= ?3
                 AND substr(key, 1, length(?3)) = ?3 ORDER BY key LIMIT ?4"
            ))
            .map_err(db("listing objects"))?;
        let rows = stmt
            .query_map(
                params![bucket, start_after, prefix, limit as i64],
                object_from_row,
            )
            .map_err(db("listing objects"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing objects"))
    }

    fn claim_bucket_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("claiming bucket events"))?;
        let events: Vec<BucketEvent> = {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE bucket_events SET lease_until_ms = ?2, attempts = attempts + 1
                     WHERE id IN (SELECT id FROM bucket_events WHERE done = 0 AND due_ms <= ?1 AND lease_until_ms <= ?1 ORDER BY id LIMIT ?3)
                     RETURNING id, bucket, key, name, size, etag, at_ms, attempts",
                )
                .map_err(db("claiming bucket events"))?;
            let rows = stmt
                .query_map(params![now_ms, now_ms + lease_ms, limit as i64], |r| {
                    Ok(BucketEvent {
                        id: r.get(0)?,
                        bucket: r.get(1)?,
                        key: r.get(2)?,
                        name: r.get(3)?,
                        size: r.get::<_, i64>(4)? as u64,
                        etag: r.get(5)?,
                        at_ms: r.get(6)?,
                        attempts: r.get(7)?,
                    })
                })
                .map_err(db("claiming bucket events"))?;
            rows.collect::<Result<_, _>>()
                .map_err(db("claiming bucket events"))?
        };
        tx.commit()
            .map_err(db("committing claimed bucket events"))?;
        let mut events = events;
        events.sort_by_key(|e| e.id);
        Ok(events)
    }

    fn finish_bucket_event(&self, id: i64) -> Result<(), StoreError> {
        self.write()
            .execute("UPDATE bucket_events SET done = 1 WHERE id = ?1", [id])
            .map_err(db("finishing a bucket event"))?;
        Ok(())
    }

    fn retry_bucket_event(&self, id: i64, due_ms: i64) -> Result<(), StoreError> {
        self.write()
            .execute(
                "UPDATE bucket_events SET due_ms = ?2, lease_until_ms = 0 WHERE id = ?1 AND done = 0",
                params![id, due_ms],
            )
            .map_err(db("scheduling a bucket event retry"))?;
        Ok(())
    }

    fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .read()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db("reading a setting"))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                what: "setting",
                detail: format!("{key}: {e}"),
            })
        })
        .transpose()
    }

    fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        self.write()
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value.to_string()],
            )
            .map_err(db("writing a setting"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        crate::conformance::run_all(|| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Arc::new(SqliteStore::open(&dir.path().join(format!("db{n}.sqlite"))).unwrap())
        });
    }

    #[test]
    fn data_survives_reopening_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strato.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .put_setting("k", &serde_json::json!({"v": 1}))
                .unwrap();
            let mode: String = store
                .read()
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.get_setting("k").unwrap(),
            Some(serde_json::json!({"v": 1}))
        );
    }
}
