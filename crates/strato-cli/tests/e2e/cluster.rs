//! Cluster mode: several `strato server` processes on one real PostgreSQL
//! and one S3 server for blobs (moto's, from PyPI), both started by the
//! test (or a shared blob directory, the other supported kind). Any node serves
//! any app; work is claimed from the shared store; kill -9 of a node loses
//! nothing and its work moves to the others within a lease.

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
        let db_url = runtime().block_on(postgres().fresh_database());
        let bucket = format!("blobs-{}", db_url.rsplit('/').next().unwrap());
        s3().create_bucket(&bucket).unwrap();
        let blobs = format!("s3://{bucket}/cluster");
        let lease = format!("{}ms", LEASE.as_millis());
        let endpoint = s3().endpoint();
        let nodes = (0..n)
            .map(|_| {
                Server::start_with(
                    &[
                        "--store",
                        &db_url,
                        "--blobs",
                        &blobs,
                        "--blobs-endpoint",
                        &endpoint,
                        "--blobs-access-key-id",
                        "test",
                        "--blobs-secret-access-key",
                        "test",
                        "--lease",
                        &lease,
                    ]
                    .iter()
                    .chain(extra)
                    .copied()
                    .collect::<Vec<_>>(),
                )
            })
            .collect();
        Cluster { nodes, db_url }
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

#[test]
fn nodes_share_deploys_and_work_and_a_killed_node_loses_nothing() {
    let mut cluster = Cluster::start(3);
    let token = cluster.nodes[0].token.clone();
    assert!(
        cluster.nodes.iter().all(|n| n.token == token),
        "every node agreed on one admin token"
    );
    // Every node is listed, active, by any node.
    let listed = cluster.nodes[1].cli_ok(&["nodes", "--output", "json"]);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|n| n["state"] == "active"), "{listed:?}");

    // A deploy through one node is served by every node within a second
    // or so (the others fetch the component from the shared blobs).
    let app = AppDir::new(&manifest());
    let deployed_at = Instant::now();
    cluster.nodes[0].cli_ok(&["deploy", app.path()]);
    for node in &cluster.nodes {
        wait_until(
            "every node to serve the deploy",
            Duration::from_secs(10),
            || {
                client()
                    .post(node.url("/k/echo"))
                    .body("hello")
                    .send()
                    .is_ok_and(|r| r.status() == 200)
            },
        );
    }
    let seen_in = deployed_at.elapsed();
    assert!(seen_in < Duration::from_secs(5), "{seen_in:?}");

    // 10,000 async invocations queued through the three nodes (1,000 per
    // request), each a 5 ms run; the node about to be killed takes the
    // last 3,000, so it surely holds some when it dies.
    let mut ids = Vec::new();
    for node in [0, 1, 0, 1, 0, 1, 0, 2, 2, 2] {
        ids.extend(queue_invocations(
            &cluster.nodes[node],
            1000,
            "/k/sleep?ms=5",
        ));
    }
    assert_eq!(ids.len(), 10_000);
    let victim = node_id(&cluster.nodes[2]);
    let held_by_victim = |cluster: &Cluster| {
        cluster.query(&format!(
            "SELECT count(*) FROM invocations WHERE lease_owner = '{victim}' AND lease_until_ms > 0"
        ))[0]
            .get::<_, i64>(0)
    };
    wait_until("the victim to hold work", Duration::from_secs(10), || {
        held_by_victim(&cluster) > 0
    });
    cluster.nodes[2].kill9();
    let killed_at = Instant::now();
    // Its leases run out and the others claim what it held.
    wait_until("the others to take the lost node's work", LEASE * 4, || {
        held_by_victim(&cluster) == 0
    });
    let taken_over_in = killed_at.elapsed();
    eprintln!("lost node's work held by others {taken_over_in:?} after kill -9 (lease {LEASE:?})");
    assert!(taken_over_in < LEASE * 2, "{taken_over_in:?}");

    // Every accepted invocation completes exactly once.
    let survivors = &cluster.nodes[..2];
    wait_until(
        "every invocation to finish",
        Duration::from_secs(120),
        || cluster.query("SELECT count(*) FROM invocations")[0].get::<_, i64>(0) == 0,
    );
    let rows = cluster.query(
        "SELECT event_id, count(*) FROM runs WHERE app = 'cl' AND status = 'succeeded'
         AND event_id IS NOT NULL GROUP BY event_id",
    );
    let done: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !done.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} invocations never succeeded",
        missing.len()
    );
    let twice: Vec<_> = done.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "completed more than once: {twice:?}");

    // The lost node shows as lost; the survivors still serve.
    wait_until(
        "the killed node to show as lost",
        Duration::from_secs(30),
        || {
            let listed: Vec<Value> =
                serde_json::from_str(&survivors[0].cli_ok(&["nodes", "--output", "json"])).unwrap();
            listed
                .iter()
                .any(|n| n["id"] == victim.as_str() && n["state"] == "lost")
        },
    );
    for node in survivors {
        let resp = client().post(node.url("/k/echo")).body("x").send().unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// A TCP proxy to PostgreSQL whose connections the test can cut (and
/// refuse) to partition one node from the database, then restore.
struct CuttableProxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl CuttableProxy {
    fn start(upstream: u16) -> CuttableProxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, open2) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        CuttableProxy { port, cut, open }
    }

    /// Cuts every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_node_cut_off_from_postgres_never_completes_work_another_node_took_over() {
    let db_url = runtime().block_on(postgres().fresh_database());
    let proxy = CuttableProxy::start(postgres().port());
    let proxied_url = db_url.replace(
        &format!(":{}/", postgres().port()),
        &format!(":{}/", proxy.port),
    );
    let blobs = tempfile::tempdir().unwrap();
    let blobs_dir = blobs.path().to_str().unwrap();
    let lease = format!("{}ms", LEASE.as_millis());
    let cut_off = Server::start_with(&[
        "--store",
        &proxied_url,
        "--blobs",
        blobs_dir,
        "--lease",
        &lease,
    ]);
    let healthy =
        Server::start_with(&["--store", &db_url, "--blobs", blobs_dir, "--lease", &lease]);
    let app = AppDir::new(&manifest());
    healthy.cli_ok(&["deploy", app.path()]);
    wait_until(
        "the other node to serve the deploy",
        Duration::from_secs(10),
        || {
            client()
                .post(cut_off.url("/k/echo"))
                .body("x")
                .send()
                .is_ok_and(|r| r.status() == 200)
        },
    );
    // Eight runs of 2 s, taken by the node about to be cut off.
    let ids = queue_invocations(&cut_off, 8, "/k/sleep?ms=2000");
    let victim = node_id(&cut_off);
    wait_until("the node to hold the work", Duration::from_secs(10), || {
        query(
            &db_url,
            &format!("SELECT count(*) FROM invocations WHERE lease_owner = '{victim}'"),
        )[0]
        .get::<_, i64>(0)
            == 8
    });
    proxy.cut();
    // Its leases run out; the healthy node takes the work and runs it.
    wait_until(
        "the healthy node to finish the work",
        Duration::from_secs(60),
        || query(&db_url, "SELECT count(*) FROM invocations")[0].get::<_, i64>(0) == 0,
    );
    // The cut-off node's runs ended meanwhile; once it reaches the
    // database again its records are written, fenced out.
    proxy.restore();
    wait_until(
        "the cut-off node's records",
        Duration::from_secs(60),
        || {
            query(
                &db_url,
                &format!(
                    "SELECT count(*) FROM runs WHERE app = 'cl' AND error = '{}'",
                    strato_store::SUPERSEDED.replace('\'', "''")
                ),
            )[0]
            .get::<_, i64>(0)
                == 8
        },
    );
    let rows = query(
        &db_url,
        "SELECT event_id, count(*) FROM runs WHERE app = 'cl' AND status = 'succeeded'
         AND event_id IS NOT NULL GROUP BY event_id",
    );
    let done: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for id in &ids {
        assert_eq!(
            done.get(id),
            Some(&1),
            "invocation {id} completed {:?} times",
            done.get(id)
        );
    }
    drop(cut_off);
    drop(healthy);
}

fn busy_manifest() -> String {
    format!(
        r#"
[app]
name = "busy"
[buckets.inbox]
[functions.k]
component = "{}"
timeout = "10s"
[[functions.k.on_bucket]]
bucket = "inbox"
events = ["put"]
[queues.work]
visibility_timeout = "5s"
consumer = {{ function = "k", batch_size = 10 }}
[schedules.tick]
cron = "* * * * * *"
function = "k"
payload = {{ hello = "world" }}
[tasks.job]
image = "bb:1"
retries = 1
command = ["sh", "-c", "if [ $STRATO_ATTEMPT = 1 ]; then echo first; sleep 8; else echo second-attempt; fi"]
"#,
        guest("kitchen")
    )
}

/// The texts of app `busy`'s log lines that start with `prefix`, rest only.
fn lines_after(server: &Server, prefix: &str) -> Vec<String> {
    server
        .log_texts("busy")
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|rest| rest.split(' ').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn events_messages_schedules_and_task_runs_survive_a_node_loss() {
    crate::oci_images::require_containers();
    let mut cluster = Cluster::start(3);
    // Images are per node for now: each imports the task's image.
    let archive =
        crate::oci_images::docker_archive("bb:1", &[crate::oci_images::busybox_layer()], None);
    for node in &cluster.nodes {
        let path = crate::oci_images::write(node.data_dir.path(), "bb.tar", &archive);
        node.cli_ok(&["image", "import", &path]);
    }
    let app = AppDir::new(&busy_manifest());
    cluster.nodes[1].cli_ok(&["deploy", app.path()]);
    for node in &cluster.nodes {
        wait_until("every node to run the app", Duration::from_secs(10), || {
            node.cli(&["schedules", "--app", "busy"]).status.success()
        });
    }
    // A task run taken by the node about to die.
    let victim = &cluster.nodes[2];
    let resp = client()
        .post(format!("{}/api/v1/apps/busy/tasks/job/runs", victim.api))
        .bearer_auth(&victim.token)
        .json(&Value::Null)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let task_run = resp.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Objects through two nodes' S3 APIs, messages through all three.
    let keys: Vec<String> = (0..30).map(|i| format!("obj-{i}.txt")).collect();
    for (i, key) in keys.iter().enumerate() {
        let node = &cluster.nodes[i % 2];
        let s3 = node.s3_client();
        runtime().block_on(async {
            s3.put_object()
                .bucket("inbox")
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        });
    }
    let mut sent = Vec::new();
    for (n, node) in cluster.nodes.iter().enumerate() {
        let texts: Vec<String> = (0..20).map(|i| format!("m{n}-{i}")).collect();
        let mut args = vec!["queue", "send", "busy/work"];
        args.extend(texts.iter().map(String::as_str));
        node.cli_ok(&args);
        sent.extend(texts);
    }
    let first_log = |node: &Server| node.log_texts("busy").iter().any(|l| l == "first");
    wait_until(
        "the task run's first attempt to print",
        Duration::from_secs(20),
        || first_log(&cluster.nodes[0]),
    );
    // `strato nodes` shows the node holding the run.
    let victim_id = node_id(&cluster.nodes[2]);
    let holds_it = |n: &Value| {
        n["id"] == victim_id.as_str()
            && n["load"]["holding"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|w| w.as_str() == Some(&format!("task:{task_run}")))
            })
    };
    wait_until(
        "the node's row to show the run",
        Duration::from_secs(10),
        || {
            let listed: Vec<Value> =
                serde_json::from_str(&cluster.nodes[0].cli_ok(&["nodes", "--output", "json"]))
                    .unwrap();
            listed.iter().any(holds_it)
        },
    );
    cluster.nodes[2].kill9();

    let survivor = &cluster.nodes[0];
    // The lost node's task run fails as interrupted and is retried, on a
    // node still alive.
    wait_until(
        "the task run's retry to succeed",
        Duration::from_secs(60),
        || {
            survivor
                .runs("app=busy&function=job")
                .iter()
                .any(|r| r["attempt"] == 2 && r["status"] == "succeeded")
        },
    );
    let runs = survivor.runs("app=busy&function=job");
    let first = runs.iter().find(|r| r["id"] == task_run.as_str()).unwrap();
    assert_eq!(first["status"], "failed", "{first}");
    assert!(
        first["error"]
            .as_str()
            .unwrap()
            .contains("node running it was lost"),
        "{first}"
    );
    // Every object's event delivered, once.
    wait_until("every event delivered", Duration::from_secs(60), || {
        cluster.query("SELECT count(*) FROM bucket_events WHERE NOT done")[0].get::<_, i64>(0) == 0
    });
    let delivered = cluster.query(
        "SELECT event_id, count(*) FROM runs WHERE app = 'busy' AND trigger = 'bucket'
         AND status = 'succeeded' GROUP BY event_id",
    );
    assert_eq!(delivered.len(), keys.len(), "one delivery per object");
    assert!(
        delivered.iter().all(|r| r.get::<_, i64>(1) == 1),
        "no event settled twice"
    );
    let seen = lines_after(survivor, "event ");
    for key in &keys {
        assert!(seen.contains(key), "{key} was delivered");
    }
    // Every message consumed and deleted.
    wait_until("every message consumed", Duration::from_secs(60), || {
        cluster.query("SELECT count(*) FROM queue_messages")[0].get::<_, i64>(0) == 0
    });
    // (A batch's record is written just after its messages are deleted.)
    wait_until(
        "every message's delivery to be recorded",
        Duration::from_secs(10),
        || {
            let consumed = lines_after(survivor, "message ");
            sent.iter().all(|text| consumed.contains(text))
        },
    );
    // Each schedule slot fired once, whichever node fired it.
    let fired = lines_after(survivor, "scheduled ");
    assert!(fired.len() >= 3, "{fired:?}");
    let mut distinct = fired.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), fired.len(), "a slot fired twice: {fired:?}");
    // The lost node comes back: it cleans up its leftover container and
    // rejoins.
    cluster.nodes[2].restart_after_exit();
    let back = node_id(&cluster.nodes[2]);
    wait_until("the node to rejoin", Duration::from_secs(20), || {
        let listed: Vec<Value> =
            serde_json::from_str(&cluster.nodes[0].cli_ok(&["nodes", "--output", "json"])).unwrap();
        listed
            .iter()
            .any(|n| n["id"] == back.as_str() && n["state"] == "active")
    });
    wait_until(
        "the leftover container to go",
        Duration::from_secs(30),
        || {
            !crate::support::runc_list(&cluster.nodes[2].data_dir.path().join("runc"))
                .contains(&task_run)
        },
    );
}

#[test]
fn a_drained_node_takes_no_new_work_and_leaves() {
    // Polling for other nodes' deploys every 30 s: only the deploying
    // node's NOTIFY can make the other serve it within seconds.
    let cluster = Cluster::start_with(2, &["--sync-every", "30s"]);
    let app = AppDir::new(&manifest());
    cluster.nodes[0].cli_ok(&["deploy", app.path()]);
    wait_until(
        "the other node to be woken by the deploy",
        Duration::from_secs(5),
        || {
            client()
                .post(cluster.nodes[1].url("/k/echo"))
                .body("x")
                .send()
                .is_ok_and(|r| r.status() == 200)
        },
    );
    let drained = node_id(&cluster.nodes[1]);
    let out = cluster.nodes[0].cli_ok(&["nodes", "drain", &drained]);
    assert!(out.contains("draining"), "{out}");
    let listed = |server: &Server| -> Vec<Value> {
        serde_json::from_str(&server.cli_ok(&["nodes", "--output", "json"])).unwrap()
    };
    wait_until("the node to leave", Duration::from_secs(20), || {
        listed(&cluster.nodes[0])
            .iter()
            .any(|n| n["id"] == drained.as_str() && n["state"] == "left")
    });
    // Work accepted through the drained node is left to the others.
    let ran_before = cluster.nodes[1].metric("strato_runs_total{status=\"succeeded\"}");
    let ids = queue_invocations(&cluster.nodes[1], 50, "/k/echo");
    wait_until("the work to run", Duration::from_secs(30), || {
        cluster.query("SELECT count(*) FROM invocations")[0].get::<_, i64>(0) == 0
    });
    assert_eq!(ids.len(), 50);
    let active = node_id(&cluster.nodes[0]);
    let ran_after = cluster.nodes[1].metric("strato_runs_total{status=\"succeeded\"}");
    assert_eq!(ran_after, ran_before, "the drained node ran nothing new");
    assert_ne!(active, drained);
    // An unknown node is an error.
    let err = cluster.nodes[0].cli_err(&["nodes", "drain", "nope"]);
    assert!(err.contains("no node"), "{err}");
}

#[test]
fn task_runs_go_to_nodes_with_room_and_wait_when_none_has() {
    crate::oci_images::require_containers();
    // Room for one 64 MiB run per node.
    let cluster = Cluster::start_with(2, &["--node-memory", "96MiB"]);
    let archive =
        crate::oci_images::docker_archive("bb:1", &[crate::oci_images::busybox_layer()], None);
    for node in &cluster.nodes {
        let path = crate::oci_images::write(node.data_dir.path(), "bb.tar", &archive);
        node.cli_ok(&["image", "import", &path]);
    }
    let app = AppDir::new(
        r#"
[app]
name = "place"
[tasks.job]
image = "bb:1"
memory = "64MiB"
command = ["sleep", "3"]
"#,
    );
    let entry = &cluster.nodes[0];
    entry.cli_ok(&["deploy", app.path()]);
    wait_until(
        "both nodes to have the task",
        Duration::from_secs(10),
        || cluster.query("SELECT count(*) FROM apps WHERE name = 'place'")[0].get::<_, i64>(0) == 1,
    );
    std::thread::sleep(Duration::from_secs(1));
    let start = || {
        let resp = client()
            .post(format!("{}/api/v1/apps/place/tasks/job/runs", entry.api))
            .bearer_auth(&entry.token)
            .json(&Value::Null)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 202);
        resp.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Three runs through one node: it runs one, the other node the second,
    // the third waits until one of them ends.
    let ids: Vec<String> = (0..3).map(|_| start()).collect();
    let running_on = |node: &Server| crate::support::runc_list(&node.data_dir.path().join("runc"));
    wait_until("a run on each node", Duration::from_secs(20), || {
        let (a, b) = (running_on(&cluster.nodes[0]), running_on(&cluster.nodes[1]));
        ids[..2].iter().any(|id| a.contains(id.as_str()))
            && ids[..2].iter().any(|id| b.contains(id.as_str()))
    });
    let queued = cluster.query(&format!("SELECT status FROM runs WHERE id = '{}'", ids[2]))[0]
        .get::<_, String>(0);
    assert_eq!(queued, "queued", "no node had room for the third run");
    wait_until("every run to succeed", Duration::from_secs(60), || {
        let rows =
            cluster.query("SELECT count(*) FROM runs WHERE app = 'place' AND status = 'succeeded'");
        rows[0].get::<_, i64>(0) == 3
    });
    // Every node's next heartbeat shows its memory free again.
    wait_until(
        "the reservations to be given back",
        Duration::from_secs(10),
        || {
            let nodes: Vec<Value> =
                serde_json::from_str(&entry.cli_ok(&["nodes", "--output", "json"])).unwrap();
            nodes.iter().all(|n| n["load"]["memory_reserved"] == 0)
        },
    );
}

#[test]
fn a_single_machine_deployment_moves_into_a_cluster_with_nothing_lost() {
    // A deployment on the embedded defaults: an app, a bucket with a
    // plain and an encrypted object (one large enough for blob storage),
    // runs with logs, a queued message.
    let mut solo = Server::start();
    let app = AppDir::new(&format!(
        r#"
[app]
name = "moved"
[buckets.files]
[queues.later]
[functions.k]
component = "{}"
routes = ["/k/*"]
"#,
        guest("kitchen")
    ));
    solo.cli_ok(&["deploy", app.path()]);
    let resp = client().post(solo.url("/k/log?n=3")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let big = vec![42u8; 300 << 10];
    let solo_s3 = solo.s3_client();
    runtime().block_on(async {
        solo_s3
            .put_object()
            .bucket("files")
            .key("big.bin")
            .body(aws_sdk_s3::primitives::ByteStream::from(big.clone()))
            .send()
            .await
            .unwrap();
        solo_s3
            .put_object()
            .bucket("files")
            .key("secret.txt")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"sealed"))
            .send()
            .await
            .unwrap();
    });
    solo.cli_ok(&["queue", "send", "moved/later", "kept"]);
    let old_token = solo.token.clone();
    let runs_before = solo.runs_eventually("app=moved", 1).len();
    assert_eq!(runs_before, 1);
    // Refused while its server runs.
    let db_url = runtime().block_on(postgres().fresh_database());
    let bucket = format!("blobs-{}", db_url.rsplit('/').next().unwrap());
    s3().create_bucket(&bucket).unwrap();
    let blobs = format!("s3://{bucket}/moved");
    let endpoint = s3().endpoint();
    let data_dir = solo.data_dir.path().to_str().unwrap().to_string();
    let migrate = [
        "admin",
        "migrate",
        "--data-dir",
        &data_dir,
        "--store",
        &db_url,
        "--blobs",
        &blobs,
        "--blobs-endpoint",
        &endpoint,
        "--blobs-access-key-id",
        "test",
        "--blobs-secret-access-key",
        "test",
    ];
    let err = solo.cli_err(&migrate);
    assert!(err.contains("stop it first"), "{err}");
    solo.stop();
    let said = solo.cli_ok(&migrate);
    assert!(said.contains("objects") && said.contains("blobs"), "{said}");

    // A node of the new cluster, on a fresh data dir, serves it all.
    let node = Server::start_with(&[
        "--store",
        &db_url,
        "--blobs",
        &blobs,
        "--blobs-endpoint",
        &endpoint,
        "--blobs-access-key-id",
        "test",
        "--blobs-secret-access-key",
        "test",
    ]);
    assert_eq!(node.token, old_token, "the admin token moved");
    let resp = client()
        .post(node.url("/k/echo"))
        .body("after")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "after");
    // The S3 keys moved too: the old admin key reads the objects.
    let s3 = node.s3_client_with(&solo.admin_key().0, &solo.admin_key().1);
    runtime().block_on(async {
        let got = s3
            .get_object()
            .bucket("files")
            .key("big.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), big);
        let got = s3
            .get_object()
            .bucket("files")
            .key("secret.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(
            &got.body.collect().await.unwrap().into_bytes()[..],
            b"sealed"
        );
    });
    assert_eq!(
        node.runs_eventually("app=moved", 2).len(),
        2,
        "the old run and the new one"
    );
    wait_until("the old run's log lines", Duration::from_secs(5), || {
        node.log_texts("moved").iter().any(|l| l == "stdout line 2")
    });
    let received = node.cli_ok(&["queue", "receive", "moved/later"]);
    assert!(received.contains("kept"), "{received}");
}
