//! Buckets, objects, multipart uploads, access keys and the event outbox
//! on PostgreSQL. A write to a key first takes a transaction-scoped
//! advisory lock on the key, so conditional writes and the moves between
//! `objects` and `object_versions` never interleave for one key (a row
//! lock cannot guard a key that has no row yet).

use crate::db::{Param, execute, query, query_opt, strings};
use crate::versions;
use deadpool_postgres::{GenericClient, Transaction};
use std::collections::BTreeMap;
use strato_store::{
    AccessKey, BucketEvent, Conditional, MultipartUpload, NewBucketEvent, ObjectMeta,
    ObjectRemoval, ObjectWrite, Removal, StoreError, UploadPart, WriteCondition,
};
use tokio_postgres::Row;

/// An object's columns, the same in `objects` and `object_versions`.
pub(crate) const OBJECT_COLUMNS: &str =
    "bucket, key, size, etag, content_type, headers, blob, modified_ms, data, version_id";
/// The same columns for listings, which never need the inline bytes.
pub(crate) const LISTED_COLUMNS: &str =
    "bucket, key, size, etag, content_type, headers, blob, modified_ms, NULL::bytea, version_id";
const EVENT_COLUMNS: &str =
    "id, bucket, key, name, size, etag, at_ms, app, function, attempts, version_id, traceparent";
const UPLOAD_COLUMNS: &str = "id, bucket, key, content_type, headers, created_ms";
const PART_COLUMNS: &str = "upload_id, number, size, etag, blob, modified_ms, checksum";

pub(crate) fn headers_json(headers: &BTreeMap<String, String>) -> String {
    serde_json::to_string(headers).expect("headers serialize")
}

pub(crate) fn object_from_row(row: &Row) -> ObjectMeta {
    let headers: String = row.get(5);
    ObjectMeta {
        bucket: row.get(0),
        key: row.get(1),
        size: row.get::<_, i64>(2) as u64,
        etag: row.get(3),
        content_type: row.get(4),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        blob: row.get(6),
        modified_ms: row.get(7),
        inline: row.get(8),
        version_id: row.get(9),
    }
}

pub(crate) fn event_from_row(r: &Row) -> BucketEvent {
    BucketEvent {
        id: r.get(0),
        bucket: r.get(1),
        key: r.get(2),
        name: r.get(3),
        size: r.get::<_, i64>(4) as u64,
        etag: r.get(5),
        at_ms: r.get(6),
        app: r.get(7),
        function: r.get(8),
        attempts: r.get::<_, i64>(9) as u32,
        version_id: r.get(10),
        traceparent: r.get(11),
    }
}

fn upload_from_row(r: &Row) -> MultipartUpload {
    let headers: String = r.get(4);
    MultipartUpload {
        id: r.get(0),
        bucket: r.get(1),
        key: r.get(2),
        content_type: r.get(3),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        created_ms: r.get(5),
    }
}

fn part_from_row(r: &Row) -> UploadPart {
    UploadPart {
        upload_id: r.get(0),
        number: r.get::<_, i64>(1) as u32,
        size: r.get::<_, i64>(2) as u64,
        etag: r.get(3),
        blob: r.get(4),
        modified_ms: r.get(5),
        checksum: r.get(6),
    }
}

pub(crate) fn key_from_row(r: &Row) -> AccessKey {
    AccessKey {
        id: r.get(0),
        secret: r.get(1),
        app: r.get(2),
        created_at_ms: r.get(3),
    }
}

/// Serializes writers of one key until the transaction ends.
pub(crate) async fn lock_key(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
) -> Result<(), StoreError> {
    execute(
        tx,
        "locking an object key",
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
        &[&bucket, &key],
    )
    .await
    .map(drop)
}

/// Records `events` about `object` (a version, or a delete marker).
pub(crate) async fn insert_events(
    tx: &Transaction<'_>,
    object: &ObjectMeta,
    events: &[NewBucketEvent],
) -> Result<Vec<BucketEvent>, StoreError> {
    let sql = format!(
        "INSERT INTO bucket_events (bucket, key, name, size, etag, at_ms, app, function, due_ms, lease_until_ms, attempts, lease_owner, version_id, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6, $9, $10, $11, $12, $13) RETURNING {EVENT_COLUMNS}"
    );
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let attempts = i64::from(e.leased_until_ms > 0);
        let row = crate::db::query_one(
            tx,
            "recording a bucket event",
            &sql,
            &[
                &object.bucket,
                &object.key,
                &e.name,
                &(object.size as i64),
                &object.etag,
                &e.at_ms,
                &e.app,
                &e.function,
                &e.leased_until_ms,
                &attempts,
                &e.lease_owner,
                &object.version_id,
                &e.traceparent,
            ],
        )
        .await?;
        out.push(event_from_row(&row));
    }
    Ok(out)
}

/// Makes `meta` visible, with its events, if `condition` holds (see the
/// SQLite backend: the same rules, the same shape).
pub(crate) async fn put_object(
    tx: &Transaction<'_>,
    meta: &ObjectMeta,
    condition: &WriteCondition,
    events: &[NewBucketEvent],
) -> Result<Conditional<ObjectWrite>, StoreError> {
    lock_key(tx, &meta.bucket, &meta.key).await?;
    let current = visible_object(tx, &meta.bucket, &meta.key).await?;
    if let Err(failure) = condition.check(current.as_ref()) {
        return Ok(Err(failure));
    }
    let mut replaced = None;
    if let Some(current) = current {
        if current.version_id.is_some() || meta.version_id.is_some() {
            versions::archive(tx, &meta.bucket, &meta.key, meta.modified_ms).await?;
        } else {
            replaced = Some(current.blob);
        }
    }
    if meta.version_id.is_none()
        && let Some(old) = versions::drop_null(tx, &meta.bucket, &meta.key).await?
    {
        replaced = Some(old.meta.blob);
    }
    execute(
        tx,
        "storing an object",
        &format!(
            "INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (bucket, key) DO UPDATE SET size = excluded.size, etag = excluded.etag,
             content_type = excluded.content_type, headers = excluded.headers, blob = excluded.blob,
             modified_ms = excluded.modified_ms, data = excluded.data, version_id = excluded.version_id"
        ),
        &[
            &meta.bucket,
            &meta.key,
            &(meta.size as i64),
            &meta.etag,
            &meta.content_type,
            &headers_json(&meta.headers),
            &meta.blob,
            &meta.modified_ms,
            &meta.inline,
            &meta.version_id,
        ],
    )
    .await?;
    let events = insert_events(tx, meta, events).await?;
    Ok(Ok(ObjectWrite {
        replaced_blob: replaced.filter(|b| !b.is_empty() && *b != meta.blob),
        events,
    }))
}

/// The key's visible object, without its inline bytes.
pub(crate) async fn visible_object(
    c: &impl GenericClient,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectMeta>, StoreError> {
    let sql = format!("SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2");
    let row = query_opt(c, "looking up an object", &sql, &[&bucket, &key]).await?;
    Ok(row.as_ref().map(object_from_row))
}

pub(crate) async fn get_object(
    c: &impl GenericClient,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectMeta>, StoreError> {
    let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2");
    let row = query_opt(c, "reading an object", &sql, &[&bucket, &key]).await?;
    Ok(row.as_ref().map(object_from_row))
}

/// Does `removal` to a key, with its events, if `condition` holds.
pub(crate) async fn delete_object(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    removal: Removal,
    condition: &WriteCondition,
    events: &[NewBucketEvent],
) -> Result<Conditional<Option<ObjectRemoval>>, StoreError> {
    lock_key(tx, bucket, key).await?;
    let current = visible_object(tx, bucket, key).await?;
    if let Err(failure) = condition.check(current.as_ref()) {
        return Ok(Err(failure));
    }
    let removal = match removal {
        Removal::Object => match current {
            None => None,
            Some(object) => {
                remove_visible(tx, bucket, key).await?;
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
                    versions::archive(tx, bucket, key, at_ms).await?;
                } else {
                    remove_visible(tx, bucket, key).await?;
                    gone = Some(object);
                }
            }
            if id.is_none()
                && let Some(old) = versions::drop_null(tx, bucket, key).await?
            {
                gone = (!old.delete_marker).then_some(old.meta);
            }
            versions::insert_marker(tx, bucket, key, id.as_deref(), at_ms).await?;
            Some(ObjectRemoval {
                object: gone,
                version_id: id,
                delete_marker: true,
                events: Vec::new(),
            })
        }
        Removal::Version(id) => versions::remove_version(tx, bucket, key, current, &id).await?,
    };
    let Some(mut removal) = removal else {
        return Ok(Ok(None));
    };
    let about = match &removal.object {
        Some(object) => object.clone(),
        None => ObjectMeta::delete_marker(bucket, key, removal.version_id.clone(), 0),
    };
    removal.events = insert_events(tx, &about, events).await?;
    Ok(Ok(Some(removal)))
}

/// Replaces an object's (or one version's) stored headers.
pub(crate) async fn set_headers(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    headers: &BTreeMap<String, String>,
) -> Result<bool, StoreError> {
    lock_key(tx, bucket, key).await?;
    let json = headers_json(headers);
    const DOING: &str = "changing an object's headers";
    let changed = match version_id {
        None => {
            execute(
                tx,
                DOING,
                "UPDATE objects SET headers = $3 WHERE bucket = $1 AND key = $2",
                &[&bucket, &key, &json],
            )
            .await?
        }
        Some(id) => {
            execute(
                tx,
                DOING,
                "UPDATE objects SET headers = $3 WHERE bucket = $1 AND key = $2
                 AND coalesce(version_id, 'null') = $4",
                &[&bucket, &key, &json, &id],
            )
            .await?
        }
    };
    if changed > 0 || version_id.is_none() {
        return Ok(changed > 0);
    }
    let changed = execute(
        tx,
        DOING,
        "UPDATE object_versions SET headers = $3 WHERE bucket = $1 AND key = $2
         AND coalesce(version_id, 'null') = $4 AND NOT delete_marker",
        &[&bucket, &key, &json, &version_id],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes the key's visible object row.
pub(crate) async fn remove_visible(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
) -> Result<(), StoreError> {
    execute(
        tx,
        "deleting an object",
        "DELETE FROM objects WHERE bucket = $1 AND key = $2",
        &[&bucket, &key],
    )
    .await
    .map(drop)
}

pub(crate) async fn list_objects(
    c: &impl GenericClient,
    bucket: &str,
    prefix: &str,
    start_after: &str,
    limit: usize,
) -> Result<Vec<ObjectMeta>, StoreError> {
    // `key >= prefix` lets the primary key bound the scan; `starts_with`
    // treats LIKE's wildcards in keys as plain characters.
    let sql = format!(
        "SELECT {LISTED_COLUMNS} FROM objects WHERE bucket = $1 AND key > $2 AND key >= $3
         AND starts_with(key, $3) ORDER BY key LIMIT $4"
    );
    let rows = query(
        c,
        "listing objects",
        &sql,
        &[&bucket, &start_after, &prefix, &(limit as i64)],
    )
    .await?;
    Ok(rows.iter().map(object_from_row).collect())
}

pub(crate) async fn empty_bucket(
    tx: &Transaction<'_>,
    bucket: &str,
) -> Result<Vec<String>, StoreError> {
    const DOING: &str = "emptying a bucket";
    let args: &[Param<'_>] = &[&bucket];
    let mut blobs = strings(
        query(
            tx,
            DOING,
            "DELETE FROM objects WHERE bucket = $1 RETURNING blob",
            args,
        )
        .await?,
    );
    blobs.extend(strings(
        query(
            tx,
            DOING,
            "DELETE FROM upload_parts WHERE upload_id IN (SELECT id FROM uploads WHERE bucket = $1) RETURNING blob",
            args,
        )
        .await?,
    ));
    blobs.extend(strings(
        query(
            tx,
            DOING,
            "DELETE FROM object_versions WHERE bucket = $1 RETURNING blob",
            args,
        )
        .await?,
    ));
    execute(tx, DOING, "DELETE FROM uploads WHERE bucket = $1", args).await?;
    blobs.retain(|b| !b.is_empty());
    Ok(blobs)
}

pub(crate) async fn create_upload(
    c: &impl GenericClient,
    u: &MultipartUpload,
) -> Result<(), StoreError> {
    execute(
        c,
        "starting a multipart upload",
        &format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        &[
            &u.id,
            &u.bucket,
            &u.key,
            &u.content_type,
            &headers_json(&u.headers),
            &u.created_ms,
        ],
    )
    .await
    .map(drop)
}

pub(crate) async fn get_upload(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<MultipartUpload>, StoreError> {
    let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1");
    let row = query_opt(c, "reading a multipart upload", &sql, &[&id]).await?;
    Ok(row.as_ref().map(upload_from_row))
}

pub(crate) async fn list_uploads(
    c: &impl GenericClient,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<MultipartUpload>, StoreError> {
    let sql = format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1 AND starts_with(key, $2)
         ORDER BY key, created_ms LIMIT 10000"
    );
    let rows = query(c, "listing multipart uploads", &sql, &[&bucket, &prefix]).await?;
    Ok(rows.iter().map(upload_from_row).collect())
}

pub(crate) async fn put_part(
    tx: &Transaction<'_>,
    p: &UploadPart,
) -> Result<Option<String>, StoreError> {
    let number = i64::from(p.number);
    let previous = query_opt(
        tx,
        "looking up an upload part",
        "SELECT blob FROM upload_parts WHERE upload_id = $1 AND number = $2 FOR UPDATE",
        &[&p.upload_id, &number],
    )
    .await?
    .map(|r| r.get::<_, String>(0));
    execute(
        tx,
        "storing an upload part",
        &format!(
            "INSERT INTO upload_parts ({PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, etag = excluded.etag,
             blob = excluded.blob, modified_ms = excluded.modified_ms, checksum = excluded.checksum"
        ),
        &[
            &p.upload_id,
            &number,
            &(p.size as i64),
            &p.etag,
            &p.blob,
            &p.modified_ms,
            &p.checksum,
        ],
    )
    .await?;
    Ok(previous.filter(|b| *b != p.blob))
}

pub(crate) async fn list_parts(
    c: &impl GenericClient,
    upload_id: &str,
    after: u32,
    limit: usize,
) -> Result<Vec<UploadPart>, StoreError> {
    let sql = format!(
        "SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = $1 AND number > $2 ORDER BY number LIMIT $3"
    );
    let rows = query(
        c,
        "listing upload parts",
        &sql,
        &[&upload_id, &i64::from(after), &(limit as i64)],
    )
    .await?;
    Ok(rows.iter().map(part_from_row).collect())
}

/// Forgets an upload, returning its parts' blobs (`None`: no such upload).
pub(crate) async fn drop_upload(
    tx: &Transaction<'_>,
    upload_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let removed = execute(
        tx,
        "ending a multipart upload",
        "DELETE FROM uploads WHERE id = $1",
        &[&upload_id],
    )
    .await?;
    if removed == 0 {
        return Ok(None);
    }
    let rows = query(
        tx,
        "ending a multipart upload",
        "DELETE FROM upload_parts WHERE upload_id = $1 RETURNING blob",
        &[&upload_id],
    )
    .await?;
    Ok(Some(strings(rows)))
}

pub(crate) async fn referenced_blobs(
    c: &impl GenericClient,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let rows = query(
        c,
        "listing referenced blobs",
        "SELECT blob FROM objects WHERE blob <> '' UNION SELECT blob FROM upload_parts
         UNION SELECT blob FROM object_versions WHERE blob <> ''",
        &[],
    )
    .await?;
    Ok(strings(rows).into_iter().collect())
}

/// Marks an event delivered (or given up on), inside the caller's
/// transaction: the one recording the run or queueing the task that
/// settled it.
pub(crate) async fn settle_event(
    c: &impl GenericClient,
    id: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    execute(
        c,
        "settling a bucket event",
        "UPDATE bucket_events SET done = TRUE, done_ms = $2 WHERE id = $1",
        &[&id, &now_ms],
    )
    .await
    .map(drop)
}

pub(crate) async fn claim_bucket_events(
    c: &impl GenericClient,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<BucketEvent>, StoreError> {
    let sql = format!(
        "UPDATE bucket_events SET lease_until_ms = $2, lease_owner = $4, attempts = attempts + 1
         WHERE id IN (SELECT id FROM bucket_events WHERE NOT done AND due_ms <= $1 AND lease_until_ms <= $1
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING {EVENT_COLUMNS}"
    );
    let rows = query(
        c,
        "claiming bucket events",
        &sql,
        &[&now_ms, &(now_ms + lease_ms), &(limit as i64), &owner],
    )
    .await?;
    let mut events: Vec<BucketEvent> = rows.iter().map(event_from_row).collect();
    events.sort_by_key(|e| e.id);
    Ok(events)
}
