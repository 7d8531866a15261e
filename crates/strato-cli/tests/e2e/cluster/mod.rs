//! Cluster mode: several `strato server` processes on one real PostgreSQL
//! and one S3 server for blobs (moto's, from PyPI), both started by the
//! test (or a shared blob directory, the other supported kind). Any node serves
//! any app; work is claimed from the shared store; kill -9 of a node loses
//! nothing and its work moves to the others within a lease. The tests:
//! `loss.rs` (kill -9 of a node), `partition.rs` (a node cut off from
//! PostgreSQL), `placement.rs` (drain, task runs placed by memory),
//! `migrate.rs` (a single-machine deployment moved into a cluster),
//! `workflows.rs` (executions on PostgreSQL, taken over from a lost node).

mod loss;
mod migrate;
mod partition;
mod placement;
mod workflows;

use crate::support::{AppDir, Server, client, guest, runtime, wait_until};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use strato_store_postgres::testkit::TestCluster;

/// One PostgreSQL server for the test binary (each test gets a database).
fn postgres() -> &'static TestCluster {
    static PG: OnceLock<TestCluster> = OnceLock::new();
    PG.get_or_init(|| TestCluster::start().unwrap_or_else(|e| panic!("{e}")))
}

/// One S3 server for the test binary (each cluster gets a bucket).
fn s3() -> &'static strato_blob::testkit::MotoServer {
    static S3: OnceLock<strato_blob::testkit::MotoServer> = OnceLock::new();
    S3.get_or_init(|| strato_blob::testkit::MotoServer::start().unwrap_or_else(|e| panic!("{e}")))
}

/// A fresh database and S3 bucket (a prefix in it) for a cluster.
struct Backing {
    db_url: String,
    blobs: String,
}

impl Backing {
    fn fresh() -> Backing {
        let db_url = runtime().block_on(postgres().fresh_database());
        let bucket = format!("blobs-{}", db_url.rsplit('/').next().unwrap());
        s3().create_bucket(&bucket).unwrap();
        Backing {
            blobs: format!("s3://{bucket}/cluster"),
            db_url,
        }
    }

    /// The store and blob flags of a node (or a migration) on it.
    fn node_args(&self) -> Vec<String> {
        [
            "--store",
            &self.db_url,
            "--blobs",
            &self.blobs,
            "--blobs-endpoint",
            &s3().endpoint(),
            "--blobs-access-key-id",
            "test",
            "--blobs-secret-access-key",
            "test",
        ]
        .map(str::to_string)
        .to_vec()
    }
}

/// A cluster of `n` nodes on a fresh database and S3 bucket.
struct Cluster {
    nodes: Vec<Server>,
    db_url: String,
}

/// Short leases, so a lost node's work moves within seconds.
const LEASE: Duration = Duration::from_secs(3);

impl Cluster {
    fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    fn start_with(n: usize, extra: &[&str]) -> Cluster {
        let backing = Backing::fresh();
        let lease = format!("{}ms", LEASE.as_millis());
        let mut args = backing.node_args();
        args.extend(["--lease".to_string(), lease]);
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let nodes = (0..n).map(|_| Server::start_with(&args)).collect();
        Cluster {
            nodes,
            db_url: backing.db_url,
        }
    }

    /// Runs a query against the cluster's database.
    fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        query(&self.db_url, sql)
    }
}

/// Runs a query against the database at `url`.
fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.query(sql, &[]).await.unwrap()
    })
}

fn node_id(server: &Server) -> String {
    std::fs::read_to_string(server.data_dir.path().join("node.id"))
        .unwrap()
        .trim()
        .to_string()
}

fn manifest() -> String {
    format!(
        r#"
[app]
name = "cl"
[functions.k]
component = "{}"
routes = ["/k/*"]
concurrency = 8
timeout = "10s"
[functions.k.async]
retries = 2
max_age = "1h"
"#,
        guest("kitchen")
    )
}

/// Queues `n` async invocations of `path` through `server`; their ids.
fn queue_invocations(server: &Server, n: usize, path: &str) -> Vec<String> {
    let items: Vec<Value> = (0..n)
        .map(|i| serde_json::json!({ "body": format!("item {i}"), "path": path }))
        .collect();
    let resp = client()
        .post(format!(
            "{}/api/v1/apps/cl/functions/k/invocations",
            server.api
        ))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({ "invocations": items }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.json::<Value>().unwrap()["invocation_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}
