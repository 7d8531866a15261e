//! The async invocation queue. An invocation is one row from the moment it
//! is accepted until the run that settles it (success, or the last failed
//! attempt) is recorded, in the same transaction that deletes the row.
//! Taking work is "claim the next due rows by rank": a lease, renewed by
//! finishing or retrying; rank = due time + the priority's head start.

use crate::{Db, db};
use rusqlite::{Connection, params};
use strato_core::invocation::Priority;
use strato_core::target::Target;
use strato_store::{Invocation, NewInvocation, NodeId, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS invocations (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    target TEXT NOT NULL,
    priority TEXT NOT NULL,
    rank_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    head TEXT NOT NULL,
    body BLOB NOT NULL
) WITHOUT ROWID;
-- Claiming reads two small populations, never the rows in hand: unleased
-- rows in rank order, and rows whose lease ran out. (A single rank index
-- made every sweep walk past every leased row of a backlog.)
DROP INDEX IF EXISTS invocations_by_rank;
CREATE INDEX IF NOT EXISTS invocations_unleased_by_rank ON invocations (rank_ms) WHERE lease_until_ms = 0;
CREATE INDEX IF NOT EXISTS invocations_by_lease ON invocations (lease_until_ms) WHERE lease_until_ms > 0;
"#;

/// Claims due work (`?1` now, `?2` the new lease's end, `?3` how many,
/// `?4` the lowest priority's head start, `?5` the claiming node):
/// expired leases first, then unleased rows by rank; through the partial
/// indexes only.
const CLAIM: &str =
    "UPDATE invocations SET lease_until_ms = ?2, lease_owner = ?5, attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM (
        SELECT id FROM invocations
         WHERE lease_until_ms > 0 AND lease_until_ms <= ?1 AND due_ms <= ?1
         ORDER BY rank_ms LIMIT ?3)
      UNION ALL
      SELECT id FROM (
        SELECT id FROM invocations
         WHERE lease_until_ms = 0 AND due_ms <= ?1 AND rank_ms <= ?1 + ?4
         ORDER BY rank_ms LIMIT ?3)
      LIMIT ?3)";

const COLUMNS: &str =
    "id, app, target, priority, head, body, created_ms, expires_ms, attempts, max_attempts";

fn invocation_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Invocation> {
    let priority: String = row.get(3)?;
    let target: String = row.get(2)?;
    let target = Target::decode(&target).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(Invocation {
        id: row.get(0)?,
        app: row.get(1)?,
        target,
        priority: Priority::parse(&priority).unwrap_or_default(),
        head: row.get(4)?,
        body: row.get(5)?,
        created_ms: row.get(6)?,
        expires_ms: row.get(7)?,
        attempts: row.get(8)?,
        max_attempts: row.get(9)?,
    })
}

/// Deletes a settled invocation (inside the run-recording transaction).
pub(super) fn settle(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM invocations WHERE id = ?1")
        .and_then(|mut s| s.execute([id]))
        .map(|_| ())
        .map_err(db("settling an invocation"))
}

/// Inserts invocations (see `WorkStore::enqueue_invocations`); `owner` takes
/// the leases of those stored leased.
pub(super) fn insert(
    tx: &Connection,
    new: &[NewInvocation],
    now_ms: i64,
    lease_ms: i64,
    owner: &str,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO invocations (id, app, target, priority, rank_ms, due_ms, expires_ms, attempts, max_attempts, lease_until_ms, lease_owner, created_ms, head, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(db("preparing to queue invocations"))?;
    for n in new {
        // Work due now is stored leased to this process with its
        // first attempt counted: it goes straight to the dispatcher.
        let (attempts, lease, lease_owner) = if n.due_ms <= now_ms && lease_ms > 0 {
            (1, now_ms + lease_ms, owner)
        } else {
            (0, 0, "")
        };
        stmt.execute(params![
            n.id,
            n.app,
            n.target.encode(),
            n.priority.as_str(),
            n.due_ms + n.priority.offset_ms(),
            n.due_ms,
            n.expires_ms,
            attempts,
            n.max_attempts,
            lease,
            lease_owner,
            now_ms,
            n.head,
            n.body,
        ])
        .map_err(db("queueing an invocation"))?;
    }
    Ok(())
}

impl Db {
    pub(crate) fn enqueue_invocations(
        &self,
        new: &[NewInvocation],
        now_ms: i64,
        lease_ms: i64,
        owner: &NodeId,
    ) -> Result<(), StoreError> {
        // Callers batch already (the engine's enqueuer commits whatever
        // arrived meanwhile in one call), so this writes directly: no copy
        // of the batch for the group-commit thread and no hop to it.
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to queue invocations"))?;
        insert(&tx, new, now_ms, lease_ms, owner.as_str())?;
        tx.commit().map_err(db("committing queued invocations"))
    }

    pub(crate) fn claim_invocations(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Invocation>, StoreError> {
        let mut conn = self.write();
        let tx = conn
            .transaction()
            .map_err(db("starting to claim invocations"))?;
        let claimed = {
            let mut stmt = tx
                .prepare_cached(&format!("{CLAIM} RETURNING {COLUMNS}, rank_ms"))
                .map_err(db("claiming invocations"))?;
            let rows = stmt
                .query_map(
                    params![
                        now_ms,
                        now_ms + lease_ms,
                        limit as i64,
                        Priority::Low.offset_ms(),
                        owner.as_str()
                    ],
                    |row| Ok((invocation_from_row(row)?, row.get::<_, i64>(10)?)),
                )
                .map_err(db("claiming invocations"))?;
            let mut out = rows
                .collect::<Result<Vec<_>, _>>()
                .map_err(db("reading claimed invocations"))?;
            // RETURNING has no order of its own.
            out.sort_by_key(|(_, rank)| *rank);
            out.into_iter().map(|(i, _)| i).collect()
        };
        tx.commit().map_err(db("committing claimed invocations"))?;
        Ok(claimed)
    }

    pub(crate) fn retry_invocation(
        &self,
        fence: &strato_store::Fence,
        due_ms: i64,
    ) -> Result<bool, StoreError> {
        let strato_store::WorkRef::Invocation(id) = &fence.work else {
            return Ok(false);
        };
        self.fenced(fence, |tx| {
            tx.execute(
                "UPDATE invocations SET due_ms = ?2, lease_until_ms = 0,
                 rank_ms = ?2 + CASE priority WHEN 'high' THEN ?3 WHEN 'low' THEN ?5 ELSE ?4 END
                 WHERE id = ?1",
                params![
                    id,
                    due_ms,
                    Priority::High.offset_ms(),
                    Priority::Normal.offset_ms(),
                    Priority::Low.offset_ms()
                ],
            )
            .map(|_| ())
            .map_err(db("scheduling an invocation retry"))
        })
    }

    pub(crate) fn finish_invocation(
        &self,
        fence: &strato_store::Fence,
    ) -> Result<bool, StoreError> {
        let strato_store::WorkRef::Invocation(id) = &fence.work else {
            return Ok(false);
        };
        self.fenced(fence, |tx| settle(tx, id))
    }

    pub(crate) fn pending_invocations(&self) -> Result<u64, StoreError> {
        self.read()
            .query_row("SELECT COUNT(*) FROM invocations", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db("counting invocations"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backlog of leased rows must not be walked by every sweep: the
    /// claim reads only the partial indexes.
    #[test]
    fn claiming_reads_the_partial_indexes_not_the_table() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {CLAIM}"))
            .unwrap()
            .query_map(params![1, 2, 3, 4, "n"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let text = plan.join("\n");
        assert!(text.contains("USING INDEX invocations_by_lease"), "{text}");
        assert!(
            text.contains("USING INDEX invocations_unleased_by_rank"),
            "{text}"
        );
        assert!(!text.contains("SCAN invocations"), "{text}");
    }
}
