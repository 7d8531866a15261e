//! Workflows (Step Functions state machines) through the real binary:
//! deploy with a definition, start and follow executions with the CLI,
//! task tokens through the API, durability across kill -9.

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

mod fan_out;
mod resources;
mod triggers;

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

pub(crate) fn app() -> AppDir {
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
[workflows.slow]
definition = "slow.asl.json"
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
        "slow.asl.json",
        r#"{"StartAt": "Slow", "States": {
  "Slow": {"Type": "Task", "Resource": "inc", "Parameters": {"step": "sleep", "ms": 1500, "n.$": "$.n"}, "Next": "After"},
  "After": {"Type": "Task", "Resource": "inc", "Parameters": {"step": "inc", "n.$": "$.n"}, "End": true}
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

pub(crate) fn start(server: &Server, workflow: &str, input: Value) -> Value {
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

pub(crate) fn describe(server: &Server, id: &str) -> Value {
    serde_json::from_str(&server.cli_ok(&["workflow", "describe", id, "--output", "json"])).unwrap()
}

pub(crate) fn history(server: &Server, id: &str) -> Vec<String> {
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

pub(crate) fn wait_for_end(server: &Server, id: &str, limit: Duration) -> Value {
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
    // Five more with a function call in flight when the server dies.
    let slow: Vec<String> = (0..5)
        .map(|i| {
            start(&server, "slow", json!({"n": i * 10}))["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    server.restart_after_exit();
    for (i, id) in slow.iter().enumerate() {
        let done = wait_for_end(&server, id, Duration::from_secs(30));
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        assert_eq!(done["output"]["n"], i as i64 * 10 + 2);
        let events = history(&server, id);
        let count = |kind: &str| events.iter().filter(|e| e.starts_with(kind)).count();
        assert_eq!(
            (
                count("TaskStateEntered"),
                count("TaskSucceeded"),
                count("ExecutionSucceeded")
            ),
            (2, 2, 1),
            "{events:#?}"
        );
    }
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

/// boto3's `stepfunctions` client: list and describe state machines,
/// start (and start sync), describe, list, read the history of and stop
/// executions, answer a task token; errors by AWS's codes.
const BOTO3_SFN: &str = r#"
import json, os, time, urllib.request
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sfn = boto3.client("stepfunctions", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                   aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                   config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False))

def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise SystemExit("expected an error")

def ended(arn):
    for _ in range(200):
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.05)
    raise SystemExit("still running: %s" % arn)

machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
chain, approval = machines["flows.chain"], machines["flows.approval"]
assert chain == "arn:aws:states:us-east-1:000000000000:stateMachine:flows.chain", chain
assert json.loads(sfn.describe_state_machine(stateMachineArn=chain)["definition"])["StartAt"] == "Prepare"

started = sfn.start_execution(stateMachineArn=chain, name="from-boto3", input=json.dumps({"start": 20}))
done = ended(started["executionArn"])
assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["n"] == 23, done
events = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
assert events[0]["type"] == "ExecutionStarted" and "executionStartedEventDetails" in events[0], events[0]
assert events[-1]["type"] == "ExecutionSucceeded", events[-1]
entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
assert entered == ["Prepare", "F1", "F2", "F3", "Big?", "Big"], entered
page = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=3)
assert len(page["events"]) == 3 and "nextToken" in page
assert any(e["name"] == "from-boto3" for e in sfn.list_executions(stateMachineArn=chain)["executions"])
assert code(lambda: sfn.start_execution(stateMachineArn=chain, name="from-boto3")) == "ExecutionAlreadyExists"
assert code(lambda: sfn.describe_execution(executionArn=started["executionArn"] + "x")) == "ExecutionDoesNotExist"
assert code(lambda: sfn.start_execution(stateMachineArn=chain + "x")) == "StateMachineDoesNotExist"
assert code(lambda: sfn.send_task_success(taskToken="nope", output="{}")) == "TaskDoesNotExist"

sync = sfn.start_sync_execution(stateMachineArn=chain, input=json.dumps({"start": 30}))
assert sync["status"] == "SUCCEEDED" and json.loads(sync["output"])["n"] == 33, sync

# A task token, answered through the API as a worker would.
waiting = sfn.start_execution(stateMachineArn=approval, input=json.dumps({"order": 9}))
req = urllib.request.Request(os.environ["ENDPOINT"] + "/api/v1/apps/flows/queues/approvals/receive",
    data=json.dumps({"max": 1, "wait_seconds": 5}).encode(), method="POST",
    headers={"authorization": "Bearer " + os.environ["TOKEN"], "content-type": "application/json"})
message = json.load(urllib.request.urlopen(req))["messages"][0]
token = json.loads(message["body"])["token"]
sfn.send_task_heartbeat(taskToken=token)
sfn.send_task_success(taskToken=token, output=json.dumps({"approved": "by boto3"}))
done = ended(waiting["executionArn"])
assert json.loads(done["output"])["approval"] == {"approved": "by boto3"}, done

stopped = sfn.start_execution(stateMachineArn=approval, input=json.dumps({"order": 10}))
sfn.stop_execution(executionArn=stopped["executionArn"], error="Cancelled", cause="by boto3")
d = sfn.describe_execution(executionArn=stopped["executionArn"])
assert d["status"] == "ABORTED" and d["error"] == "Cancelled", d
aborted = sfn.list_executions(stateMachineArn=approval, statusFilter="ABORTED")["executions"]
assert [e["executionArn"] for e in aborted] == [stopped["executionArn"]], aborted
print("boto3 ok")
"#;

#[test]
fn boto3_and_the_aws_cli_drive_executions_through_the_step_functions_api() {
    let server = Server::start();
    let app = app();
    server.cli_ok(&["deploy", app.path()]);
    let out = server.boto3_with(
        "the Step Functions API with boto3",
        BOTO3_SFN,
        &[("ENDPOINT", &server.api), ("TOKEN", &server.token)],
    );
    assert!(out.contains("boto3 ok"), "{out}");

    // The aws CLI: start, describe, list, answer a token.
    let (key, secret) = server.admin_key();
    let aws = |args: &[&str]| -> Value {
        let out = std::process::Command::new(py_tools().join("bin/aws"))
            .args([
                "--endpoint-url",
                &server.api,
                "--region",
                "us-east-1",
                "stepfunctions",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "aws stepfunctions {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or(Value::Null)
    };
    let machine = "arn:aws:states:us-east-1:000000000000:stateMachine:flows.approval";
    let started = aws(&[
        "start-execution",
        "--state-machine-arn",
        machine,
        "--name",
        "from-cli",
        "--input",
        r#"{"order": 11}"#,
    ]);
    let arn = started["executionArn"].as_str().unwrap().to_string();
    assert!(arn.ends_with(":flows.approval:from-cli"), "{arn}");
    // The queue also holds the request of the execution boto3 stopped.
    let mut body = Value::Null;
    wait_until(
        "the CLI execution's request",
        Duration::from_secs(10),
        || {
            let got = server.cli_ok(&["queue", "receive", "flows/approvals", "--output", "json"]);
            let got: Vec<Value> = serde_json::from_str(&got).unwrap();
            got.iter()
                .filter_map(|m| serde_json::from_str::<Value>(m["body"].as_str()?).ok())
                .find(|b| b["order"] == 11)
                .map(|b| body = b)
                .is_some()
        },
    );
    aws(&[
        "send-task-success",
        "--task-token",
        body["token"].as_str().unwrap(),
        "--task-output",
        r#"{"ok": "cli"}"#,
    ]);
    let mut described = Value::Null;
    wait_until(
        "the CLI's execution to end",
        Duration::from_secs(10),
        || {
            described = aws(&["describe-execution", "--execution-arn", &arn]);
            described["status"] != "RUNNING"
        },
    );
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let listed = aws(&["list-executions", "--state-machine-arn", machine]);
    assert!(
        listed["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "from-cli"),
        "{listed}"
    );
}
