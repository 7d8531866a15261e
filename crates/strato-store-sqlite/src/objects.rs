//! Buckets, objects, multipart uploads, access keys and the event outbox
//! on SQLite. Object writes run inside the group commit (see `commit.rs`).

use crate::db;
use crate::versions;
use rusqlite::{Connection, OptionalExtension, params};
use strato_store::{
    AccessKey, BucketEvent, Conditional, MultipartUpload, NewBucketEvent, ObjectMeta,
    ObjectRemoval, ObjectWrite, Removal, StoreError, UploadPart, WriteCondition,
};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    app TEXT,
    created_at_ms INTEGER NOT NULL,
    versioning TEXT NOT NULL DEFAULT 'unversioned',
    config TEXT NOT NULL DEFAULT '{}'
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
    data BLOB,
    version_id TEXT,
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
    app TEXT NOT NULL DEFAULT '',
    function TEXT NOT NULL DEFAULT '',
    due_ms INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    version_id TEXT
);
CREATE INDEX IF NOT EXISTS bucket_events_due ON bucket_events (done, due_ms);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, created_ms);
CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    blob TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    checksum TEXT,
    PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    app TEXT,
    created_at_ms INTEGER NOT NULL
);
"#;

/// An object's columns, the same in `objects` and `object_versions`.
pub(super) const OBJECT_COLUMNS: &str =
    "bucket, key, size, etag, content_type, headers, blob, modified_ms, data, version_id";
/// The same columns for listings, which never need the inline bytes.
pub(super) const LISTED_COLUMNS: &str =
    "bucket, key, size, etag, content_type, headers, blob, modified_ms, NULL, version_id";
const EVENT_COLUMNS: &str =
    "id, bucket, key, name, size, etag, at_ms, app, function, attempts, version_id, traceparent";
const UPLOAD_COLUMNS: &str = "id, bucket, key, content_type, headers, created_ms";
const PART_COLUMNS: &str = "upload_id, number, size, etag, blob, modified_ms, checksum";

pub(super) fn headers_json(headers: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(headers).expect("headers serialize")
}

pub(super) fn object_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectMeta> {
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
        inline: row.get(8)?,
        version_id: row.get(9)?,
    })
}

pub(super) fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BucketEvent> {
    Ok(BucketEvent {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        name: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        etag: r.get(5)?,
        at_ms: r.get(6)?,
        app: r.get(7)?,
        function: r.get(8)?,
        attempts: r.get(9)?,
        version_id: r.get(10)?,
        traceparent: r.get(11)?,
    })
}

pub(super) fn upload_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MultipartUpload> {
    let headers: String = r.get(4)?;
    Ok(MultipartUpload {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        content_type: r.get(3)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        created_ms: r.get(5)?,
    })
}

fn part_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadPart> {
    Ok(UploadPart {
        upload_id: r.get(0)?,
        number: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        etag: r.get(3)?,
        blob: r.get(4)?,
        modified_ms: r.get(5)?,
        checksum: r.get(6)?,
    })
}

pub(super) fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKey> {
    Ok(AccessKey {
        id: r.get(0)?,
        secret: r.get(1)?,
        app: r.get(2)?,
        created_at_ms: r.get(3)?,
    })
}

/// Records `events` about `object` (a version, or a delete marker).
pub(super) fn insert_events(
    tx: &Connection,
    object: &ObjectMeta,
    events: &[NewBucketEvent],
) -> Result<Vec<BucketEvent>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO bucket_events (bucket, key, name, size, etag, at_ms, app, function, due_ms, lease_until_ms, attempts, lease_owner, version_id, traceparent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6, ?9, ?10, ?11, ?12, ?13) RETURNING {EVENT_COLUMNS}"
        ))
        .map_err(db("recording a bucket event"))?;
    events
        .iter()
        .map(|e| {
            let attempts = u32::from(e.leased_until_ms > 0);
            stmt.query_row(
                params![
                    object.bucket,
                    object.key,
                    e.name,
                    object.size as i64,
                    object.etag,
                    e.at_ms,
                    e.app,
                    e.function,
                    e.leased_until_ms,
                    attempts,
                    e.lease_owner,
                    object.version_id,
                    e.traceparent
                ],
                event_from_row,
            )
            .map_err(db("recording a bucket event"))
        })
        .collect()
}

/// Makes `meta` visible, with its events, if `condition` holds. The
/// object it replaces is kept as an older version when either has a
/// version id; the key's `null` version is replaced by a `null` write.
pub(super) fn put_object(
    tx: &Connection,
    meta: &ObjectMeta,
    condition: &WriteCondition,
    events: &[NewBucketEvent],
) -> Result<Conditional<ObjectWrite>, StoreError> {
    let current = visible_object(tx, &meta.bucket, &meta.key)?;
    if let Err(failure) = condition.check(current.as_ref()) {
        return Ok(Err(failure));
    }
    let mut replaced = None;
    if let Some(current) = current {
        if current.version_id.is_some() || meta.version_id.is_some() {
            versions::archive(tx, &meta.bucket, &meta.key, meta.modified_ms)?;
        } else {
            replaced = Some(current.blob);
        }
    }
    if meta.version_id.is_none()
        && let Some(old) = versions::drop_null(tx, &meta.bucket, &meta.key)?
    {
        replaced = Some(old.meta.blob);
    }
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))
    .and_then(|mut s| {
        s.execute(params![
            meta.bucket,
            meta.key,
            meta.size as i64,
            meta.etag,
            meta.content_type,
            headers_json(&meta.headers),
            meta.blob,
            meta.modified_ms,
            meta.inline,
            meta.version_id
        ])
    })
    .map_err(db("storing an object"))?;
    let events = insert_events(tx, meta, events)?;
    Ok(Ok(ObjectWrite {
        replaced_blob: replaced.filter(|b| !b.is_empty() && *b != meta.blob),
        events,
    }))
}

/// The key's visible object, without its inline bytes.
pub(super) fn visible_object(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectMeta>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"
    ))
    .and_then(|mut s| {
        s.query_row(params![bucket, key], object_from_row)
            .optional()
    })
    .map_err(db("looking up an object"))
}

pub(super) fn get_object(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectMeta>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"
    ))
    .and_then(|mut s| {
        s.query_row(params![bucket, key], object_from_row)
            .optional()
    })
    .map_err(db("reading an object"))
}

/// Does `removal` to a key, with its events, if `condition` holds.
pub(super) fn delete_object(
    tx: &Connection,
    bucket: &str,
    key: &str,
    removal: Removal,
    condition: &WriteCondition,
    events: &[NewBucketEvent],
) -> Result<Conditional<Option<ObjectRemoval>>, StoreError> {
    let current = visible_object(tx, bucket, key)?;
    if let Err(failure) = condition.check(current.as_ref()) {
        return Ok(Err(failure));
    }
    let removal = match removal {
        Removal::Object => match current {
            None => None,
            Some(object) => {
                remove_visible(tx, bucket, key)?;
                Some(ObjectRemoval {
                    version_id: object.version_id.clone(),
                    object: Some(object),
                    delete_marker: false,
                    events: Vec::new(),
                })
            }
        },
        Removal::Marker { id, at_ms } => {
            let mut gone = None;
            if let Some(object) = current {
                if object.version_id.is_some() || id.is_some() {
                    versions::archive(tx, bucket, key, at_ms)?;
                } else {
                    remove_visible(tx, bucket, key)?;
                    gone = Some(object);
                }
            }
            if id.is_none()
                && let Some(old) = versions::drop_null(tx, bucket, key)?
            {
                gone = (!old.delete_marker).then_some(old.meta);
            }
            versions::insert_marker(tx, bucket, key, id.as_deref(), at_ms)?;
            Some(ObjectRemoval {
                object: gone,
                version_id: id,
                delete_marker: true,
                events: Vec::new(),
            })
        }
        Removal::Version(id) => versions::remove_version(tx, bucket, key, current, &id)?,
    };
    let Some(mut removal) = removal else {
        return Ok(Ok(None));
    };
    let about = match &removal.object {
        Some(object) => object.clone(),
        None => ObjectMeta::delete_marker(bucket, key, removal.version_id.clone(), 0),
    };
    removal.events = insert_events(tx, &about, events)?;
    Ok(Ok(Some(removal)))
}

/// Replaces an object's (or one version's) stored headers.
pub(super) fn set_headers(
    tx: &Connection,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<bool, StoreError> {
    let json = headers_json(headers);
    let changed = match version_id {
        None => tx.execute(
            "UPDATE objects SET headers = ?3 WHERE bucket = ?1 AND key = ?2",
            params![bucket, key, json],
        ),
        Some(id) => tx.execute(
            "UPDATE objects SET headers = ?3 WHERE bucket = ?1 AND key = ?2
             AND coalesce(version_id, 'null') = ?4",
            params![bucket, key, json, id],
        ),
    }
    .map_err(db("changing an object's headers"))?;
    if changed > 0 || version_id.is_none() {
        return Ok(changed > 0);
    }
    let changed = tx
        .execute(
            "UPDATE object_versions SET headers = ?3 WHERE bucket = ?1 AND key = ?2
             AND coalesce(version_id, 'null') = ?4 AND delete_marker = 0",
            params![bucket, key, json, version_id],
        )
        .map_err(db("changing an object's headers"))?;
    Ok(changed > 0)
}

/// Deletes the key's visible object row.
pub(super) fn remove_visible(tx: &Connection, bucket: &str, key: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM objects WHERE bucket = ?1 AND key = ?2")
        .and_then(|mut s| s.execute(params![bucket, key]))
        .map_err(db("deleting an object"))?;
    Ok(())
}

pub(super) fn list_objects(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    start_after: &str,
    limit: usize,
) -> Result<Vec<ObjectMeta>, StoreError> {
    // Keys compare as bytes (BINARY collation), as S3 lists them. The
    // prefix bound uses `substr` so LIKE's wildcards in keys are inert.
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = ?1 AND key > ?2 AND key >= ?3
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

pub(super) fn empty_bucket(tx: &Connection, bucket: &str) -> Result<Vec<String>, StoreError> {
    let mut blobs = collect_strings(
        tx,
        "DELETE FROM objects WHERE bucket = ?1 AND blob != '' RETURNING blob",
        bucket,
    )?;
    blobs.extend(collect_strings(
        tx,
        "DELETE FROM upload_parts WHERE upload_id IN (SELECT id FROM uploads WHERE bucket = ?1) RETURNING blob",
        bucket,
    )?);
    blobs.extend(collect_strings(
        tx,
        "DELETE FROM object_versions WHERE bucket = ?1 AND blob != '' RETURNING blob",
        bucket,
    )?);
    tx.execute("DELETE FROM object_versions WHERE bucket = ?1", [bucket])
        .map_err(db("emptying a bucket"))?;
    tx.execute("DELETE FROM objects WHERE bucket = ?1", [bucket])
        .map_err(db("emptying a bucket"))?;
    tx.execute("DELETE FROM uploads WHERE bucket = ?1", [bucket])
        .map_err(db("emptying a bucket"))?;
    Ok(blobs)
}

pub(super) fn collect_strings(
    conn: &Connection,
    sql: &str,
    arg: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db("emptying a bucket"))?;
    let rows = stmt
        .query_map([arg], |r| r.get(0))
        .map_err(db("emptying a bucket"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("emptying a bucket"))
}

pub(super) fn create_upload(conn: &Connection, u: &MultipartUpload) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            u.id,
            u.bucket,
            u.key,
            u.content_type,
            headers_json(&u.headers),
            u.created_ms
        ],
    )
    .map_err(db("starting a multipart upload"))?;
    Ok(())
}

pub(super) fn get_upload(
    conn: &Connection,
    id: &str,
) -> Result<Option<MultipartUpload>, StoreError> {
    conn.query_row(
        &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"),
        [id],
        upload_from_row,
    )
    .optional()
    .map_err(db("reading a multipart upload"))
}

pub(super) fn list_uploads(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<MultipartUpload>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2
             ORDER BY key, created_ms LIMIT 10000"
        ))
        .map_err(db("listing multipart uploads"))?;
    let rows = stmt
        .query_map(params![bucket, prefix], upload_from_row)
        .map_err(db("listing multipart uploads"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("listing multipart uploads"))
}

pub(super) fn put_part(tx: &Connection, p: &UploadPart) -> Result<Option<String>, StoreError> {
    let previous: Option<String> = tx
        .query_row(
            "SELECT blob FROM upload_parts WHERE upload_id = ?1 AND number = ?2",
            params![p.upload_id, p.number],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("looking up an upload part"))?;
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO upload_parts ({PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            p.upload_id,
            p.number,
            p.size as i64,
            p.etag,
            p.blob,
            p.modified_ms,
            p.checksum
        ],
    )
    .map_err(db("storing an upload part"))?;
    Ok(previous.filter(|b| *b != p.blob))
}

pub(super) fn list_parts(
    conn: &Connection,
    upload_id: &str,
    after: u32,
    limit: usize,
) -> Result<Vec<UploadPart>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = ?1 AND number > ?2 ORDER BY number LIMIT ?3"
        ))
        .map_err(db("listing upload parts"))?;
    let rows = stmt
        .query_map(params![upload_id, after, limit as i64], part_from_row)
        .map_err(db("listing upload parts"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("listing upload parts"))
}

/// Forgets an upload, returning its parts' blobs (`None`: no such upload).
pub(super) fn drop_upload(
    tx: &Connection,
    upload_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let removed = tx
        .execute("DELETE FROM uploads WHERE id = ?1", [upload_id])
        .map_err(db("ending a multipart upload"))?;
    if removed == 0 {
        return Ok(None);
    }
    collect_strings(
        tx,
        "DELETE FROM upload_parts WHERE upload_id = ?1 RETURNING blob",
        upload_id,
    )
    .map(Some)
}

pub(super) fn referenced_blobs(
    conn: &Connection,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT blob FROM objects WHERE blob != '' UNION SELECT blob FROM upload_parts
             UNION SELECT blob FROM object_versions WHERE blob != ''",
        )
        .map_err(db("listing referenced blobs"))?;
    let rows = stmt
        .query_map([], |r| r.get(0))
        .map_err(db("listing referenced blobs"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("listing referenced blobs"))
}

/// Marks an event delivered (or given up on), inside the caller's
/// transaction: the one recording the run or queueing the task that
/// settled it.
pub(crate) fn settle_event(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE bucket_events SET done = 1 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute([id]))
        .map_err(db("settling a bucket event"))?;
    Ok(())
}

pub(super) fn claim_bucket_events(
    tx: &Connection,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<BucketEvent>, StoreError> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "UPDATE bucket_events SET lease_until_ms = ?2, lease_owner = ?4, attempts = attempts + 1
             WHERE id IN (SELECT id FROM bucket_events WHERE done = 0 AND due_ms <= ?1 AND lease_until_ms <= ?1 ORDER BY id LIMIT ?3)
             RETURNING {EVENT_COLUMNS}"
        ))
        .map_err(db("claiming bucket events"))?;
    let rows = stmt
        .query_map(
            params![now_ms, now_ms + lease_ms, limit as i64, owner],
            event_from_row,
        )
        .map_err(db("claiming bucket events"))?;
    let mut events: Vec<BucketEvent> = rows
        .collect::<Result<_, _>>()
        .map_err(db("claiming bucket events"))?;
    events.sort_by_key(|e| e.id);
    Ok(events)
}
