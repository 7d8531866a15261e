//! Workflows (Step Functions state machines) through the real binary:
//! deploy with a definition, start and follow executions with the CLI,
//! task tokens through the API, durability across kill -9.

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The seed's chain: a Pass, then `inc` three times (as a name, a Lambda
/// ARN and through lambda:invoke), a Choice on the result, a flaky step
/// retried until it works, a failing one caught.
const CHAIN: &str = r#"{
  "Comment": "F1 -> F2 -> F3, then choose",
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Parameters": {"step": "inc", "n.$": "$.start"}, "Next": "F1"},
    "F1": {"Type": "Task", "Resource": "inc", "Next": "F2"},
    "F2": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:inc",
           "Parameters": {"step": "inc", "n.$": "$.n"}, "Next": "F3"},
    "F3": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
           "Parameters": {"FunctionName": "inc", "Payload": {"step": "inc", "n.$": "$.n"}},
           "ResultSelector": {"n.$": "$.Payload.n"}, "Next": "Big?"},
    "Big?": {"Type": "Choice",
             "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
             "Default": "Flaky"},
    "Big": {"Type": "Succeed"},
    "Flaky": {"Type": "Task", "Resource": "inc",
              "Parameters": {"step": "flaky", "retry.$": "$$.State.RetryCount"},
              "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}],
              "ResultPath": "$.flaky", "Next": "Doomed"},
    "Doomed": {"Type": "Task", "Resource": "inc", "Parameters": {"step": "fail"},
               "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Done"}],
               "Next": "Done"},
    "Done": {"Type": "Pass", "End": true}
  }
}"#;

fn app() -> AppDir {
    let app = AppDir::new(&format!(
        r#"
[app]
name = "flows"
[queues.approvals]
[functions.inc]
component = "{}"
[workflows.chain]
definition = "chain.asl.json"
[workflows.approval]
definition = "approval.asl.json"
[workflows.pause]
definition = "pause.asl.json"
"#,
        guest("kitchen")
    ));
    app.write("chain.asl.json", CHAIN);
    app.write(
        "approval.asl.json",
        r#"{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
          "Parameters": {"QueueUrl": "approvals", "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
          "TimeoutSeconds": 60, "ResultPath": "$.approval", "Next": "Approved"},
  "Approved": {"Type": "Succeed"}
}}"#,
    );
    app.write(
        "pause.asl.json",
        r#"{"StartAt": "Nap", "States": {
  "Nap": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "After"},
  "After": {"Type": "Task", "Resource": "inc", "Parameters": {"step": "inc", "n.$": "$.n"}, "End": true}
}}"#,
    );
    app
}

fn start(server: &Server, workflow: &str, input: Value) -> Value {
    let out = server.cli_ok(&[
        "workflow",
        "start",
        &format!("flows/{workflow}"),
        "--input",
        &input.to_string(),
        "--output",
        "json",
    ]);
    serde_json::from_str(&out).unwrap()
}

fn describe(server: &Server, id: &str) -> Value {
    serde_json::from_str(&server.cli_ok(&["workflow", "describe", id, "--output", "json"])).unwrap()
}

fn history(server: &Server, id: &str) -> Vec<String> {
    let events: Vec<Value> =
        serde_json::from_str(&server.cli_ok(&["workflow", "history", id, "--output", "json"]))
            .unwrap();
    events
        .iter()
        .map(|e| {
            let name = e["details"]["name"].as_str().unwrap_or("");
            format!("{} {name}", e["type"].as_str().unwrap())
                .trim()
                .to_string()
        })
        .collect()
}

fn wait_for_end(server: &Server, id: &str, limit: Duration) -> Value {
    let mut last = Value::Null;
    wait_until("the execution to end", limit, || {
        last = describe(server, id);
        last["status"] != "RUNNING"
    });
    last
}

#[test]
fn chains_of_functions_choose_retry_and_catch() {
    let server = Server::start();
    let app = app();
    let said = server.cli_ok(&["deploy", app.path()]);
    assert!(said.contains("+ create workflow chain"), "{said}");

    // Small numbers: the long way, through the flaky step and the catch.
    let out = server.cli_ok(&[
        "workflow",
        "start",
        "flows/chain",
        "--input",
        r#"{"start": 1}"#,
        "--wait",
        "--output",
        "json",
    ]);
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output = &done["output"];
    assert_eq!(output["n"], 4, "{output}");
    assert_eq!(output["flaky"], json!({"recovered": 2}), "{output}");
    assert_eq!(output["caught"]["Error"], "KitchenError", "{output}");
    let id = done["id"].as_str().unwrap();
    let events = history(&server, id);
    let count = |kind: &str| events.iter().filter(|e| e.starts_with(kind)).count();
    assert_eq!(events.first().map(String::as_str), Some("ExecutionStarted"));
    assert_eq!(
        events.last().map(String::as_str),
        Some("ExecutionSucceeded")
    );
    // Each state entered once; the flaky task failed twice, then worked.
    assert_eq!(count("TaskStateEntered Flaky"), 1, "{events:#?}");
    assert_eq!(count("TaskFailed"), 3, "{events:#?}");
    assert_eq!(count("TaskSucceeded"), 4, "{events:#?}");
    assert_eq!(count("ChoiceStateEntered Big?"), 1);
    // Every task call is a run of `inc` triggered by the workflow.
    let runs: Vec<Value> =
        serde_json::from_str(&server.cli_ok(&["runs", "--app", "flows", "--output", "json"]))
            .unwrap();
    assert_eq!(runs.len(), 7, "{runs:#?}");
    assert!(runs.iter().all(|r| r["trigger"] == "workflow"), "{runs:#?}");

    // Big numbers take the other branch; names are unique per workflow.
    let big = server.cli_ok(&[
        "workflow",
        "start",
        "flows/chain",
        "--input",
        r#"{"start": 20}"#,
        "--name",
        "big",
        "--wait",
        "--output",
        "json",
    ]);
    let big: Value = serde_json::from_str(&big).unwrap();
    assert_eq!(
        (big["status"].as_str(), big["output"]["n"].as_i64()),
        (Some("SUCCEEDED"), Some(23))
    );
    let err = server.cli_err(&["workflow", "start", "flows/chain", "--name", "big"]);
    assert!(err.contains("exists already"), "{err}");
    let listed = server.cli_ok(&["workflow", "ls", "--app", "flows"]);
    assert!(
        listed.contains("big") && listed.contains("SUCCEEDED"),
        "{listed}"
    );

    // A definition mistake is refused at its line, naming the state.
    let bad = AppDir::new(&format!(
        "[app]\nname = \"broken\"\n[functions.inc]\ncomponent = \"{}\"\n[workflows.w]\ndefinition = \"w.asl.json\"\n",
        guest("kitchen")
    ));
    bad.write(
        "w.asl.json",
        "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": {\"Type\": \"Task\", \"Resource\": \"inc\", \"Next\": \"Nope\"}\n  }\n}\n",
    );
    let err = server.cli_err(&["deploy", bad.path()]);
    assert!(
        err.contains("w.asl.json:4:") && err.contains("\"A\"") && err.contains("Nope"),
        "{err}"
    );
    bad.write(
        "w.asl.json",
        r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "missing", "End": true}}}"#,
    );
    let err = server.cli_err(&["deploy", bad.path()]);
    assert!(err.contains("function `missing`"), "{err}");
}

#[test]
fn task_tokens_wait_for_their_answer_and_executions_stop() {
    let server = Server::start();
    let app = app();
    server.cli_ok(&["deploy", app.path()]);
    let started = start(&server, "approval", json!({"order": 7}));
    let id = started["id"].as_str().unwrap().to_string();
    // The message carries the token; answer it as a worker would.
    let mut message = Value::Null;
    wait_until("the approval request", Duration::from_secs(10), || {
        let out = server.cli_ok(&["queue", "receive", "flows/approvals", "--output", "json"]);
        let got: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
        match got.first() {
            Some(m) => {
                message = m.clone();
                true
            }
            None => false,
        }
    });
    let body: Value = serde_json::from_str(message["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["order"], 7);
    let token = body["token"].as_str().unwrap();
    assert_eq!(describe(&server, &id)["status"], "RUNNING");
    let answer = |kind: &str, body: Value| {
        client()
            .post(format!("{}/api/v1/workflow-tasks/{kind}", server.api))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .unwrap()
    };
    assert_eq!(answer("heartbeat", json!({"token": token})).status(), 200);
    assert_eq!(
        answer(
            "success",
            json!({"token": token, "output": {"approved": true}})
        )
        .status(),
        200
    );
    let done = wait_for_end(&server, &id, Duration::from_secs(10));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["approval"], json!({"approved": true}));
    // A token answers once.
    let again = answer("success", json!({"token": token, "output": {}}));
    assert_eq!(again.status(), 400);
    assert!(again.text().unwrap().contains("no longer waiting"));

    // Stopping a waiting execution aborts it.
    let waiting = start(&server, "approval", json!({"order": 8}));
    let id = waiting["id"].as_str().unwrap();
    let said = server.cli_ok(&["workflow", "stop", id, "--error", "Cancelled"]);
    assert!(said.contains("stopped"), "{said}");
    let stopped = describe(&server, id);
    assert_eq!(
        (stopped["status"].as_str(), stopped["error"].as_str()),
        (Some("ABORTED"), Some("Cancelled"))
    );
    assert_eq!(
        history(&server, id).last().map(String::as_str),
        Some("ExecutionAborted")
    );
}

#[test]
fn executions_resume_after_kill_9_with_each_transition_once() {
    let mut server = Server::start();
    let app = app();
    server.cli_ok(&["deploy", app.path()]);
    // Ten executions asleep in a Wait state when the server dies.
    let ids: Vec<String> = (0..10)
        .map(|i| {
            start(&server, "pause", json!({"seconds": 2, "n": i}))["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    server.restart_after_exit();
    for (i, id) in ids.iter().enumerate() {
        let done = wait_for_end(&server, id, Duration::from_secs(30));
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        assert_eq!(done["output"]["n"], i as i64 + 1);
        let events = history(&server, id);
        let once = |kind: &str| events.iter().filter(|e| e.starts_with(kind)).count() == 1;
        assert!(
            once("WaitStateEntered")
                && once("WaitStateExited")
                && once("TaskStateEntered")
                && once("ExecutionSucceeded"),
            "{events:#?}"
        );
    }
}
