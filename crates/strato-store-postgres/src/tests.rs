//! The PostgreSQL backend against the store's conformance suite (one test
//! per check, each on a fresh database of one server started for this
//! test binary), and what only this backend promises.

use super::PostgresStore;
use crate::testkit::TestCluster;
use std::sync::{Arc, OnceLock};
use strato_store::Store;

fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| TestCluster::start().unwrap_or_else(|e| panic!("{e}")))
}

async fn fresh_store() -> Arc<dyn Store> {
    let url = cluster().fresh_database().await;
    Arc::new(PostgresStore::connect(&url).await.unwrap())
}

strato_store::conformance_tests!(fresh_store());
