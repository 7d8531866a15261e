//! Task resources beyond functions, through the real binary: container
//! tasks by `ecs:runTask` (and `.sync`, with a non-zero exit caught),
//! nested executions by `states:startExecution` (`.sync`, `.sync:2`, a
//! failing child), an execution's TimeoutSeconds, and the idempotency
//! key a function sees on every retry of one state's entry.

use super::{history, start, wait_for_end};
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

const ECS: &str = r#"{"StartAt": "Run", "States": {
  "Run": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
    "Parameters": {"Cluster": "default", "LaunchType": "FARGATE",
      "TaskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/job:1",
      "Overrides": {"ContainerOverrides": [{"Name": "job", "Environment": [
        {"Name": "SIZE", "Value.$": "$.size"}, {"Name": "CODE", "Value.$": "$.code"}]}]}},
    "ResultSelector": {"exit.$": "$.Containers[0].ExitCode", "status.$": "$.LastStatus"},
    "ResultPath": "$.run",
    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.failed", "Next": "Failed"}],
    "Next": "Fire"},
  "Fire": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask",
    "Parameters": {"TaskDefinition": "job"},
    "ResultSelector": {"status.$": "$.Tasks[0].LastStatus"}, "ResultPath": "$.fired", "End": true},
  "Failed": {"Type": "Pass", "End": true}
}}"#;

const PARENT: &str = r#"{"StartAt": "Child", "States": {
  "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
    "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:flows.child",
                   "Input": {"n.$": "$.n"}},
    "ResultSelector": {"n.$": "$.Output.n"}, "Next": "Text"},
  "Text": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
    "Parameters": {"StateMachineArn": "child", "Input": {"n.$": "$.n"}},
    "ResultSelector": {"output.$": "$.Output", "status.$": "$.Status"}, "ResultPath": "$.text", "Next": "Fire"},
  "Fire": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
    "Parameters": {"StateMachineArn": "child", "Name": "fired", "Input": {"n": 100}},
    "ResultSelector": {"arn.$": "$.ExecutionArn"}, "ResultPath": "$.fired", "End": true}
}}"#;

const CHILD: &str = r#"{"StartAt": "Inc", "States": {
  "Inc": {"Type": "Task", "Resource": "inc", "Parameters": {"step": "inc", "n.$": "$.n"}, "End": true}
}}"#;

const ORPHAN: &str = r#"{"StartAt": "Doomed", "States": {
  "Doomed": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
    "Parameters": {"StateMachineArn": "doomed"}, "End": true}
}}"#;

const DOOMED: &str = r#"{"StartAt": "Fail", "States": {
  "Fail": {"Type": "Task", "Resource": "inc", "Parameters": {"step": "fail"}, "End": true}
}}"#;

const SLOW: &str = r#"{"TimeoutSeconds": 1, "StartAt": "Nap", "States": {
  "Nap": {"Type": "Wait", "Seconds": 30, "End": true}
}}"#;

const FLAKY: &str = r#"{"StartAt": "Flaky", "States": {
  "Flaky": {"Type": "Task", "Resource": "inc",
    "Parameters": {"step": "flaky", "retry.$": "$$.State.RetryCount"},
    "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}],
    "End": true}
}}"#;

fn app() -> AppDir {
    let app = AppDir::new(&format!(
        r#"
[app]
name = "flows"
[functions.inc]
component = "{}"
[tasks.job]
image = "bb:1"
command = ["sh", "-c", "echo job of size $SIZE; exit ${{CODE:-0}}"]
[workflows.ecs]
definition = "ecs.asl.json"
[workflows.parent]
definition = "parent.asl.json"
[workflows.child]
definition = "child.asl.json"
[workflows.orphan]
definition = "orphan.asl.json"
[workflows.doomed]
definition = "doomed.asl.json"
[workflows.slow]
definition = "slow.asl.json"
[workflows.flaky]
definition = "flaky.asl.json"
"#,
        guest("kitchen")
    ));
    for (file, text) in [
        ("ecs.asl.json", ECS),
        ("parent.asl.json", PARENT),
        ("child.asl.json", CHILD),
        ("orphan.asl.json", ORPHAN),
        ("doomed.asl.json", DOOMED),
        ("slow.asl.json", SLOW),
        ("flaky.asl.json", FLAKY),
    ] {
        app.write(file, text);
    }
    app
}

fn id_of(started: &Value) -> String {
    started["id"].as_str().unwrap().to_string()
}

fn runs_of(server: &Server, function: &str) -> Vec<Value> {
    client()
        .get(format!(
            "{}/api/v1/runs?app=flows&function={function}&limit=100",
            server.api
        ))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn container_tasks_nested_executions_timeouts_and_idempotency_keys() {
    let server = crate::tasks::server_with_busybox(&[]);
    let app = app();
    server.cli_ok(&["deploy", app.path()]);
    let wait = Duration::from_secs(60);

    // ecs:runTask.sync waits for the exit; a plain runTask does not.
    let id = id_of(&start(&server, "ecs", json!({"size": "64", "code": "0"})));
    let done = wait_for_end(&server, &id, wait);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["output"]["run"],
        json!({"exit": 0, "status": "STOPPED"})
    );
    assert_eq!(done["output"]["fired"]["status"], "PROVISIONING");
    // Its run's log has the override; its event is the state's key.
    let runs = runs_of(&server, "job");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(runs.iter().all(|r| r["trigger"] == "workflow"), "{runs:#?}");
    // The synced run is the older one (the fired one started after it).
    let synced = runs
        .iter()
        .min_by_key(|r| r["started_at_ms"].as_i64())
        .expect("the synced run");
    assert_eq!(synced["exit_code"], 0, "{synced}");
    assert!(
        synced["event_id"].as_str().unwrap().starts_with(&id),
        "{synced}"
    );
    let logs = server.cli_ok(&["logs", "flows/job", "--run", synced["id"].as_str().unwrap()]);
    assert!(logs.contains("job of size 64"), "{logs}");
    // A non-zero exit is States.TaskFailed, caught.
    let id = id_of(&start(&server, "ecs", json!({"size": "1", "code": "3"})));
    let done = wait_for_end(&server, &id, wait);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let failed = &done["output"]["failed"];
    assert_eq!(failed["Error"], "States.TaskFailed", "{failed}");
    let cause: Value = serde_json::from_str(failed["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["Containers"][0]["ExitCode"], 3, "{cause}");

    // Nested executions: .sync:2 (output as JSON), .sync (as text), and
    // one fired and forgotten.
    let id = id_of(&start(&server, "parent", json!({"n": 1})));
    let done = wait_for_end(&server, &id, wait);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output = &done["output"];
    assert_eq!(output["n"], 2, "{output}");
    assert_eq!(
        output["text"],
        json!({"output": "{\"n\":3}", "status": "SUCCEEDED"})
    );
    assert!(
        output["fired"]["arn"]
            .as_str()
            .unwrap()
            .ends_with(":execution:flows.child:fired"),
        "{output}"
    );
    let listed: Vec<Value> =
        serde_json::from_str(&server.cli_ok(&["workflow", "ls", "--output", "json"])).unwrap();
    let fired = listed
        .iter()
        .find(|e| e["name"] == "fired")
        .expect("the fired child is listed");
    let fired = wait_for_end(&server, fired["id"].as_str().unwrap(), wait);
    assert_eq!(fired["output"], json!({"n": 101}));
    // A child that fails fails its parent's state.
    let id = id_of(&start(&server, "orphan", json!({})));
    let done = wait_for_end(&server, &id, wait);
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"], "States.TaskFailed", "{done}");
    assert!(
        done["cause"].as_str().unwrap().contains("KitchenError"),
        "{done}"
    );

    // TimeoutSeconds ends an execution TIMED_OUT.
    let id = id_of(&start(&server, "slow", json!({})));
    let done = wait_for_end(&server, &id, Duration::from_secs(10));
    assert_eq!(done["status"], "TIMED_OUT", "{done}");
    assert_eq!(done["error"], "States.Timeout", "{done}");
    assert!(
        history(&server, &id)
            .iter()
            .any(|e| e == "ExecutionTimedOut")
    );

    // Every attempt of one state's entry carries the same key (the
    // runs' event id, the function's `ce-id`), naming the execution.
    let id = id_of(&start(&server, "flaky", json!({})));
    let done = wait_for_end(&server, &id, wait);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    // Runs are recorded in batches off the run's path: the last attempt's
    // record may land a few milliseconds after the execution ends.
    let attempts = || -> Vec<String> {
        runs_of(&server, "inc")
            .iter()
            .filter_map(|r| r["event_id"].as_str())
            .filter(|k| k.starts_with(&format!("{id}:")))
            .map(str::to_string)
            .collect()
    };
    crate::support::wait_until("three recorded attempts", Duration::from_secs(5), || {
        attempts().len() >= 3
    });
    let keys = attempts();
    assert_eq!(keys.len(), 3, "three attempts: {keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}

/// A task waiting for its token: heartbeats keep it alive past its
/// HeartbeatSeconds, their absence ends it `States.HeartbeatTimeout`; a
/// TimeoutSeconds ends one `States.Timeout`. Both caught.
const BEAT: &str = r#"{"StartAt": "Wait", "States": {
  "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
    "Parameters": {"QueueUrl": "beats", "MessageBody": {"token.$": "$$.Task.Token"}},
    "HeartbeatSeconds": 2, "TimeoutSeconds": 60, "ResultPath": "$.answer",
    "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Silent"}],
    "Next": "Short"},
  "Short": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
    "Parameters": {"QueueUrl": "beats", "MessageBody": "never answered"},
    "TimeoutSeconds": 1, "ResultPath": "$.short",
    "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Late"}],
    "End": true},
  "Silent": {"Type": "Fail", "Error": "Silent"},
  "Late": {"Type": "Succeed"}
}}"#;

#[test]
fn heartbeats_keep_a_waiting_task_alive_and_timeouts_end_it() {
    let server = Server::start();
    let app = AppDir::new(
        "[app]\nname = \"flows\"\n[queues.beats]\n[workflows.beat]\ndefinition = \"beat.asl.json\"\n",
    );
    app.write("beat.asl.json", BEAT);
    server.cli_ok(&["deploy", app.path()]);
    let receive = || -> Option<Value> {
        let out = server.cli_ok(&["queue", "receive", "flows/beats", "--output", "json"]);
        let got: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
        got.into_iter().next()
    };
    let answer = |kind: &str, body: Value| {
        client()
            .post(format!("{}/api/v1/workflow-tasks/{kind}", server.api))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .unwrap()
            .status()
    };

    // Heartbeats every 0.5 s for 4 s (twice the HeartbeatSeconds), then an
    // answer: the task lives on to it.
    let id = id_of(&start(&server, "beat", json!({})));
    let mut message = None;
    wait_until("the token", Duration::from_secs(10), || {
        message = receive();
        message.is_some()
    });
    let body: Value = serde_json::from_str(message.unwrap()["body"].as_str().unwrap()).unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    for _ in 0..8 {
        assert_eq!(answer("heartbeat", json!({"token": token})), 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        answer("success", json!({"token": token, "output": {"ok": 1}})),
        200
    );
    // Then the short task times out after a second, caught.
    let done = wait_for_end(&server, &id, Duration::from_secs(10));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["answer"], json!({"ok": 1}));
    assert_eq!(
        done["output"]["timeout"]["Error"], "States.Timeout",
        "{done}"
    );
    assert!(history(&server, &id).iter().any(|e| e == "TaskTimedOut"));

    // Without heartbeats the first task ends after its HeartbeatSeconds.
    let id = id_of(&start(&server, "beat", json!({})));
    let done = wait_for_end(&server, &id, Duration::from_secs(10));
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"], "Silent", "{done}");
}
