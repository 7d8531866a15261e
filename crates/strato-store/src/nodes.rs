//! The nodes of a deployment: one row per `strato server` process (one on
//! the embedded store, several sharing PostgreSQL), written by its
//! heartbeat. A node whose heartbeat stopped is lost; its leases run out
//! and the others take its work.

use crate::NodeId;
use serde::{Deserialize, Serialize};

/// What a node is doing, as set by itself or by `strato nodes drain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Takes new work.
    Active,
    /// Asked to leave: takes no new work and finishes what it has.
    Draining,
    /// Drained, or stopped cleanly: holds nothing.
    Left,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
            NodeState::Left => "left",
        }
    }

    pub fn parse(text: &str) -> Option<NodeState> {
        [NodeState::Active, NodeState::Draining, NodeState::Left]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A node's row: who it is, where it listens, what it has and holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    /// Its listeners (`gateway`, `api`, `s3`), as URLs.
    pub addresses: serde_json::Value,
    /// Memory it may give container work, in bytes.
    pub memory_bytes: u64,
    /// CPUs it may give container work.
    pub cpus: f64,
    /// What it runs now: runs in flight, durable work in hand, memory
    /// reserved by container work (bytes), and so on; shown as is.
    pub load: serde_json::Value,
    pub state: NodeState,
    pub started_ms: i64,
    /// Its last heartbeat.
    pub heartbeat_ms: i64,
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        String::deserialize(d).map(NodeId)
    }
}
