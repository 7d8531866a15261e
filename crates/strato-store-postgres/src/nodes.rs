//! The node registry on PostgreSQL: one row per node, written by its
//! heartbeat, read by `strato nodes` and by placement.

use crate::db::{query, query_one};
use deadpool_postgres::GenericClient;
use strato_store::{NodeId, NodeInfo, NodeState, StoreError};

pub(crate) async fn heartbeat(
    c: &impl GenericClient,
    n: &NodeInfo,
) -> Result<NodeState, StoreError> {
    let row = query_one(
        c,
        "recording a node's heartbeat",
        "INSERT INTO nodes (id, addresses, memory_bytes, cpus, load, state, started_ms, heartbeat_ms)
         VALUES ($1, $2::text::jsonb, $3, $4, $5::text::jsonb, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET addresses = excluded.addresses,
           memory_bytes = excluded.memory_bytes, cpus = excluded.cpus, load = excluded.load,
           heartbeat_ms = excluded.heartbeat_ms, started_ms = excluded.started_ms,
           state = CASE WHEN excluded.state = 'left' OR nodes.started_ms <> excluded.started_ms
                        THEN excluded.state ELSE nodes.state END
         RETURNING state",
        &[
            &n.id.as_str(),
            &n.addresses.to_string(),
            &(n.memory_bytes as i64),
            &n.cpus,
            &n.load.to_string(),
            &n.state.as_str(),
            &n.started_ms,
            &n.heartbeat_ms,
        ],
    )
    .await?;
    Ok(NodeState::parse(row.get(0)).unwrap_or(NodeState::Active))
}

pub(crate) async fn list(c: &impl GenericClient) -> Result<Vec<NodeInfo>, StoreError> {
    let rows = query(
        c,
        "listing nodes",
        "SELECT id, addresses::text, memory_bytes, cpus, load::text, state, started_ms, heartbeat_ms
         FROM nodes ORDER BY id",
        &[],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| NodeInfo {
            id: NodeId(r.get(0)),
            addresses: serde_json::from_str(r.get(1)).unwrap_or_default(),
            memory_bytes: r.get::<_, i64>(2) as u64,
            cpus: r.get(3),
            load: serde_json::from_str(r.get(4)).unwrap_or_default(),
            state: NodeState::parse(r.get(5)).unwrap_or(NodeState::Active),
            started_ms: r.get(6),
            heartbeat_ms: r.get(7),
        })
        .collect())
}
