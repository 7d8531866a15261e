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
    ("workflow_steps", "id", ""),
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
            let mut renew = Vec::with_capacity(LEASED.len());
            for (table, column, _) in LEASED {
                renew.push(
                    tx.prepare_cached(&format!(
                        "UPDATE {table} SET lease_until_ms = ?2
                         WHERE {column} = ?1 AND lease_until_ms > 0 AND lease_owner = ?3"
                    ))
                    .map_err(db("renewing leases"))?,
                );
            }
            for item in &work {
                let renewed = match item {
                    WorkRef::BucketEvent(id) => renew[0].execute(params![id, until_ms, owner]),
                    WorkRef::Invocation(id) => renew[1].execute(params![id, until_ms, owner]),
                    WorkRef::TaskRun(id) => renew[2].execute(params![id, until_ms, owner]),
                    WorkRef::WorkflowStep(id) => renew[3].execute(params![id, until_ms, owner]),
                };
                renewed.map_err(db("renewing a lease"))?;
            }
            Ok(())
        })
    }
}
