//! The PostgreSQL backend against the store's conformance suite (one test
//! per check, each on a fresh database of one server started for this
//! test binary), and what only this backend promises.

use super::PostgresStore;
use crate::testkit::TestCluster;
use std::sync::{Arc, OnceLock};
use strato_store::Store;
use strato_store::prelude::*;

fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| TestCluster::start().unwrap_or_else(|e| panic!("{e}")))
}

async fn fresh_store() -> Arc<dyn Store> {
    let url = cluster().fresh_database().await;
    Arc::new(PostgresStore::connect(&url).await.unwrap())
}

strato_store::conformance_tests!(fresh_store());

/// Another node's deploy and the work it queues wake this node through
/// LISTEN/NOTIFY, well before any poll would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_nodes_changes_wake_this_node() {
    use std::time::Duration;
    let url = cluster().fresh_database().await;
    let this = PostgresStore::connect(&url).await.unwrap();
    let other = PostgresStore::connect(&url).await.unwrap();
    let wakeups = this.wakeups().expect("a shared store sends wakeups");
    let (mut state, mut work) = (wakeups.state.subscribe(), wakeups.work.subscribe());
    // The listener connects in the background; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    state.mark_unchanged();
    work.mark_unchanged();
    let spec: strato_core::RevisionSpec = serde_json::from_value(serde_json::json!({
        "app": "woken", "buckets": [], "functions": {}, "tasks": {}, "queues": {}, "schedules": {}
    }))
    .unwrap();
    other.deploy_revision(&spec, 1).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), state.changed())
        .await
        .expect("a deploy on another node wakes this one")
        .unwrap();
    let message = strato_store::NewMessage {
        id: "m1".into(),
        body: b"hi".to_vec(),
        visible_ms: 0,
        expires_ms: i64::MAX,
        traceparent: None,
    };
    other
        .send_messages("woken", "q", &[message], 1)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(2), work.changed())
        .await
        .expect("a message sent on another node wakes this one")
        .unwrap();
}
