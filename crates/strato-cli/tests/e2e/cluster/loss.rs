//! Kill -9 of a node while work is in flight.

use super::*;

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
    // The task's image is imported on one node; the others fetch it from
    // the shared blobs when they run it.
    let archive =
        crate::oci_images::docker_archive("bb:1", &[crate::oci_images::busybox_layer()], None);
    let path = crate::oci_images::write(cluster.nodes[0].data_dir.path(), "bb.tar", &archive);
    cluster.nodes[0].cli_ok(&["image", "import", &path]);
    let listed = cluster.nodes[2].cli_ok(&["image", "ls"]);
    assert!(listed.contains("bb:1"), "{listed}");
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
