//! Cancelling task runs through the real binary and real runc: a run
//! waiting for room ends at once, a running one is stopped, neither is
//! retried.

use crate::support::client;
use crate::support::wait_until;
use crate::tasks::{deploy, get_run, run_logs, server_with_busybox, start, wait_final};
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn cancelled_runs_stop_or_never_start_and_are_not_retried() {
    // Room for one 200 MiB run at a time: a second waits, unleased.
    let server = server_with_busybox(&["--node-memory", "300MiB"]);
    deploy(
        &server,
        r#"
[app]
name = "cx"
[tasks.long]
image = "bb:1"
memory = "200MiB"
command = ["sh", "-c", "echo started; sleep 60"]
retries = 2
stop_timeout = "1s"
"#,
    );
    let first = start(&server, "cx", "long", Value::Null);
    wait_until("the first run to start", Duration::from_secs(20), || {
        run_logs(&server, &first).contains("started")
    });
    let second = start(&server, "cx", "long", Value::Null);
    assert_eq!(get_run(&server, &second)["status"], "queued");

    // The waiting one ends at once, never started.
    let out = server.cli_ok(&["task", "cancel", &second]);
    assert!(out.contains("cancelled before it started"), "{out}");
    let ended = get_run(&server, &second);
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"], "cancelled before it started");

    // The running one is stopped, and not retried.
    let t0 = Instant::now();
    let cancel = |id: &str| {
        client()
            .post(format!("{}/api/v1/runs/{id}/cancel", server.api))
            .bearer_auth(&server.token)
            .send()
            .unwrap()
    };
    assert_eq!(cancel(&first).status(), 202);
    let stopped = wait_final(&server, &first, Duration::from_secs(20));
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "stopped, not slept out"
    );
    assert_eq!(stopped["status"], "failed", "{stopped}");
    assert!(
        stopped["error"]
            .as_str()
            .unwrap()
            .starts_with("cancelled: stopped"),
        "{stopped}"
    );
    let again = cancel(&first);
    assert_eq!(again.status(), 409);
    assert!(again.text().unwrap().contains("already ended"));
    std::thread::sleep(Duration::from_secs(2));
    let runs: Vec<Value> = client()
        .get(format!("{}/api/v1/runs?app=cx", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(runs.len(), 2, "no retries of cancelled runs: {runs:?}");
}
