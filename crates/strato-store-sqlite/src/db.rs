//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through one connection, reads through another, so listing runs
//! never waits behind a batch of inserts (WAL lets readers and one writer
//! proceed together). `synchronous = FULL`: a commit is on disk when it
//! returns, which an acknowledged S3 PUT needs; object writes share their
//! fsyncs through a group commit (`commit.rs`), runs through the recorder's
//! batches.

use crate::runs::{RUN_COLUMNS, insert_logs, insert_run, run_from_row};
use crate::{commit, invocations, objects, queues, schema, versions};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use strato_core::{RevisionSpec, RunRecord};
use strato_store::NodeId;
use strato_store::{
    AccessKey, AppSummary, BucketDeletion, BucketEvent, BucketInfo, BucketUsage, Conditional,
    FinishedRun, LiveRevision, MultipartUpload, NewBucketEvent, ObjectMeta, ObjectVersion,
    ObjectWrite, StoreError, UploadPart, VersionCursor, Versioning, WriteCondition,
};

/// The SQLite database and its connections; synchronous. [`crate::SqliteStore`]
/// runs its calls off the async threads.
pub(crate) struct Db {
    writer: Arc<Mutex<Connection>>,
    /// A few reader connections: GETs look objects up concurrently.
    readers: Vec<Mutex<Connection>>,
    pub(crate) group: commit::GroupCommit,
}

/// Maps a SQLite error to the store's neutral error, saying what was done.
pub(crate) fn db(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::backend(doing, source)
}

impl Db {
    /// Opens (creating if needed) the database file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Db, StoreError> {
        let writer = Connection::open(path).map_err(db("opening the database"))?;
        // temp_store = MEMORY: each group-commit write runs in a savepoint,
        // and a savepoint's statement journal would otherwise be a temp
        // file created and unlinked per write.
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
            )
            .map_err(db("configuring the database"))?;
        writer
            .execute_batch(schema::SCHEMA)
            .and_then(|_| writer.execute_batch(objects::SCHEMA))
            .and_then(|_| writer.execute_batch(versions::SCHEMA))
            .and_then(|_| writer.execute_batch(invocations::SCHEMA))
            .and_then(|_| writer.execute_batch(queues::SCHEMA))
            .and_then(|_| writer.execute_batch(crate::nodes::SCHEMA))
            .and_then(|_| writer.execute_batch(crate::images::SCHEMA))
            .and_then(|_| writer.execute_batch(crate::workflows::SCHEMA))
            .map_err(db("creating the schema"))?;
        schema::migrate(&writer)?;
        let mut readers = Vec::new();
        for _ in 0..READERS {
            let reader = Connection::open(path).map_err(db("opening the database"))?;
            reader
                .execute_batch("PRAGMA busy_timeout = 5000;")
                .map_err(db("configuring the database"))?;
            readers.push(Mutex::new(reader));
        }
        let writer = Arc::new(Mutex::new(writer));
        Ok(Db {
            group: commit::GroupCommit::spawn(writer.clone()),
            writer,
            readers,
        })
    }

    pub(crate) fn write(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free reader connection, or (all busy) a wait for the first one.
    pub(crate) fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        self.readers[0].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reader connections (one per core here is plenty; each is a file handle
/// and a page cache).
const READERS: usize = 4;

/// A fenced-out run's record: failed, saying why.
pub(crate) fn superseded(r: &RunRecord) -> RunRecord {
    let mut r = r.clone();
    r.status = strato_core::RunStatus::Failed;
    r.error = Some(strato_store::SUPERSEDED.to_string());
    r
}

fn parse_spec(app: &str, text: &str) -> Result<RevisionSpec, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::corrupt("revision", format!("app {app}: {e}")))
}

impl Db {
    pub(crate) fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        self.write()
            .execute(
                "INSERT OR IGNORE INTO components (digest, size) VALUES (?1, ?2)",
                params![digest, size as i64],
            )
            .map_err(db("recording a component"))?;
        Ok(())
    }

    pub(crate) fn has_component(&self, digest: &str) -> Result<bool, StoreError> {
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

    pub(crate) fn deploy_revision(
        &self,
        spec: &RevisionSpec,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
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

    pub(crate) fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError> {
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

    pub(crate) fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError> {
        let spec: Option<String> = self
            .read()
            .query_row(
                "SELECT r.spec FROM revisions r JOIN apps a ON a.name = r.app
                 WHERE r.app = ?1 AND r.number = ?2",
                params![app, number],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading a revision"))?;
        spec.map(|s| {
            serde_json::from_str(&s)
                .map_err(|e| StoreError::corrupt("revision", format!("{app} {number}: {e}")))
        })
        .transpose()
    }

    pub(crate) fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError> {
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

    pub(crate) fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError> {
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

    pub(crate) fn destroy_app(&self, app: &str) -> Result<bool, StoreError> {
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

    pub(crate) fn record_runs(&self, runs: &[FinishedRun]) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("starting to record runs"))?;
        {
            for run in runs {
                let held = match &run.fence {
                    Some(fence) => crate::effects::fence_holds(&tx, fence)?,
                    None => true,
                };
                let r = &run.record;
                if held {
                    crate::effects::apply(&tx, &run.effects, r.started_at_ms)?;
                    insert_run(&tx, r)?;
                } else {
                    insert_run(&tx, &superseded(r))?;
                }
                insert_logs(&tx, r, &run.logs)?;
            }
        }
        tx.commit().map_err(db("committing runs"))
    }

    pub(crate) fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.read()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_from_row,
            )
            .optional()
            .map_err(db("reading a run"))
    }

    pub(crate) fn run_payload(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read()
            .prepare_cached("SELECT body FROM run_payloads WHERE run_id = ?1")
            .and_then(|mut s| s.query_row([run_id], |r| r.get(0)).optional())
            .map_err(db("reading a run's payload"))
    }

    pub(crate) fn create_bucket(
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

    pub(crate) fn set_bucket_app(&self, name: &str, app: Option<&str>) -> Result<bool, StoreError> {
        let changed = self
            .write()
            .execute(
                "UPDATE buckets SET app = ?2 WHERE name = ?1",
                params![name, app],
            )
            .map_err(db("changing a bucket's owner"))?;
        Ok(changed == 1)
    }

    pub(crate) fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("deleting a bucket"))?;
        let in_use = tx
            .query_row(
                "SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map_err(db("checking a bucket is empty"))?
            .is_some();
        if in_use || versions::bucket_has_versions(&tx, name)? {
            return Ok(BucketDeletion::NotEmpty);
        }
        let removed = tx
            .execute("DELETE FROM buckets WHERE name = ?1", [name])
            .map_err(db("deleting a bucket"))?;
        let blobs = objects::empty_bucket(&tx, name)?;
        tx.commit().map_err(db("committing a bucket deletion"))?;
        Ok(if removed == 1 {
            BucketDeletion::Deleted { blobs }
        } else {
            BucketDeletion::NotFound
        })
    }

    pub(crate) fn empty_bucket(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let name = name.to_string();
        self.group.write(move |tx| objects::empty_bucket(tx, &name))
    }

    pub(crate) fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT name, app, created_at_ms, versioning, config FROM buckets ORDER BY name",
            )
            .map_err(db("listing buckets"))?;
        let rows = stmt
            .query_map([], |r| {
                let versioning: String = r.get(3)?;
                let config: String = r.get(4)?;
                Ok(BucketInfo {
                    config: serde_json::from_str(&config).unwrap_or_default(),
                    name: r.get(0)?,
                    app: r.get(1)?,
                    created_at_ms: r.get(2)?,
                    versioning: Versioning::parse(&versioning).unwrap_or_default(),
                })
            })
            .map_err(db("listing buckets"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing buckets"))
    }

    pub(crate) fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<bool, StoreError> {
        let changed = self
            .write()
            .execute(
                "UPDATE buckets SET versioning = ?2 WHERE name = ?1",
                params![name, versioning.as_str()],
            )
            .map_err(db("changing a bucket's versioning"))?;
        Ok(changed == 1)
    }

    pub(crate) fn set_bucket_config(
        &self,
        name: &str,
        kind: &str,
        value: Option<&Value>,
    ) -> Result<bool, StoreError> {
        // One document per kind in a JSON object, changed in place.
        let path = format!("$.\"{}\"", kind.replace('"', ""));
        let changed = match value {
            Some(v) => self.write().execute(
                "UPDATE buckets SET config = json_set(config, ?2, json(?3)) WHERE name = ?1",
                params![name, path, v.to_string()],
            ),
            None => self.write().execute(
                "UPDATE buckets SET config = json_remove(config, ?2) WHERE name = ?1",
                params![name, path],
            ),
        }
        .map_err(db("changing a bucket's configuration"))?;
        Ok(changed == 1)
    }

    pub(crate) fn set_object_headers(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        headers: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let (version_id, headers) = (version_id.map(str::to_string), headers.clone());
        self.group.write(move |tx| {
            objects::set_headers(tx, &bucket, &key, version_id.as_deref(), &headers)
        })
    }

    pub(crate) fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError> {
        versions::usage(&self.read(), name)
    }

    pub(crate) fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>, StoreError> {
        versions::get_version(&self.read(), bucket, key, version_id)
    }

    pub(crate) fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &VersionCursor,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>, StoreError> {
        versions::list_versions(&self.read(), bucket, prefix, after, limit)
    }

    pub(crate) fn get_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        objects::get_object(&self.read(), bucket, key)
    }

    pub(crate) fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError> {
        objects::list_objects(&self.read(), bucket, prefix, start_after, limit)
    }

    pub(crate) fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError> {
        objects::create_upload(&self.write(), upload)
    }

    pub(crate) fn get_upload(&self, id: &str) -> Result<Option<MultipartUpload>, StoreError> {
        objects::get_upload(&self.read(), id)
    }

    pub(crate) fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>, StoreError> {
        objects::list_uploads(&self.read(), bucket, prefix)
    }

    pub(crate) fn put_part(&self, part: &UploadPart) -> Result<Option<String>, StoreError> {
        let part = part.clone();
        self.group.write(move |tx| objects::put_part(tx, &part))
    }

    pub(crate) fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<UploadPart>, StoreError> {
        objects::list_parts(&self.read(), upload_id, after, limit)
    }

    pub(crate) fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<(ObjectWrite, Vec<String>)>, StoreError> {
        let (upload_id, meta, events) = (upload_id.to_string(), meta.clone(), events.to_vec());
        let condition = condition.clone();
        self.group.write(move |tx| {
            // The condition is checked first: a refused completion leaves
            // the upload in progress, as S3 does.
            let write = match objects::put_object(tx, &meta, &condition, &events)? {
                Ok(write) => write,
                Err(failure) => return Ok(Err(failure)),
            };
            let parts = objects::drop_upload(tx, &upload_id)?.ok_or(StoreError::conflict(
                "multipart upload",
                format!("{upload_id} is no longer in progress"),
            ))?;
            Ok(Ok((write, parts)))
        })
    }

    pub(crate) fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let upload_id = upload_id.to_string();
        self.group
            .write(move |tx| objects::drop_upload(tx, &upload_id))
    }

    pub(crate) fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        objects::referenced_blobs(&self.read())
    }

    pub(crate) fn put_access_key(&self, key: &AccessKey) -> Result<(), StoreError> {
        self.write()
            .execute(
                "INSERT INTO access_keys (id, secret, app, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![key.id, key.secret, key.app, key.created_at_ms],
            )
            .map_err(db("storing an access key"))?;
        Ok(())
    }

    pub(crate) fn revoke_access_key(&self, id: &str) -> Result<bool, StoreError> {
        let removed = self
            .write()
            .execute("DELETE FROM access_keys WHERE id = ?1", [id])
            .map_err(db("revoking an access key"))?;
        Ok(removed == 1)
    }

    pub(crate) fn list_access_keys(&self) -> Result<Vec<AccessKey>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT id, secret, app, created_at_ms FROM access_keys ORDER BY created_at_ms, id",
            )
            .map_err(db("listing access keys"))?;
        let rows = stmt
            .query_map([], objects::key_from_row)
            .map_err(db("listing access keys"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing access keys"))
    }

    pub(crate) fn claim_bucket_events(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("claiming bucket events"))?;
        let events = objects::claim_bucket_events(&tx, owner.as_str(), now_ms, lease_ms, limit)?;
        tx.commit()
            .map_err(db("committing claimed bucket events"))?;
        Ok(events)
    }

    pub(crate) fn finish_bucket_events(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("finishing bucket events"))?;
        for id in ids {
            objects::settle_event(&tx, *id)?;
        }
        tx.commit().map_err(db("finishing bucket events"))
    }

    pub(crate) fn retry_bucket_event(
        &self,
        fence: &strato_store::Fence,
        due_ms: i64,
    ) -> Result<bool, StoreError> {
        let strato_store::WorkRef::BucketEvent(id) = fence.work else {
            return Ok(false);
        };
        self.fenced(fence, |tx| {
            tx.execute(
                "UPDATE bucket_events SET due_ms = ?2, lease_until_ms = 0 WHERE id = ?1 AND done = 0",
                params![id, due_ms],
            )
            .map(drop)
            .map_err(db("scheduling a bucket event retry"))
        })
    }

    /// Runs `change` in one transaction if `fence` holds; whether it did.
    pub(crate) fn fenced(
        &self,
        fence: &strato_store::Fence,
        change: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("checking a lease"))?;
        if !crate::effects::fence_holds(&tx, fence)? {
            return Ok(false);
        }
        change(&tx)?;
        tx.commit().map_err(db("committing fenced work"))?;
        Ok(true)
    }

    pub(crate) fn pending_bucket_events(&self) -> Result<u64, StoreError> {
        self.read()
            .query_row(
                "SELECT COUNT(*) FROM bucket_events WHERE done = 0",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db("counting bucket events"))
    }

    pub(crate) fn change_message_visibility(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
        visible_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        self.change_visibility_sql(app, queue, receipts, visible_ms)
    }

    pub(crate) fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .read()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db("reading a setting"))?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::corrupt("setting", format!("{key}: {e}")))
        })
        .transpose()
    }

    pub(crate) fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        self.write()
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value.to_string()],
            )
            .map_err(db("writing a setting"))?;
        Ok(())
    }

    pub(crate) fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("initializing a setting"))?;
        tx.execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
            params![key, value.to_string()],
        )
        .map_err(db("initializing a setting"))?;
        let text: String = tx
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .map_err(db("initializing a setting"))?;
        tx.commit().map_err(db("initializing a setting"))?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::corrupt("setting", format!("{key}: {e}")))
    }
}
