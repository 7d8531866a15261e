//! Lambda functions: unmodified handlers on runtimes Strato builds from
//! Debian packages (the first test to need one builds it into
//! `~/.cache/strato-runtimes`, about 35 s, then every server imports it),
//! run in runc containers that speak the Lambda Runtime API.

use crate::support::*;
use std::time::Duration;

const PYTHON_APP: &str = r#"[app]
name = "py"

[functions.api]
runtime = "python3.11"
handler = "app.handler"
code = "src"
routes = ["/api/*"]

[functions.boom]
runtime = "python3.11"
handler = "app.boom"
code = "src"
routes = ["/boom"]
"#;

const PYTHON_HANDLERS: &str = r#"import json, os

def handler(event, context):
    print("got", event["rawPath"])
    try:
        open("/var/task/scribble", "w")
        read_only = False
    except OSError:
        read_only = True
    return {
        "statusCode": 201,
        "headers": {"x-request-id": context.aws_request_id},
        "body": json.dumps({
            "path": event["rawPath"],
            "query": event.get("queryStringParameters"),
            "method": event["requestContext"]["http"]["method"],
            "body": event.get("body"),
            "function": context.function_name,
            "memory": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "pid": os.getpid(),
            "task_root": os.environ["LAMBDA_TASK_ROOT"],
            "strato_app": os.environ.get("STRATO_APP"),
            "read_only_code": read_only,
        }),
    }

def boom(event, context):
    raise ValueError("bad input")
"#;

#[test]
fn a_python_handler_serves_a_route_cold_then_warm_and_its_errors_fail_runs() {
    let server = Server::start();
    let app = AppDir::new(PYTHON_APP);
    app.write("src/app.py", PYTHON_HANDLERS);
    server.cli_ok(&["deploy", app.path()]);

    let http = client();
    let call = || {
        http.post(server.url("/api/items?id=3&tag=a%20b"))
            .body("hello")
            .send()
            .unwrap()
    };
    let first = call();
    assert_eq!(first.status(), 201);
    let request_id = first.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = first.json().unwrap();
    assert_eq!(body["path"], "/api/items");
    assert_eq!(body["query"]["tag"], "a b");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], "hello");
    assert_eq!(body["function"], "py-api");
    assert_eq!(body["memory"], "128");
    let remaining = body["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 20_000 && remaining <= 30_000, "{body}");
    assert_eq!(body["task_root"], "/var/task");
    assert_eq!(body["strato_app"], "py");
    assert_eq!(body["read_only_code"], true, "{body}");

    // Warm: the same environment (process) answers the second call.
    let second: serde_json::Value = call().json().unwrap();
    assert_eq!(second["pid"], body["pid"], "{second}");

    let runs = server.runs_eventually("app=py&function=api", 2);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (newer, older) = (&runs[0], &runs[1]);
    assert_eq!(older["id"], request_id);
    assert_eq!(older["cold_start"], true, "{older}");
    assert_eq!(newer["cold_start"], false, "{newer}");
    assert_eq!(older["status"], "succeeded");
    assert_eq!(older["http_status"], 201);
    let logs = server.log_texts("py");
    assert!(logs.iter().any(|l| l == "got /api/items"), "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l.starts_with(&format!("START RequestId: {request_id}"))),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("REPORT RequestId:") && l.contains("Init Duration:")),
        "{logs:?}"
    );

    // A handler that raises: a failed run with Lambda's error, and the
    // caller sees X-Amz-Function-Error.
    let failed = http.get(server.url("/boom")).send().unwrap();
    assert_eq!(failed.status(), 502);
    assert_eq!(failed.headers()["x-amz-function-error"], "Unhandled");
    let doc: serde_json::Value = failed.json().unwrap();
    assert_eq!(doc["errorType"], "ValueError");
    let runs = server.runs_eventually("app=py&function=boom", 1);
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["error"], "ValueError: bad input");
    wait_until("the stack trace in the log", Duration::from_secs(5), || {
        server.log_texts("py").iter().any(|l| l.contains("in boom"))
    });
}
