//! Leases on durable work, one rule for every kind: a lease names the node
//! holding the work and runs out at `lease_until_ms` unless its heartbeat
//! renews it; at start a node voids its own leases and no one else's.

use crate::{Db, db};
use rusqlite::params;
use strato_store::{NodeId, StoreError, WorkRef};

/// Each kind of leased work: its table and key column. Bucket events stay
/// leased after they are done (`done = 1` ends them), the others are
/// deleted when settled.
const LEASED: &[(&str, &str, &str)] = &[
    ("bucket_events", "id", " AND done = 0"),
    ("invocations", "id", ""),
    ("task_requests", "run_id", ""),
];

impl Db {
    pub(crate) fn release_leases(&self, owner: &NodeId) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db("releasing leases"))?;
        for (table, _, live) in LEASED {
            tx.execute(
                &format!(
                    "UPDATE {table} SET lease_until_ms = 0
                     WHERE lease_until_ms > 0 AND lease_owner = ?1{live}"
                ),
                [owner.as_str()],
            )
            .map_err(db("releasing leases"))?;
        }
        tx.commit().map_err(db("releasing leases"))
    }

    pub(crate) fn renew_leases(
        &self,
        owner: &NodeId,
        work: &[WorkRef],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let (work, owner) = (work.to_vec(), owner.0.clone());
        self.group.write(move |tx| {
            for item in &work {
                let (index, key): (usize, rusqlite::types::Value) = match item {
                    WorkRef::BucketEvent(id) => (0, (*id).into()),
                    WorkRef::Invocation(id) => (1, id.clone().into()),
                    WorkRef::TaskRun(id) => (2, id.clone().into()),
                };
                let (table, column, _) = LEASED[index];
                tx.prepare_cached(&format!(
                    "UPDATE {table} SET lease_until_ms = ?2
                     WHERE {column} = ?1 AND lease_until_ms > 0 AND lease_owner = ?3"
                ))
                .and_then(|mut s| s.execute(params![key, until_ms, owner]))
                .map_err(db("renewing a lease"))?;
            }
            Ok(())
        })
    }
}
