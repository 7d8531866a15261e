//! Checks of the node registry.

use crate::{NodeId, NodeInfo, NodeState, Store};
use std::sync::Arc;

fn node(id: &str, state: NodeState, beat: i64) -> NodeInfo {
    NodeInfo {
        id: NodeId(id.into()),
        addresses: serde_json::json!({"api": format!("http://{id}:8090")}),
        memory_bytes: 1 << 30,
        cpus: 2.0,
        load: serde_json::json!({"runs": 0}),
        state,
        started_ms: 5,
        heartbeat_ms: beat,
    }
}

pub async fn nodes_beat_are_listed_and_drained(store: Arc<dyn Store>) {
    assert!(store.list_nodes().await.unwrap().is_empty());
    let a = node("a", NodeState::Active, 10);
    assert_eq!(store.heartbeat_node(&a).await.unwrap(), NodeState::Active);
    assert_eq!(
        store
            .heartbeat_node(&node("b", NodeState::Active, 11))
            .await
            .unwrap(),
        NodeState::Active
    );
    // A later beat replaces the row's figures.
    let mut later = a.clone();
    later.heartbeat_ms = 20;
    later.load = serde_json::json!({"runs": 3});
    store.heartbeat_node(&later).await.unwrap();
    let nodes = store.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0], later);
    assert_eq!(nodes[1].id, NodeId("b".into()));
    // Asked to drain (by any node), a node learns it from its next beat,
    // which does not undo it.
    assert!(
        store
            .set_node_state(&NodeId("a".into()), NodeState::Draining)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_node_state(&NodeId("nope".into()), NodeState::Draining)
            .await
            .unwrap()
    );
    assert_eq!(
        store.heartbeat_node(&later).await.unwrap(),
        NodeState::Draining
    );
    // A node leaving says so itself.
    let left = node("a", NodeState::Left, 30);
    assert_eq!(store.heartbeat_node(&left).await.unwrap(), NodeState::Left);
    let nodes = store.list_nodes().await.unwrap();
    assert_eq!(nodes[0].state, NodeState::Left);
    assert_eq!(nodes[0].heartbeat_ms, 30);
    // Restarted (a new process), it is active again.
    let mut restarted = node("a", NodeState::Active, 40);
    restarted.started_ms = 35;
    assert_eq!(
        store.heartbeat_node(&restarted).await.unwrap(),
        NodeState::Active
    );
}
