//! Writing rows exported from another store (`strato admin migrate`):
//! JSON rows keyed by column name, inserted with PostgreSQL converting
//! each value from its JSON form (`json_populate_recordset`), bytes given
//! as `{"$bytes": HEX}`. Only the columns both sides have are written;
//! the others take their defaults. Identity counters are moved past the
//! imported values afterwards.

use crate::PostgresStore;
use crate::db::{execute, pg, query};
use serde_json::Value;
use strato_store::StoreError;

/// Identity columns whose counters follow the imported rows.
const IDENTITIES: &[(&str, &str)] = &[
    ("logs", "seq"),
    ("object_versions", "seq"),
    ("bucket_events", "id"),
    ("queue_messages", "seq"),
];

impl PostgresStore {
    /// Whether the database holds no deployment yet (no app, bucket, key
    /// or run): what a migration writes into.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "checking the database is empty",
            "SELECT (SELECT count(*) FROM apps) + (SELECT count(*) FROM buckets)
                  + (SELECT count(*) FROM access_keys) + (SELECT count(*) FROM runs)",
            &[],
        )
        .await?;
        Ok(rows[0].get::<_, i64>(0) == 0)
    }

    /// Inserts exported `rows` into `table` (one transaction).
    pub async fn import_rows(&self, table: &str, rows: Vec<Value>) -> Result<u64, StoreError> {
        let Some(Value::Object(first)) = rows.first() else {
            return Ok(0);
        };
        let c = self.client().await?;
        let known: Vec<String> = query(
            &c,
            "reading a table's columns",
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
            &[&table],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        if known.is_empty() {
            return Err(StoreError::corrupt(
                "table",
                format!("no table {table} to import into"),
            ));
        }
        let columns: Vec<&String> = first.keys().filter(|k| known.contains(k)).collect();
        let list = columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<Value> = rows.into_iter().map(bytes_as_text).collect();
        let payload = Value::Array(rows).to_string();
        let n = execute(
            &c,
            "importing rows",
            &format!(
                "INSERT INTO {table} ({list}) OVERRIDING SYSTEM VALUE
                 SELECT {list} FROM json_populate_recordset(NULL::{table}, $1::text::json)"
            ),
            &[&payload],
        )
        .await?;
        Ok(n)
    }

    /// Moves identity counters past the imported rows.
    pub async fn finish_import(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        for (table, column) in IDENTITIES {
            c.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                   GREATEST((SELECT max({column}) FROM {table}), 1))"
            ))
            .await
            .map_err(pg("moving identity counters past imported rows"))?;
        }
        Ok(())
    }
}

/// `{"$bytes": HEX}` becomes bytea's text form `\xHEX`.
fn bytes_as_text(row: Value) -> Value {
    let Value::Object(map) = row else { return row };
    Value::Object(
        map.into_iter()
            .map(|(k, v)| match v {
                Value::Object(ref o) if o.len() == 1 && o.contains_key("$bytes") => {
                    let hex = o["$bytes"].as_str().unwrap_or_default();
                    (k, Value::String(format!("\\x{hex}")))
                }
                other => (k, other),
            })
            .collect(),
    )
}
