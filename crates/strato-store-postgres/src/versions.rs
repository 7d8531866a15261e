//! Object versions on PostgreSQL, by the same rule as the SQLite backend:
//! `objects` holds each key's visible object, `object_versions` everything
//! older and the delete markers, ordered by `seq`. Writers of a key hold
//! its advisory lock (`objects::lock_key`), so a higher `seq` is always
//! newer within a key.

use crate::db::{execute, query, query_one, query_opt};
use crate::objects::{
    LISTED_COLUMNS, OBJECT_COLUMNS, headers_json, object_from_row, remove_visible,
};
use deadpool_postgres::{GenericClient, Transaction};
use strato_store::{
    BucketUsage, NULL_VERSION, ObjectMeta, ObjectRemoval, ObjectVersion, StoreError, VersionCursor,
};
use tokio_postgres::Row;

/// The `seq` the visible object sorts at: above every older version.
const VISIBLE_SEQ: i64 = i64::MAX;

/// A stored version as read back.
pub(crate) struct StoredVersion {
    pub meta: ObjectMeta,
    pub delete_marker: bool,
    pub seq: i64,
    /// When it stopped being the newest (0: it still is, or unknown).
    pub archived_ms: i64,
}

fn version_from_row(r: &Row) -> StoredVersion {
    StoredVersion {
        meta: object_from_row(r),
        delete_marker: r.get(10),
        seq: r.get(11),
        archived_ms: r.get(12),
    }
}

/// Moves the key's visible object into its history, as replaced at `at_ms`.
pub(crate) async fn archive(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    execute(
        tx,
        "keeping an older version",
        &format!(
            "INSERT INTO object_versions ({OBJECT_COLUMNS}, archived_ms)
             SELECT {OBJECT_COLUMNS}, $3 FROM objects WHERE bucket = $1 AND key = $2"
        ),
        &[&bucket, &key, &at_ms],
    )
    .await?;
    remove_visible(tx, bucket, key).await
}

/// Removes the key's older `null` version (object or marker), if any.
pub(crate) async fn drop_null(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
) -> Result<Option<StoredVersion>, StoreError> {
    let row = query_opt(
        tx,
        "replacing the null version",
        &format!(
            "DELETE FROM object_versions WHERE bucket = $1 AND key = $2 AND version_id IS NULL
             RETURNING {LISTED_COLUMNS}, delete_marker, seq, archived_ms"
        ),
        &[&bucket, &key],
    )
    .await?;
    Ok(row.as_ref().map(version_from_row))
}

pub(crate) async fn insert_marker(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    id: Option<&str>,
    at_ms: i64,
) -> Result<(), StoreError> {
    let headers = headers_json(&Default::default());
    execute(
        tx,
        "making a delete marker",
        &format!(
            "INSERT INTO object_versions ({OBJECT_COLUMNS}, delete_marker)
             VALUES ($1, $2, 0, '', NULL, $3, '', $4, NULL, $5, TRUE)"
        ),
        &[&bucket, &key, &headers, &at_ms, &id],
    )
    .await
    .map(drop)
}

/// The key's older versions and markers, newest first.
async fn history(
    c: &impl GenericClient,
    bucket: &str,
    key: &str,
) -> Result<Vec<StoredVersion>, StoreError> {
    let rows = query(
        c,
        "reading a key's versions",
        &format!(
            "SELECT {OBJECT_COLUMNS}, delete_marker, seq, archived_ms FROM object_versions
             WHERE bucket = $1 AND key = $2 ORDER BY seq DESC"
        ),
        &[&bucket, &key],
    )
    .await?;
    Ok(rows.iter().map(version_from_row).collect())
}

/// Makes the key's newest older version visible again, unless it is a
/// delete marker (which then stays the newest, hiding the key).
async fn promote_newest(tx: &Transaction<'_>, bucket: &str, key: &str) -> Result<(), StoreError> {
    let newest = query_opt(
        tx,
        "finding the next newest version",
        "SELECT seq, delete_marker FROM object_versions WHERE bucket = $1 AND key = $2
         ORDER BY seq DESC LIMIT 1",
        &[&bucket, &key],
    )
    .await?
    .map(|r| (r.get::<_, i64>(0), r.get::<_, bool>(1)));
    if let Some((seq, false)) = newest {
        const DOING: &str = "making an older version visible";
        execute(
            tx,
            DOING,
            &format!(
                "INSERT INTO objects ({OBJECT_COLUMNS}) SELECT {OBJECT_COLUMNS} FROM object_versions WHERE seq = $1"
            ),
            &[&seq],
        )
        .await?;
        execute(
            tx,
            DOING,
            "DELETE FROM object_versions WHERE seq = $1",
            &[&seq],
        )
        .await?;
    }
    Ok(())
}

/// Removes one version of a key for good; `None` if it has no such one.
pub(crate) async fn remove_version(
    tx: &Transaction<'_>,
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
    let has_visible = visible.is_some();
    if let Some(object) = visible.filter(|o| o.is_version(id)) {
        remove_visible(tx, bucket, key).await?;
        promote_newest(tx, bucket, key).await?;
        return Ok(Some(removal(Some(object), false)));
    }
    let older = history(tx, bucket, key).await?;
    let Some((at, found)) = older
        .iter()
        .enumerate()
        .find(|(_, v)| v.meta.is_version(id))
    else {
        return Ok(None);
    };
    execute(
        tx,
        "deleting a version",
        "DELETE FROM object_versions WHERE seq = $1",
        &[&found.seq],
    )
    .await?;
    if at == 0 && !has_visible {
        promote_newest(tx, bucket, key).await?;
    }
    let mut meta = found.meta.clone();
    meta.inline = None;
    Ok(Some(if found.delete_marker {
        removal(None, true)
    } else {
        removal(Some(meta), false)
    }))
}

/// One version by id, from the visible object or the key's history.
pub(crate) async fn get_version(
    c: &impl GenericClient,
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Option<ObjectVersion>, StoreError> {
    let visible = crate::objects::get_object(c, bucket, key).await?;
    let has_visible = visible.is_some();
    if let Some(meta) = visible.filter(|o| o.is_version(id)) {
        return Ok(Some(ObjectVersion {
            meta,
            delete_marker: false,
            latest: true,
            noncurrent_since_ms: None,
        }));
    }
    let older = history(c, bucket, key).await?;
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
pub(crate) async fn list_versions(
    c: &impl GenericClient,
    bucket: &str,
    prefix: &str,
    after: &VersionCursor,
    limit: usize,
) -> Result<Vec<ObjectVersion>, StoreError> {
    let resume_seq = match &after.version_id {
        None => -1,
        Some(id) => {
            let visible = crate::objects::visible_object(c, bucket, &after.key).await?;
            if visible.is_some_and(|o| o.is_version(id)) {
                VISIBLE_SEQ
            } else {
                history(c, bucket, &after.key)
                    .await?
                    .iter()
                    .find(|v| v.meta.is_version(id))
                    .map_or(-1, |v| v.seq)
            }
        }
    };
    let rows = query(
        c,
        "listing object versions",
        &format!(
            "SELECT * FROM (
                SELECT {LISTED_COLUMNS}, FALSE AS delete_marker, {VISIBLE_SEQ}::bigint AS seq, 0::bigint AS archived_ms FROM objects
                 WHERE bucket = $1 AND key >= $2 AND key >= $3 AND starts_with(key, $3)
                UNION ALL
                SELECT {LISTED_COLUMNS}, delete_marker, seq, archived_ms FROM object_versions
                 WHERE bucket = $1 AND key >= $2 AND key >= $3 AND starts_with(key, $3)) v
             WHERE key > $2 OR seq < $4
             ORDER BY key, seq DESC LIMIT $5"
        ),
        &[&bucket, &after.key, &prefix, &resume_seq, &(limit as i64)],
    )
    .await?;
    let mut previous_key =
        (after.version_id.is_some() && resume_seq >= 0).then(|| after.key.clone());
    Ok(rows
        .iter()
        .map(version_from_row)
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

pub(crate) async fn usage(c: &impl GenericClient, bucket: &str) -> Result<BucketUsage, StoreError> {
    let row = query_one(
        c,
        "measuring a bucket",
        "SELECT (SELECT COUNT(*) FROM objects WHERE bucket = $1),
                (SELECT COALESCE(SUM(size), 0)::bigint FROM objects WHERE bucket = $1),
                (SELECT COUNT(*) FROM object_versions WHERE bucket = $1),
                (SELECT COALESCE(SUM(size), 0)::bigint FROM object_versions WHERE bucket = $1)",
        &[&bucket],
    )
    .await?;
    Ok(BucketUsage {
        objects: row.get::<_, i64>(0) as u64,
        bytes: row.get::<_, i64>(1) as u64,
        versions: row.get::<_, i64>(2) as u64,
        version_bytes: row.get::<_, i64>(3) as u64,
    })
}

/// Whether a bucket has older versions or delete markers.
pub(crate) async fn bucket_has_versions(
    c: &impl GenericClient,
    bucket: &str,
) -> Result<bool, StoreError> {
    let row = query_one(
        c,
        "checking a bucket is empty",
        "SELECT EXISTS (SELECT 1 FROM object_versions WHERE bucket = $1)",
        &[&bucket],
    )
    .await?;
    Ok(row.get(0))
}
