//! Object versions on SQLite. The `objects` table holds each key's visible
//! object, so reads and listings of the latest state never look at
//! history; `object_versions` holds everything older and the delete
//! markers, ordered by `seq` (ever increasing: a version is moved there
//! when a newer one replaces it, so a higher `seq` is always newer).
//!
//! The rule that keeps the two consistent: a key's newest version is its
//! `objects` row if it has one; otherwise its highest-`seq` row in
//! `object_versions`, which is then always a delete marker (removing a
//! newest version moves the next one back into `objects` unless it is a
//! marker).

use crate::db;
use crate::objects::{
    LISTED_COLUMNS, OBJECT_COLUMNS, headers_json, object_from_row, remove_visible,
};
use rusqlite::{Connection, OptionalExtension, params};
use strato_store::{
    BucketUsage, NULL_VERSION, ObjectMeta, ObjectRemoval, ObjectVersion, StoreError, VersionCursor,
};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS object_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    delete_marker INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    blob TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    data BLOB,
    archived_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS object_versions_by_key ON object_versions (bucket, key, seq);
"#;

/// The `seq` the visible object sorts at: above every older version.
const VISIBLE_SEQ: i64 = i64::MAX;

/// A stored version as read back: the object (or marker), whether it is a
/// marker, and its place in the key's history.
pub(super) struct StoredVersion {
    pub meta: ObjectMeta,
    pub delete_marker: bool,
    pub seq: i64,
    /// When it stopped being the newest (0: it still is, or unknown).
    pub archived_ms: i64,
}

fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredVersion> {
    Ok(StoredVersion {
        meta: object_from_row(r)?,
        delete_marker: r.get::<_, i64>(10)? != 0,
        seq: r.get(11)?,
        archived_ms: r.get(12)?,
    })
}

/// Moves the key's visible object into its history, bytes and all, as
/// replaced at `at_ms`.
pub(super) fn archive(
    tx: &Connection,
    bucket: &str,
    key: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(&format!(
        "INSERT INTO object_versions ({OBJECT_COLUMNS}, archived_ms)
         SELECT {OBJECT_COLUMNS}, ?3 FROM objects WHERE bucket = ?1 AND key = ?2"
    ))
    .and_then(|mut s| s.execute(params![bucket, key, at_ms]))
    .map_err(db("keeping an older version"))?;
    remove_visible(tx, bucket, key)
}

/// Removes the key's older `null` version (object or marker), if any.
pub(super) fn drop_null(
    tx: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<StoredVersion>, StoreError> {
    tx.prepare_cached(&format!(
        "DELETE FROM object_versions WHERE bucket = ?1 AND key = ?2 AND version_id IS NULL
         RETURNING {LISTED_COLUMNS}, delete_marker, seq, archived_ms"
    ))
    .and_then(|mut s| {
        s.query_row(params![bucket, key], version_from_row)
            .optional()
    })
    .map_err(db("replacing the null version"))
}

pub(super) fn insert_marker(
    tx: &Connection,
    bucket: &str,
    key: &str,
    id: Option<&str>,
    at_ms: i64,
) -> Result<(), StoreError> {
    let marker = ObjectMeta::delete_marker(bucket, key, id.map(str::to_string), at_ms);
    tx.prepare_cached(&format!(
        "INSERT INTO object_versions ({OBJECT_COLUMNS}, delete_marker)
         VALUES (?1, ?2, 0, '', NULL, ?3, '', ?4, NULL, ?5, 1)"
    ))
    .and_then(|mut s| {
        s.execute(params![
            bucket,
            key,
            headers_json(&marker.headers),
            at_ms,
            marker.version_id
        ])
    })
    .map_err(db("making a delete marker"))?;
    Ok(())
}

/// The key's older versions and markers, newest first.
fn history(conn: &Connection, bucket: &str, key: &str) -> Result<Vec<StoredVersion>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {OBJECT_COLUMNS}, delete_marker, seq, archived_ms FROM object_versions
             WHERE bucket = ?1 AND key = ?2 ORDER BY seq DESC"
        ))
        .map_err(db("reading a key's versions"))?;
    let rows = stmt
        .query_map(params![bucket, key], version_from_row)
        .map_err(db("reading a key's versions"))?;
    rows.collect::<Result<_, _>>()
        .map_err(db("reading a key's versions"))
}

/// Makes the key's newest older version visible again, unless it is a
/// delete marker (which then stays the newest, hiding the key).
fn promote_newest(tx: &Connection, bucket: &str, key: &str) -> Result<(), StoreError> {
    let newest: Option<(i64, bool)> = tx
        .prepare_cached(
            "SELECT seq, delete_marker FROM object_versions WHERE bucket = ?1 AND key = ?2
             ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![bucket, key], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? != 0))
            })
            .optional()
        })
        .map_err(db("finding the next newest version"))?;
    if let Some((seq, false)) = newest {
        tx.execute(
            &format!(
                "INSERT INTO objects ({OBJECT_COLUMNS}) SELECT {OBJECT_COLUMNS} FROM object_versions WHERE seq = ?1"
            ),
            [seq],
        )
        .and_then(|_| tx.execute("DELETE FROM object_versions WHERE seq = ?1", [seq]))
        .map_err(db("making an older version visible"))?;
    }
    Ok(())
}

/// Removes one version of a key for good; `None` if it has no such one.
pub(super) fn remove_version(
    tx: &Connection,
    bucket: &str,
    key: &str,
    visible: Option<ObjectMeta>,
    id: &str,
) -> Result<Option<ObjectRemoval>, StoreError> {
    let removal = |object: Option<ObjectMeta>, delete_marker| ObjectRemoval {
        object,
        version_id: (id != NULL_VERSION).then(|| id.to_string()),
        delete_marker,
        events: Vec::new(),
    };
    if let Some(object) = visible.filter(|o| o.is_version(id)) {
        remove_visible(tx, bucket, key)?;
        promote_newest(tx, bucket, key)?;
        return Ok(Some(removal(Some(object), false)));
    }
    let older = history(tx, bucket, key)?;
    let Some((at, found)) = older
        .iter()
        .enumerate()
        .find(|(_, v)| v.meta.is_version(id))
    else {
        return Ok(None);
    };
    tx.execute("DELETE FROM object_versions WHERE seq = ?1", [found.seq])
        .map_err(db("deleting a version"))?;
    let was_newest = at == 0 && visible_is_none(tx, bucket, key)?;
    if was_newest {
        promote_newest(tx, bucket, key)?;
    }
    let mut meta = found.meta.clone();
    meta.inline = None;
    Ok(Some(if found.delete_marker {
        removal(None, true)
    } else {
        removal(Some(meta), false)
    }))
}

fn visible_is_none(conn: &Connection, bucket: &str, key: &str) -> Result<bool, StoreError> {
    Ok(crate::objects::visible_object(conn, bucket, key)?.is_none())
}

/// One version by id, from the visible object or the key's history.
pub(super) fn get_version(
    conn: &Connection,
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Option<ObjectVersion>, StoreError> {
    let visible = crate::objects::get_object(conn, bucket, key)?;
    let has_visible = visible.is_some();
    if let Some(meta) = visible.filter(|o| o.is_version(id)) {
        return Ok(Some(ObjectVersion {
            meta,
            delete_marker: false,
            latest: true,
            noncurrent_since_ms: None,
        }));
    }
    let older = history(conn, bucket, key)?;
    Ok(older
        .into_iter()
        .enumerate()
        .find(|(_, v)| v.meta.is_version(id))
        .map(|(at, v)| {
            let latest = at == 0 && !has_visible;
            ObjectVersion {
                noncurrent_since_ms: strato_store::noncurrent_since(latest, v.archived_ms),
                meta: v.meta,
                delete_marker: v.delete_marker,
                latest,
            }
        }))
}

/// Versions of keys under `prefix` after `after`, keys in byte order and
/// each key's versions newest first.
pub(super) fn list_versions(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    after: &VersionCursor,
    limit: usize,
) -> Result<Vec<ObjectVersion>, StoreError> {
    // Where to resume within `after.key`: below the listed version's
    // place, or (no version, or one no longer there) past the whole key.
    let resume_seq = match &after.version_id {
        None => -1,
        Some(id) => {
            let visible = crate::objects::visible_object(conn, bucket, &after.key)?;
            if visible.is_some_and(|o| o.is_version(id)) {
                VISIBLE_SEQ
            } else {
                history(conn, bucket, &after.key)?
                    .iter()
                    .find(|v| v.meta.is_version(id))
                    .map_or(-1, |v| v.seq)
            }
        }
    };
    // Keys compare as bytes; the prefix bound uses `substr` so LIKE's
    // wildcards in keys are inert.
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT * FROM (
                SELECT {LISTED_COLUMNS}, 0 AS delete_marker, {VISIBLE_SEQ} AS seq, 0 AS archived_ms FROM objects
                 WHERE bucket = ?1 AND key >= ?2 AND key >= ?3 AND substr(key, 1, length(?3)) = ?3
                UNION ALL
                SELECT {LISTED_COLUMNS}, delete_marker, seq, archived_ms FROM object_versions
                 WHERE bucket = ?1 AND key >= ?2 AND key >= ?3 AND substr(key, 1, length(?3)) = ?3)
             WHERE key > ?2 OR seq < ?4
             ORDER BY key, seq DESC LIMIT ?5"
        ))
        .map_err(db("listing object versions"))?;
    let rows = stmt
        .query_map(
            params![bucket, after.key, prefix, resume_seq, limit as i64],
            version_from_row,
        )
        .map_err(db("listing object versions"))?;
    let rows: Vec<StoredVersion> = rows
        .collect::<Result<_, _>>()
        .map_err(db("listing object versions"))?;
    // A key's first row in the whole ordering is its newest version; on
    // this page that is its first row, unless the page resumes inside it.
    let mut previous_key =
        (after.version_id.is_some() && resume_seq >= 0).then(|| after.key.clone());
    Ok(rows
        .into_iter()
        .map(|v| {
            let latest = previous_key.as_deref() != Some(v.meta.key.as_str());
            previous_key = Some(v.meta.key.clone());
            ObjectVersion {
                noncurrent_since_ms: strato_store::noncurrent_since(latest, v.archived_ms),
                meta: v.meta,
                delete_marker: v.delete_marker,
                latest,
            }
        })
        .collect())
}

pub(super) fn usage(conn: &Connection, bucket: &str) -> Result<BucketUsage, StoreError> {
    let count = |table: &str| -> Result<(u64, u64), StoreError> {
        conn.query_row(
            &format!("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {table} WHERE bucket = ?1"),
            [bucket],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .map_err(db("measuring a bucket"))
    };
    let (objects, bytes) = count("objects")?;
    let (versions, version_bytes) = count("object_versions")?;
    Ok(BucketUsage {
        objects,
        bytes,
        versions,
        version_bytes,
    })
}

/// Whether a bucket has anything stored: a visible object, an older
/// version or a delete marker.
pub(super) fn bucket_has_versions(conn: &Connection, bucket: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM object_versions WHERE bucket = ?1)",
        [bucket],
        |r| r.get(0),
    )
    .map_err(db("checking a bucket is empty"))
}
