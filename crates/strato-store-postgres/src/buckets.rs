//! Buckets (their configuration and deletion) and access keys on
//! PostgreSQL; objects are in `objects.rs`.

use crate::db::{execute, query, query_opt};
use crate::{PostgresStore, begin, commit, objects, versions};
use serde_json::Value;
use strato_store::{AccessKey, BucketDeletion, BucketInfo, StoreError, Versioning};

pub(crate) async fn create_bucket(
    store: &PostgresStore,
    name: &str,
    app: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let c = store.client().await?;
    let inserted = execute(
        &c,
        "creating a bucket",
        "INSERT INTO buckets (name, app, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&name, &app, &now_ms],
    )
    .await?;
    store.outbox.state();
    Ok(inserted == 1)
}

pub(crate) async fn set_bucket_app(
    store: &PostgresStore,
    name: &str,
    app: Option<&str>,
) -> Result<bool, StoreError> {
    let c = store.client().await?;
    let changed = execute(
        &c,
        "changing a bucket's owner",
        "UPDATE buckets SET app = $2 WHERE name = $1",
        &[&name, &app],
    )
    .await?;
    store.outbox.state();
    Ok(changed == 1)
}

pub(crate) async fn delete_bucket(
    store: &PostgresStore,
    name: &str,
) -> Result<BucketDeletion, StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "deleting a bucket").await?;
    // The bucket row is locked so no upload starts meanwhile; an object
    // written concurrently is seen by the check below or refused by
    // the bucket's absence afterwards.
    let exists = query_opt(
        &tx,
        "deleting a bucket",
        "SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE",
        &[&name],
    )
    .await?
    .is_some();
    if !exists {
        return Ok(BucketDeletion::NotFound);
    }
    let in_use = query_opt(
        &tx,
        "checking a bucket is empty",
        "SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1",
        &[&name],
    )
    .await?
    .is_some();
    if in_use || versions::bucket_has_versions(&tx, name).await? {
        return Ok(BucketDeletion::NotEmpty);
    }
    execute(
        &tx,
        "deleting a bucket",
        "DELETE FROM buckets WHERE name = $1",
        &[&name],
    )
    .await?;
    let blobs = objects::empty_bucket(&tx, name).await?;
    commit(tx, "committing a bucket deletion").await?;
    store.outbox.state();
    Ok(BucketDeletion::Deleted { blobs })
}

pub(crate) async fn empty_bucket(
    store: &PostgresStore,
    name: &str,
) -> Result<Vec<String>, StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "emptying a bucket").await?;
    let blobs = objects::empty_bucket(&tx, name).await?;
    commit(tx, "emptying a bucket").await?;
    Ok(blobs)
}

pub(crate) async fn list_buckets(store: &PostgresStore) -> Result<Vec<BucketInfo>, StoreError> {
    let c = store.client().await?;
    let rows = query(
        &c,
        "listing buckets",
        "SELECT name, app, created_at_ms, versioning, config::text FROM buckets ORDER BY name",
        &[],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| BucketInfo {
            name: r.get(0),
            app: r.get(1),
            created_at_ms: r.get(2),
            versioning: Versioning::parse(r.get(3)).unwrap_or_default(),
            config: serde_json::from_str(r.get(4)).unwrap_or_default(),
        })
        .collect())
}

pub(crate) async fn set_bucket_versioning(
    store: &PostgresStore,
    name: &str,
    versioning: Versioning,
) -> Result<bool, StoreError> {
    let c = store.client().await?;
    let changed = execute(
        &c,
        "changing a bucket's versioning",
        "UPDATE buckets SET versioning = $2 WHERE name = $1",
        &[&name, &versioning.as_str()],
    )
    .await?;
    store.outbox.state();
    Ok(changed == 1)
}

pub(crate) async fn set_bucket_config(
    store: &PostgresStore,
    name: &str,
    kind: &str,
    value: Option<&Value>,
) -> Result<bool, StoreError> {
    let c = store.client().await?;
    const DOING: &str = "changing a bucket's configuration";
    let changed = match value {
        Some(v) => {
            execute(
                &c,
                DOING,
                "UPDATE buckets SET config = config || jsonb_build_object($2::text, $3::text::jsonb) WHERE name = $1",
                &[&name, &kind, &v.to_string()],
            )
            .await?
        }
        None => {
            execute(
                &c,
                DOING,
                "UPDATE buckets SET config = config - $2::text WHERE name = $1",
                &[&name, &kind],
            )
            .await?
        }
    };
    store.outbox.state();
    Ok(changed == 1)
}

pub(crate) async fn put_access_key(
    store: &PostgresStore,
    key: &AccessKey,
) -> Result<(), StoreError> {
    let c = store.client().await?;
    execute(
        &c,
        "storing an access key",
        "INSERT INTO access_keys (id, secret, app, created_at_ms) VALUES ($1, $2, $3, $4)",
        &[&key.id, &key.secret, &key.app, &key.created_at_ms],
    )
    .await?;
    store.outbox.state();
    Ok(())
}

pub(crate) async fn revoke_access_key(store: &PostgresStore, id: &str) -> Result<bool, StoreError> {
    let c = store.client().await?;
    let removed = execute(
        &c,
        "revoking an access key",
        "DELETE FROM access_keys WHERE id = $1",
        &[&id],
    )
    .await?;
    store.outbox.state();
    Ok(removed == 1)
}

pub(crate) async fn list_access_keys(store: &PostgresStore) -> Result<Vec<AccessKey>, StoreError> {
    let c = store.client().await?;
    let rows = query(
        &c,
        "listing access keys",
        "SELECT id, secret, app, created_at_ms FROM access_keys ORDER BY created_at_ms, id",
        &[],
    )
    .await?;
    Ok(rows.iter().map(objects::key_from_row).collect())
}
