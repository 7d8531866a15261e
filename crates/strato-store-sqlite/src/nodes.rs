//! The node registry on SQLite (one row: this node), and the cheap
//! listing of live revision numbers.

use crate::{Db, db};
use rusqlite::params;
use strato_store::{NodeId, NodeInfo, NodeState, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    addresses TEXT NOT NULL,
    memory_bytes INTEGER NOT NULL,
    cpus REAL NOT NULL,
    load TEXT NOT NULL,
    state TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);
"#;

impl Db {
    pub(crate) fn heartbeat_node(&self, n: &NodeInfo) -> Result<NodeState, StoreError> {
        let state: String = self
            .write()
            .query_row(
                "INSERT INTO nodes (id, addresses, memory_bytes, cpus, load, state, started_ms, heartbeat_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET addresses = excluded.addresses,
                   memory_bytes = excluded.memory_bytes, cpus = excluded.cpus, load = excluded.load,
                   heartbeat_ms = excluded.heartbeat_ms, started_ms = excluded.started_ms,
                   state = CASE WHEN excluded.state = 'left' OR nodes.started_ms <> excluded.started_ms
                                THEN excluded.state ELSE nodes.state END
                 RETURNING state",
                params![
                    n.id.as_str(),
                    n.addresses.to_string(),
                    n.memory_bytes as i64,
                    n.cpus,
                    n.load.to_string(),
                    n.state.as_str(),
                    n.started_ms,
                    n.heartbeat_ms
                ],
                |r| r.get(0),
            )
            .map_err(db("recording a node's heartbeat"))?;
        Ok(NodeState::parse(&state).unwrap_or(NodeState::Active))
    }

    pub(crate) fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT id, addresses, memory_bytes, cpus, load, state, started_ms, heartbeat_ms
                 FROM nodes ORDER BY id",
            )
            .map_err(db("listing nodes"))?;
        let rows = stmt
            .query_map([], |r| {
                let addresses: String = r.get(1)?;
                let load: String = r.get(4)?;
                let state: String = r.get(5)?;
                Ok(NodeInfo {
                    id: NodeId(r.get(0)?),
                    addresses: serde_json::from_str(&addresses).unwrap_or_default(),
                    memory_bytes: r.get::<_, i64>(2)? as u64,
                    cpus: r.get(3)?,
                    load: serde_json::from_str(&load).unwrap_or_default(),
                    state: NodeState::parse(&state).unwrap_or(NodeState::Active),
                    started_ms: r.get(6)?,
                    heartbeat_ms: r.get(7)?,
                })
            })
            .map_err(db("listing nodes"))?;
        rows.collect::<Result<_, _>>().map_err(db("listing nodes"))
    }

    pub(crate) fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError> {
        let changed = self
            .write()
            .execute(
                "UPDATE nodes SET state = ?2 WHERE id = ?1",
                params![id.as_str(), state.as_str()],
            )
            .map_err(db("changing a node's state"))?;
        Ok(changed == 1)
    }

    pub(crate) fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare("SELECT name, live_revision FROM apps ORDER BY name")
            .map_err(db("listing live revisions"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db("listing live revisions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db("listing live revisions"))
    }
}
