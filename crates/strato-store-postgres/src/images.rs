//! The image catalog on PostgreSQL: which image each name points at, read
//! by every node (see `strato_store::ImageRecord`).

use crate::db::{execute, query, query_opt};
use deadpool_postgres::GenericClient;
use strato_store::{ImageRecord, StoreError};
use tokio_postgres::Row;

fn record(r: &Row) -> ImageRecord {
    let info: String = r.get(2);
    ImageRecord {
        name: r.get(0),
        id: r.get(1),
        info: serde_json::from_str(&info).unwrap_or_default(),
        updated_ms: r.get(3),
    }
}

pub(crate) async fn put(c: &impl GenericClient, image: &ImageRecord) -> Result<(), StoreError> {
    execute(
        c,
        "naming an image",
        "INSERT INTO images (name, id, info, updated_ms) VALUES ($1, $2, $3::text::jsonb, $4)
         ON CONFLICT (name) DO UPDATE SET id = excluded.id, info = excluded.info,
           updated_ms = excluded.updated_ms",
        &[
            &image.name,
            &image.id,
            &image.info.to_string(),
            &image.updated_ms,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn get(
    c: &impl GenericClient,
    name: &str,
) -> Result<Option<ImageRecord>, StoreError> {
    let row = query_opt(
        c,
        "reading an image's name",
        "SELECT name, id, info::text, updated_ms FROM images WHERE name = $1",
        &[&name],
    )
    .await?;
    Ok(row.as_ref().map(record))
}

pub(crate) async fn list(c: &impl GenericClient) -> Result<Vec<ImageRecord>, StoreError> {
    let rows = query(
        c,
        "listing images",
        "SELECT name, id, info::text, updated_ms FROM images ORDER BY name",
        &[],
    )
    .await?;
    Ok(rows.iter().map(record).collect())
}

pub(crate) async fn delete(c: &impl GenericClient, name: &str) -> Result<bool, StoreError> {
    let n = execute(
        c,
        "removing an image's name",
        "DELETE FROM images WHERE name = $1",
        &[&name],
    )
    .await?;
    Ok(n == 1)
}
