//! The image catalog on SQLite: names and the images they point at (used
//! when blobs are shared; see `strato_store::ImageRecord`).

use crate::{Db, db};
use rusqlite::{OptionalExtension, params};
use strato_store::{ImageRecord, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    info TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
"#;

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRecord> {
    let info: String = r.get(2)?;
    Ok(ImageRecord {
        name: r.get(0)?,
        id: r.get(1)?,
        info: serde_json::from_str(&info).unwrap_or_default(),
        updated_ms: r.get(3)?,
    })
}

impl Db {
    pub(crate) fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError> {
        self.write()
            .execute(
                "INSERT INTO images (name, id, info, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET id = excluded.id, info = excluded.info,
                   updated_ms = excluded.updated_ms",
                params![
                    image.name,
                    image.id,
                    image.info.to_string(),
                    image.updated_ms
                ],
            )
            .map_err(db("naming an image"))?;
        Ok(())
    }

    pub(crate) fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        self.read()
            .query_row(
                "SELECT name, id, info, updated_ms FROM images WHERE name = ?1",
                [name],
                record,
            )
            .optional()
            .map_err(db("reading an image's name"))
    }

    pub(crate) fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare("SELECT name, id, info, updated_ms FROM images ORDER BY name")
            .map_err(db("listing images"))?;
        let rows = stmt.query_map([], record).map_err(db("listing images"))?;
        rows.collect::<Result<_, _>>().map_err(db("listing images"))
    }

    pub(crate) fn delete_image(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .write()
            .execute("DELETE FROM images WHERE name = ?1", [name])
            .map_err(db("removing an image's name"))?;
        Ok(n == 1)
    }
}
