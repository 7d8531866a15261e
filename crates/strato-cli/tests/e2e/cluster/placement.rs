//! Draining a node, and task runs placed on nodes with room.

use super::*;

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
    // Each ran, once (on the node that is not draining).
    let done = cluster.query(
        "SELECT count(DISTINCT event_id) FROM runs WHERE app = 'cl' AND status = 'succeeded'
         AND trigger = 'async'",
    )[0]
    .get::<_, i64>(0);
    assert_eq!(done as usize, ids.len());
    let ran_after = cluster.nodes[1].metric("strato_runs_total{status=\"succeeded\"}");
    assert_eq!(ran_after, ran_before, "the drained node ran nothing new");
    // An unknown node is an error.
    let err = cluster.nodes[0].cli_err(&["nodes", "drain", "nope"]);
    assert!(err.contains("no node"), "{err}");
}

#[test]
fn task_runs_go_to_nodes_with_memory_and_wait_when_none_has() {
    // Room for one 64 MiB run per node.
    three_runs_on_two_nodes(&["--node-memory", "96MiB"], r#"memory = "64MiB""#);
}

#[test]
fn task_runs_go_to_nodes_with_cpus_and_wait_when_none_has() {
    // Room for one 1-CPU run per node; a 2-CPU run fits none.
    let cluster = three_runs_on_two_nodes(&["--node-cpus", "1.5"], "cpus = 1");
    let entry = &cluster.nodes[0];
    let resp = client()
        .post(format!("{}/api/v1/apps/place/tasks/wide/runs", entry.api))
        .bearer_auth(&entry.token)
        .json(&Value::Null)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    let said = resp.text().unwrap();
    assert!(said.contains("more than any node offers"), "{said}");
}

/// Three runs of a task with `limits` through one of two nodes started
/// with `node_flags`, each node having room for one: one runs on each
/// node, the third waits until one ends. (The task's image is imported on
/// one node, run on both.)
fn three_runs_on_two_nodes(node_flags: &[&str], limits: &str) -> Cluster {
    crate::oci_images::require_containers();
    let cluster = Cluster::start_with(2, node_flags);
    let archive =
        crate::oci_images::docker_archive("bb:1", &[crate::oci_images::busybox_layer()], None);
    let path = crate::oci_images::write(cluster.nodes[1].data_dir.path(), "bb.tar", &archive);
    cluster.nodes[1].cli_ok(&["image", "import", &path]);
    let app = AppDir::new(&format!(
        r#"
[app]
name = "place"
[tasks.job]
image = "bb:1"
{limits}
command = ["sleep", "3"]
[tasks.wide]
image = "bb:1"
cpus = 2
"#
    ));
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
            nodes
                .iter()
                .all(|n| n["load"]["memory_reserved"] == 0 && n["load"]["cpus_reserved"] == 0.0)
        },
    );
    cluster
}
