//! Parallel and Map states through the real binary: branches and items
//! fan out and join, a MaxConcurrency holds, failures fail or are
//! tolerated and caught, a 1,000-item Map completes, and a Map half done
//! when the server is killed finishes after a restart with each
//! iteration once.

use super::{start, wait_for_end};
use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const FAN: &str = r#"{"StartAt": "Both", "States": {
  "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Each", "Branches": [
    {"StartAt": "Inc", "States": {"Inc": {"Type": "Task", "Resource": "inc",
        "Parameters": {"step": "inc", "n.$": "$.n"}, "End": true}}},
    {"StartAt": "Same", "States": {"Same": {"Type": "Pass", "OutputPath": "$.n", "End": true}}}
  ]},
  "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.each",
    "ItemSelector": {"step": "inc", "n.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
    "ItemProcessor": {"StartAt": "Add", "States": {
      "Add": {"Type": "Task", "Resource": "inc", "Next": "Breathe"},
      "Breathe": {"Type": "Wait", "Seconds": 1, "End": true}}},
    "Next": "Done"},
  "Done": {"Type": "Succeed"}
}}"#;

/// A branch that fails is caught at the Parallel; a Map tolerating one
/// failed item reports it in place; one tolerating none fails.
const FAILURES: &str = r#"{"StartAt": "Both", "States": {
  "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Tolerant",
    "Catch": [{"ErrorEquals": ["KitchenError"], "ResultPath": "$.caught", "Next": "Tolerant"}],
    "Branches": [
      {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": true}}},
      {"StartAt": "Broken", "States": {"Broken": {"Type": "Task", "Resource": "inc",
          "Parameters": {"step": "fail"}, "End": true}}}
  ]},
  "Tolerant": {"Type": "Map", "ItemsPath": "$.steps", "ToleratedFailureCount": 1,
    "ItemSelector": {"step.$": "$$.Map.Item.Value", "n": 1},
    "ItemProcessor": {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "inc", "End": true}}},
    "ResultPath": "$.tolerant", "Next": "Strict"},
  "Strict": {"Type": "Map", "ItemsPath": "$.steps",
    "ItemSelector": {"step.$": "$$.Map.Item.Value", "n": 1},
    "ItemProcessor": {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "inc", "End": true}}},
    "End": true}
}}"#;

const BIG: &str = r#"{"StartAt": "Each", "States": {
  "Each": {"Type": "Map", "ItemsPath": "$.items",
    "ItemSelector": {"step": "inc", "n.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "Add", "States": {"Add": {"Type": "Task", "Resource": "inc", "End": true}}},
    "End": true}
}}"#;

/// Items that sleep, four at a time: a kill lands mid-Map.
const SLOW: &str = r#"{"StartAt": "Each", "States": {
  "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 4,
    "ItemSelector": {"step": "inc", "n.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "Nap", "States": {
      "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Add"},
      "Add": {"Type": "Task", "Resource": "inc", "End": true}}},
    "End": true}
}}"#;

fn app() -> AppDir {
    let app = AppDir::new(&format!(
        r#"
[app]
name = "flows"
[functions.inc]
component = "{}"
[workflows.fan]
definition = "fan.asl.json"
[workflows.failures]
definition = "failures.asl.json"
[workflows.big]
definition = "big.asl.json"
[workflows.slow]
definition = "slow.asl.json"
"#,
        guest("kitchen")
    ));
    app.write("fan.asl.json", FAN);
    app.write("failures.asl.json", FAILURES);
    app.write("big.asl.json", BIG);
    app.write("slow.asl.json", SLOW);
    app
}

/// An execution's events: (type, details).
fn history_of(server: &Server, id: &str) -> Vec<(String, Value)> {
    let events: Vec<Value> =
        serde_json::from_str(&server.cli_ok(&["workflow", "history", id, "--output", "json"]))
            .unwrap();
    events
        .into_iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["details"].clone(),
            )
        })
        .collect()
}

fn count(events: &[(String, Value)], kind: &str) -> usize {
    events.iter().filter(|(k, _)| k == kind).count()
}

/// The most Map iterations open at once, replaying the history in order.
fn most_open(events: &[(String, Value)]) -> usize {
    let (mut open, mut most) = (0usize, 0usize);
    for (kind, _) in events {
        match kind.as_str() {
            "MapIterationStarted" => {
                open += 1;
                most = most.max(open);
            }
            "MapIterationSucceeded" | "MapIterationFailed" => open -= 1,
            _ => {}
        }
    }
    most
}

fn id_of(started: &Value) -> String {
    started["id"].as_str().unwrap().to_string()
}

#[test]
fn parallel_branches_and_map_items_fan_out_and_join() {
    let server = Server::start();
    let app = app();
    server.cli_ok(&["deploy", app.path()]);

    let id = id_of(&start(
        &server,
        "fan",
        json!({"n": 1, "items": [10, 20, 30, 40, 50]}),
    ));
    let done = wait_for_end(&server, &id, Duration::from_secs(30));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output = &done["output"];
    assert_eq!(output["both"], json!([{"n": 2}, 1]), "{output}");
    assert_eq!(
        output["each"],
        json!([{"n": 11}, {"n": 21}, {"n": 31}, {"n": 41}, {"n": 51}]),
        "{output}"
    );
    let events = history_of(&server, &id);
    for (kind, n) in [
        ("ParallelStateEntered", 1),
        ("ParallelStateStarted", 1),
        ("ParallelStateSucceeded", 1),
        ("ParallelStateExited", 1),
        ("MapStateStarted", 1),
        ("MapIterationStarted", 5),
        ("MapIterationSucceeded", 5),
        ("MapStateSucceeded", 1),
        ("TaskStateEntered", 6),
        ("WaitStateExited", 5),
        ("ExecutionSucceeded", 1),
    ] {
        assert_eq!(count(&events, kind), n, "{kind} in {events:#?}");
    }
    let started = events.iter().find(|(k, _)| k == "MapStateStarted").unwrap();
    assert_eq!(started.1["length"], 5);
    // MaxConcurrency 2, with each item a second long: never more than
    // two open, and at least two at once.
    assert_eq!(most_open(&events), 2, "{events:#?}");

    // Failures: a failed branch fails the Parallel (caught); a tolerated
    // item failure is reported in place; an untolerated one fails the Map.
    let id = id_of(&start(
        &server,
        "failures",
        json!({"steps": ["inc", "fail", "inc"]}),
    ));
    let done = wait_for_end(&server, &id, Duration::from_secs(30));
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"], "KitchenError", "{done}");
    let events = history_of(&server, &id);
    assert_eq!(count(&events, "ParallelStateFailed"), 1, "{events:#?}");
    assert_eq!(count(&events, "MapStateSucceeded"), 1, "{events:#?}");
    assert_eq!(count(&events, "MapStateFailed"), 1, "{events:#?}");
    let tolerant_exit = events
        .iter()
        .find(|(k, d)| k == "MapStateExited" && d["name"] == "Tolerant")
        .expect("the tolerant Map exits");
    let tolerant: Value =
        serde_json::from_str(tolerant_exit.1["output"].as_str().unwrap()).unwrap();
    assert_eq!(tolerant["caught"]["Error"], "KitchenError", "{tolerant}");
    assert_eq!(tolerant["tolerant"][0], json!({"n": 2}), "{tolerant}");
    assert_eq!(
        tolerant["tolerant"][1]["Error"], "KitchenError",
        "{tolerant}"
    );
}

#[test]
fn a_thousand_item_map_completes() {
    let server = Server::start();
    let app = app();
    server.cli_ok(&["deploy", app.path()]);
    let items: Vec<i64> = (0..1000).collect();
    let began = Instant::now();
    let id = id_of(&start(&server, "big", json!({ "items": items })));
    let done = wait_for_end(&server, &id, Duration::from_secs(120));
    let took = began.elapsed();
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output = done["output"].as_array().expect("an array");
    assert_eq!(output.len(), 1000);
    assert!(
        output
            .iter()
            .enumerate()
            .all(|(i, o)| o["n"] == i as i64 + 1),
        "outputs in item order"
    );
    let events = history_of(&server, &id);
    assert_eq!(count(&events, "MapIterationSucceeded"), 1000);
    assert_eq!(count(&events, "TaskSucceeded"), 1000);
    eprintln!("a 1,000-item Map of wasm calls took {took:?}");
}

#[test]
fn a_map_half_done_at_kill_9_finishes_with_each_iteration_once() {
    let mut server = Server::start();
    let app = app();
    server.cli_ok(&["deploy", app.path()]);
    let items: Vec<i64> = (0..24).collect();
    let id = id_of(&start(&server, "slow", json!({ "items": items })));
    // Four at a time, a second each: about a third done after 2.5 s.
    std::thread::sleep(Duration::from_millis(2_500));
    let before = history_of(&server, &id);
    let finished = count(&before, "MapIterationSucceeded");
    assert!(
        (1..24).contains(&finished),
        "a kill mid-Map: {finished} of 24 done"
    );
    server.kill9();
    server.restart_after_exit();
    let done = wait_for_end(&server, &id, Duration::from_secs(60));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output = done["output"].as_array().expect("an array");
    assert!(
        output
            .iter()
            .enumerate()
            .all(|(i, o)| o["n"] == i as i64 + 1),
        "{output:?}"
    );
    let events = history_of(&server, &id);
    for index in 0..24 {
        for kind in ["MapIterationStarted", "MapIterationSucceeded"] {
            let n = events
                .iter()
                .filter(|(k, d)| k == kind && d["index"] == index)
                .count();
            assert_eq!(n, 1, "{kind} of item {index}: {events:#?}");
        }
    }
    assert_eq!(count(&events, "WaitStateEntered"), 24);
    assert_eq!(count(&events, "MapStateSucceeded"), 1);
    assert_eq!(count(&events, "ExecutionSucceeded"), 1);
    assert!(most_open(&events) <= 4);
}
