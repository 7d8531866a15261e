//! Reading the whole store out, table by table, as JSON rows keyed by
//! column name: what `strato admin migrate` moves into PostgreSQL. Bytes
//! come out as `{"$bytes": HEX}`; columns holding JSON documents as the
//! documents.

use crate::{SqliteStore, db};
use rusqlite::types::ValueRef;
use serde_json::{Map, Value, json};
use strato_store::StoreError;

/// The tables a deployment's state lives in, parents before children
/// (every backend names them alike). Node rows are not moved: a node
/// writes its own.
pub const TABLES: &[&str] = &[
    "settings",
    "apps",
    "revisions",
    "components",
    "access_keys",
    "buckets",
    "objects",
    "object_versions",
    "uploads",
    "upload_parts",
    "bucket_events",
    "runs",
    "run_payloads",
    "logs",
    "task_requests",
    "invocations",
    "queue_messages",
    "schedule_slots",
    "images",
    "executions",
    "execution_events",
    "workflow_steps",
    "workflow_results",
];

/// Columns holding JSON documents as text, exported as the documents.
const JSON_COLUMNS: &[(&str, &str)] = &[("buckets", "config"), ("images", "info")];

impl SqliteStore {
    /// Every row of `table`, in its key order, `batch` rows at a time
    /// handed to `sink` (which may stop the export with an error).
    pub fn export_table(
        &self,
        table: &str,
        batch: usize,
        mut sink: impl FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        if !TABLES.contains(&table) {
            return Err(StoreError::corrupt(
                "table",
                format!("{table} is not exported"),
            ));
        }
        let conn = self.db.read();
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table}"))
            .map_err(db("exporting a table"))?;
        let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        let mut rows = stmt.query([]).map_err(db("exporting a table"))?;
        let (mut out, mut total) = (Vec::with_capacity(batch), 0u64);
        while let Some(row) = rows.next().map_err(db("exporting a table"))? {
            let mut object = Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i).map_err(db("exporting a table"))? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => json!(n),
                    ValueRef::Real(f) => json!(f),
                    ValueRef::Text(t) => {
                        let text = String::from_utf8_lossy(t).into_owned();
                        if JSON_COLUMNS.contains(&(table, name.as_str())) {
                            serde_json::from_str(&text).unwrap_or(Value::String(text))
                        } else {
                            Value::String(text)
                        }
                    }
                    ValueRef::Blob(b) => json!({ "$bytes": hex_of(b) }),
                };
                object.insert(name.clone(), value);
            }
            out.push(Value::Object(object));
            total += 1;
            if out.len() == batch {
                sink(std::mem::take(&mut out))?;
            }
        }
        if !out.is_empty() {
            sink(out)?;
        }
        Ok(total)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
