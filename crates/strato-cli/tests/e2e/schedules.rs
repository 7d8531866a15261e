//! Schedules on a real server: slots fire once each (across a kill -9
//! too), to functions and queues; overlap and catch-up policies. The
//! policies' arithmetic is tested with a controlled clock in
//! `strato_core::schedule`; these check the real timer and store.

use crate::support::{AppDir, Server, client, guest, wait_until};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

fn scheduled_times(server: &Server, app: &str) -> Vec<String> {
    server
        .log_texts(app)
        .iter()
        .filter_map(|l| l.strip_prefix("scheduled "))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .collect()
}

fn assert_distinct(times: &[String]) {
    let unique: HashSet<&String> = times.iter().collect();
    assert_eq!(unique.len(), times.len(), "a slot fired twice: {times:?}");
}

#[test]
fn slots_fire_once_each_to_functions_and_queues_across_a_crash() {
    let mut server = Server::start();
    let app = AppDir::new(&format!(
        r#"
[app]
name = "sa"
[functions.k]
component = "{}"
[queues.ticks]
[schedules.every-second]
cron = "* * * * * *"
function = "k"
payload = {{ hello = "world" }}
[schedules.to-queue]
rate = "1s"
queue = "ticks"
payload = "tick"
[schedules.nightly]
cron = "30 2 * * *"
timezone = "Europe/Paris"
function = "k"
"#,
        guest("kitchen")
    ));
    server.cli_ok(&["deploy", app.path()]);
    let listed = server.cli_ok(&["schedules"]);
    assert!(listed.contains("sa/nightly"), "{listed}");
    assert!(listed.contains("cron 30 2 * * * Europe/Paris"), "{listed}");
    let json: Value =
        serde_json::from_str(&server.cli_ok(&["schedules", "--output", "json"])).unwrap();
    let nightly = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nightly")
        .unwrap();
    let next = nightly["next_ms"].as_array().unwrap();
    assert_eq!(next.len(), 3);
    // 02:30 in Paris is 01:30 UTC in winter (this test runs in November
    // or any month: check minutes and the one-day spacing).
    let (a, b) = (next[0].as_i64().unwrap(), next[1].as_i64().unwrap());
    assert_eq!((a / 60_000) % 60, 30);
    assert!(
        b - a == 86_400_000 || (b - a - 86_400_000).abs() == 3_600_000,
        "{a} {b}"
    );

    wait_until("three firings", Duration::from_secs(15), || {
        scheduled_times(&server, "sa").len() >= 3
    });
    let runs = server.runs_eventually("app=sa&function=k", 3);
    assert!(runs.iter().all(|r| r["trigger"] == "schedule"), "{runs:?}");
    let ticks: Value = client()
        .post(format!(
            "{}/api/v1/apps/sa/queues/ticks/receive",
            server.api
        ))
        .bearer_auth(&server.token)
        .json(&json!({ "max": 10 }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(!ticks["messages"].as_array().unwrap().is_empty());
    assert_eq!(ticks["messages"][0]["body"], "tick");

    // kill -9 and restart: slots already fired do not fire again.
    server.kill9();
    server.restart_after_exit();
    let before = scheduled_times(&server, "sa").len();
    wait_until("firings after the restart", Duration::from_secs(15), || {
        scheduled_times(&server, "sa").len() >= before + 2
    });
    assert_distinct(&scheduled_times(&server, "sa"));
}

#[test]
fn overlap_skip_never_runs_two_firings_at_once_and_catch_up_fires_missed_slots() {
    let mut server = Server::start();
    let app = AppDir::new(&format!(
        r#"
[app]
name = "sb"
[functions.slow]
component = "{kitchen}"
[functions.quick]
component = "{kitchen}"
[schedules.slow]
cron = "* * * * * *"
function = "slow"
payload = {{ sleep = true }}
overlap = "skip"
[schedules.quick]
rate = "1s"
function = "quick"
catch_up = "all"
catch_up_window = "1m"
"#,
        kitchen = guest("kitchen")
    ));
    server.cli_ok(&["deploy", app.path()]);
    // The slow firing sleeps 2.5 s; with one slot a second, skip means
    // at most one runs at a time, and slots in between are skipped.
    wait_until("three slow runs", Duration::from_secs(30), || {
        server.runs_eventually("app=sb&function=slow", 3).len() >= 3
    });
    let mut spans: Vec<(i64, i64)> = server
        .runs_eventually("app=sb&function=slow", 3)
        .iter()
        .map(|r| {
            let start = r["started_at_ms"].as_i64().unwrap();
            (start, start + r["duration_us"].as_i64().unwrap() / 1000)
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "overlapping firings: {spans:?}");
    }
    let listed: Value =
        serde_json::from_str(&server.cli_ok(&["schedules", "--app", "sb", "--output", "json"]))
            .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "slow")
    );

    // Down for 8 s, longer than the 5 s a slot may be late before it
    // counts as missed: `catch_up = "all"` fires the missed slots at
    // start (`none` would fire one).
    let quick_before = server.runs_eventually("app=sb&function=quick", 1).len();
    server.kill9();
    std::thread::sleep(Duration::from_secs(8));
    server.restart_after_exit();
    // Generous: under a full test run on two cores the restart and the
    // catch-up's eight runs took longer than 10 s once.
    wait_until("the missed slots to fire", Duration::from_secs(25), || {
        server
            .runs_eventually("app=sb&function=quick", quick_before + 8)
            .len()
            >= quick_before + 8
    });
    let quick: Vec<Value> = server.runs_eventually("app=sb&function=quick", 1000);
    let starts: HashSet<String> = quick
        .iter()
        .map(|r| r["event_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        starts.len(),
        quick.len(),
        "each firing is its own invocation"
    );
}
