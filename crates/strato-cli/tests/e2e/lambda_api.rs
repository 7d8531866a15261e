//! The Lambda Invoke API on the control listener, driven by the clients
//! users have: boto3's `lambda` client and `aws lambda` from PyPI (the
//! test command installs both into `~/.cache/strato-py`).

use crate::support::*;
use std::process::Command;

const APP: &str = r#"[app]
name = "inv"

[functions.echo]
runtime = "python3.11"
handler = "app.echo"
code = "src"

[functions.fail]
runtime = "python3.11"
handler = "app.fail"
code = "src"

[functions.slow]
runtime = "python3.11"
handler = "app.slow"
code = "src"
concurrency = 1
"#;

const HANDLERS: &str = r#"import time

def echo(event, context):
    print("echo saw", event.get("marker"))
    return {"got": event, "function": context.function_name}

def fail(event, context):
    raise ValueError("nope")

def slow(event, context):
    time.sleep(event.get("sleep", 0))
    return "rested"
"#;

/// boto3 against Strato: every invocation type, Tail logs, errors as AWS
/// names them, the function listings and a waiter. Asserts in Python; a
/// failure exits non-zero with the traceback.
const BOTO3_SCRIPT: &str = r#"
import base64, json, os, sys, threading, time
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = os.environ["ENDPOINT"]
def client(key, secret):
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}))
lam = client(os.environ["KEY"], os.environ["SECRET"])

def code_of(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an error")

# RequestResponse with the log's tail.
r = lam.invoke(FunctionName="inv.echo", Payload=json.dumps({"marker": "sync-1"}), LogType="Tail")
assert r["StatusCode"] == 200, r
assert "FunctionError" not in r, r
assert r["ExecutedVersion"] == "$LATEST", r
body = json.loads(r["Payload"].read())
assert body == {"got": {"marker": "sync-1"}, "function": "inv.echo"}, body
tail = base64.b64decode(r["LogResult"]).decode()
assert "echo saw sync-1" in tail, tail
assert "REPORT RequestId:" in tail, tail

# A bare name works when one app has it; so do ARNs and $LATEST.
arn = "arn:aws:lambda:us-east-1:000000000000:function:inv.echo:$LATEST"
for name in ["echo", arn, "000000000000:function:inv.echo"]:
    r = lam.invoke(FunctionName=name, Payload=b'{"marker": "by-name"}')
    assert json.loads(r["Payload"].read())["got"]["marker"] == "by-name", name

# A handler's exception: 200 with FunctionError and Lambda's error document.
r = lam.invoke(FunctionName="inv.fail", Payload=b"{}")
assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled", r
err = json.loads(r["Payload"].read())
assert err["errorType"] == "ValueError" and err["errorMessage"] == "nope", err

# Event: accepted (202) and run later; DryRun: checked only (204).
r = lam.invoke(FunctionName="inv.echo", InvocationType="Event", Payload=b'{"marker": "async-1"}')
assert r["StatusCode"] == 202, r
r = lam.invoke(FunctionName="inv.echo", InvocationType="DryRun", Payload=b'{"marker": "dry-1"}')
assert r["StatusCode"] == 204, r

# AWS's errors.
assert code_of(lambda: lam.invoke(FunctionName="inv.nope")) == ("ResourceNotFoundException", 404)
assert code_of(lambda: lam.invoke(FunctionName="inv.echo:7")) == ("ResourceNotFoundException", 404)
assert code_of(lambda: lam.invoke(FunctionName="inv.echo", Payload=b"{not json")) == ("InvalidRequestContentException", 400)
big = json.dumps({"pad": "x" * (6 * 1024 * 1024 + 10)})
assert code_of(lambda: lam.invoke(FunctionName="inv.echo", Payload=big)) == ("RequestTooLargeException", 413)
bad_secret = client(os.environ["KEY"], "not-the-secret")
assert code_of(lambda: bad_secret.invoke(FunctionName="inv.echo")) == ("InvalidSignatureException", 403)
unknown = client("STRATONOSUCHKEY", "whatever")
assert code_of(lambda: unknown.invoke(FunctionName="inv.echo")) == ("UnrecognizedClientException", 403)
other_app = client(os.environ["OTHER_KEY"], os.environ["OTHER_SECRET"])
assert code_of(lambda: other_app.invoke(FunctionName="inv.echo")) == ("AccessDeniedException", 403)
assert other_app.list_functions()["Functions"] == []

# One slow invocation holds the only slot; the next is throttled.
slow = threading.Thread(target=lambda: lam.invoke(FunctionName="inv.slow", Payload=b'{"sleep": 3}'))
slow.start()
time.sleep(1.5)
assert code_of(lambda: lam.invoke(FunctionName="inv.slow", Payload=b"{}")) == ("TooManyRequestsException", 429)
slow.join()

# Listings and waiters.
f = lam.get_function(FunctionName="inv.echo")
conf = f["Configuration"]
assert conf["FunctionName"] == "inv.echo" and conf["Runtime"] == "python3.11", conf
assert conf["Handler"] == "app.echo" and conf["State"] == "Active", conf
assert conf["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:inv.echo", conf
lam.get_waiter("function_active_v2").wait(FunctionName="inv.echo")
lam.get_waiter("function_updated").wait(FunctionName="inv.echo")
names = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}) for f in page["Functions"]]
assert names == ["inv.echo", "inv.fail", "inv.kitchen", "inv.slow"], names
kitchen = lam.get_function_configuration(FunctionName="inv.kitchen")
assert kitchen["PackageType"] == "Zip" and "Runtime" not in kitchen, kitchen

# A wasm function takes the payload as the body of a POST /; an error
# status is a function error.
r = lam.invoke(FunctionName="inv.kitchen", Payload=b'{"key": "a.txt"}')
assert r["StatusCode"] == 200 and "FunctionError" not in r, r
assert r["Payload"].read() == b"ok\n"
r = lam.invoke(FunctionName="inv.kitchen", Payload=b'{"key":"x-fail"}')
assert r["FunctionError"] == "Unhandled", r
assert json.loads(r["Payload"].read())["errorMessage"] == "failing on purpose"
print("boto3 ok")
"#;

fn created_key(server: &Server, app: &str) -> (String, String) {
    let out = server.cli_ok(&["keys", "create", "--app", app, "--output", "json"]);
    let key: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        key["id"].as_str().unwrap().to_string(),
        key["secret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn boto3_and_the_aws_cli_invoke_functions_through_the_lambda_api() {
    let server = Server::start_with(&["--queue-wait", "100ms"]);
    let manifest = format!(
        "{APP}\n[functions.kitchen]\ncomponent = \"{}\"\n",
        guest("kitchen")
    );
    let app = AppDir::new(&manifest);
    app.write("src/app.py", HANDLERS);
    server.cli_ok(&["deploy", app.path()]);
    let (key, secret) = server.admin_key();
    let (other_key, other_secret) = created_key(&server, "zzz");
    let py = py_tools();

    let script = app.path().to_string() + "/check.py";
    std::fs::write(&script, BOTO3_SCRIPT).unwrap();
    let out = Command::new(py.join("bin/python"))
        .arg(&script)
        .env("ENDPOINT", &server.api)
        .env("KEY", &key)
        .env("SECRET", &secret)
        .env("OTHER_KEY", &other_key)
        .env("OTHER_SECRET", &other_secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The Event invocation ran, later.
    wait_until(
        "the Event invocation to run",
        std::time::Duration::from_secs(20),
        || {
            server
                .log_texts("inv")
                .iter()
                .any(|l| l == "echo saw async-1")
        },
    );
    assert!(
        !server
            .log_texts("inv")
            .iter()
            .any(|l| l == "echo saw dry-1"),
        "a DryRun must not run the function"
    );

    // The aws CLI, as a user types it.
    let aws = |args: &[&str]| {
        Command::new(py.join("bin/aws"))
            .args(["--endpoint-url", &server.api, "--region", "us-east-1"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .unwrap()
    };
    let result = format!("{}/out.json", app.path());
    let out = aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "inv.echo",
        "--payload",
        r#"{"marker": "cli-1"}"#,
        "--log-type",
        "Tail",
        &result,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["StatusCode"], 200, "{printed}");
    assert_eq!(printed["ExecutedVersion"], "$LATEST", "{printed}");
    use base64::Engine as _;
    let tail = base64::engine::general_purpose::STANDARD
        .decode(printed["LogResult"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&tail).contains("echo saw cli-1"));
    let answer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(answer["got"]["marker"], "cli-1");

    for (kind, status) in [("Event", 202), ("DryRun", 204)] {
        let out = aws(&[
            "lambda",
            "invoke",
            "--function-name",
            "inv.echo",
            "--invocation-type",
            kind,
            "--payload",
            "{}",
            &result,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["StatusCode"], status, "{kind}: {printed}");
    }
    let out = aws(&["lambda", "invoke", "--function-name", "inv.fail", &result]);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["FunctionError"], "Unhandled", "{printed}");
    let out = aws(&["lambda", "invoke", "--function-name", "inv.gone", &result]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `strato invoke --event` does the same with the CLI's token.
    let out = server.cli_ok(&[
        "invoke",
        "inv/echo",
        "--event",
        r#"{"marker": "strato-cli"}"#,
    ]);
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["got"]["marker"], "strato-cli", "{out}");
    let failed = server.cli(&["invoke", "inv.fail", "--event", "{}"]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("function error (Unhandled)"), "{stderr}");
    let error: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(error["errorType"], "ValueError");
    let queued = server.cli_ok(&[
        "invoke",
        "echo",
        "--async",
        "--event",
        r#"{"marker": "cli-async"}"#,
    ]);
    assert!(queued.trim().starts_with('i'), "{queued}");
    wait_until(
        "the queued event to run",
        std::time::Duration::from_secs(20),
        || {
            server
                .log_texts("inv")
                .iter()
                .any(|l| l == "echo saw cli-async")
        },
    );
    let refused = server.cli_err(&["invoke", "inv/echo", "--event", "{nope"]);
    assert!(refused.contains("must be JSON"), "{refused}");

    // Cold runs record their init duration; warm ones have none.
    let runs = server.runs("app=inv&function=echo&limit=100");
    let cold: Vec<_> = runs.iter().filter(|r| r["cold_start"] == true).collect();
    assert!(!cold.is_empty(), "{runs:?}");
    assert!(
        cold.iter().all(|r| r["init_us"].as_i64().unwrap() > 1000),
        "{cold:?}"
    );
    assert!(
        runs.iter()
            .filter(|r| r["cold_start"] == false)
            .all(|r| r.get("init_us").is_none()),
        "{runs:?}"
    );
    let table = server.cli_ok(&["runs", "--app", "inv", "--function", "echo"]);
    assert!(table.contains("init "), "{table}");

    let out = aws(&["lambda", "list-functions"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["Functions"].as_array().unwrap().len(), 4, "{listed}");
}
