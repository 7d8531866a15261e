//! The same handlers in each language's form: Python and Node.js from code,
//! a Rust `bootstrap` on `provided`, and functions from Lambda container images.

use super::said;
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

const PYTHON_HANDLERS: &str = r#"import json, os, uuid

# Made once per environment (the process is PID 1 of its container, so a
# pid cannot tell environments apart).
BOOT = str(uuid.uuid4())

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
            "boot": BOOT,
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
    let mut server = Server::start();
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
    assert_eq!(body["function"], "py.api");
    assert_eq!(body["memory"], "128");
    let remaining = body["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 20_000 && remaining <= 30_000, "{body}");
    assert_eq!(body["task_root"], "/var/task");
    assert_eq!(body["strato_app"], "py");
    assert_eq!(body["read_only_code"], true, "{body}");

    // Warm: the same environment (process) answers the second call.
    let second: serde_json::Value = call().json().unwrap();
    assert_eq!(second["boot"], body["boot"], "{second}");

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
    // Max Memory Used: the environment's peak, a few MiB for Python.
    let used: Vec<u64> = logs
        .iter()
        .filter_map(|l| l.split("Max Memory Used: ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert!(!used.is_empty(), "{logs:?}");
    assert!(used.iter().all(|&mb| (5..=128).contains(&mb)), "{used:?}");

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

    // A stopping server stops its warm environments: no container
    // outlives it.
    let state = server.data_dir.path().join("runc");
    assert!(
        runc_list(&state).lines().count() > 1,
        "warm environments run"
    );
    server.stop();
    assert_eq!(
        runc_list(&state).lines().count(),
        1,
        "{}",
        runc_list(&state)
    );
}

const NODE_APP: &str = r#"[app]
name = "js"

[buckets.inbox]

[functions.api]
runtime = "nodejs18"
handler = "index.api"
code = "src"
routes = ["/api/*"]

[functions.boom]
runtime = "nodejs18"
handler = "index.boom"
code = "src"
routes = ["/boom"]

[functions.callback]
runtime = "nodejs18"
handler = "index.callback"
code = "src"
routes = ["/callback"]

[functions.esm]
runtime = "nodejs18"
handler = "lib/esm.handler"
code = "src"
routes = ["/esm"]

[functions.on-upload]
runtime = "nodejs18"
handler = "index.onUpload"
code = "src"
[[functions.on-upload.on_bucket]]
bucket = "inbox"
events = ["put"]
"#;

const NODE_HANDLERS: &str = r#"const crypto = require('node:crypto');

// Made once per environment.
const BOOT = crypto.randomUUID();

exports.api = async (event, context) => {
  console.log('got', event.rawPath);
  return {
    statusCode: 201,
    headers: { 'x-request-id': context.awsRequestId },
    body: JSON.stringify({
      path: event.rawPath,
      method: event.requestContext.http.method,
      body: event.body,
      function: context.functionName,
      memory: context.memoryLimitInMB,
      remaining_ms: context.getRemainingTimeInMillis(),
      boot: BOOT,
    }),
  };
};

exports.boom = async () => {
  throw new TypeError('bad input');
};

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { via: 'callback' }), 10);
};

exports.onUpload = async (event) => {
  const record = event.Records[0];
  console.log('uploaded', record.eventName, record.s3.object.key);
};
"#;

#[test]
fn node_handlers_serve_routes_async_callback_and_esm_and_take_bucket_events() {
    let server = Server::start();
    let app = AppDir::new(NODE_APP);
    app.write("src/index.js", NODE_HANDLERS);
    app.write(
        "src/lib/esm.mjs",
        "export const handler = async (event) => ({ esm: true, version: process.version });\n",
    );
    server.cli_ok(&["deploy", app.path()]);
    let http = client();

    let call = || {
        http.post(server.url("/api/things"))
            .body("hi")
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
    assert_eq!(body["path"], "/api/things");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], "hi");
    assert_eq!(body["function"], "js.api");
    assert_eq!(body["memory"], "128");
    assert!(body["remaining_ms"].as_i64().unwrap() > 20_000, "{body}");
    let second: serde_json::Value = call().json().unwrap();
    assert_eq!(second["boot"], body["boot"], "warm: the same environment");
    let runs = server.runs_eventually("app=js&function=api", 2);
    assert_eq!(runs[1]["id"], request_id);
    assert_eq!(runs[1]["cold_start"], true);
    assert_eq!(runs[0]["cold_start"], false);
    // console.log lines carry AWS's prefix: time, request id, level.
    let logs = server.log_texts("js");
    assert!(
        logs.iter()
            .any(|l| l.ends_with(&format!("\t{request_id}\tINFO\tgot /api/things"))),
        "{logs:?}"
    );

    let failed = http.get(server.url("/boom")).send().unwrap();
    assert_eq!(failed.status(), 502);
    assert_eq!(failed.headers()["x-amz-function-error"], "Unhandled");
    let error: serde_json::Value = failed.json().unwrap();
    assert_eq!(error["errorType"], "TypeError");
    assert_eq!(error["errorMessage"], "bad input");
    let boom = server.runs_eventually("app=js&function=boom", 1);
    assert_eq!(boom[0]["status"], "failed");
    assert_eq!(boom[0]["error"], "TypeError: bad input");

    let called_back: serde_json::Value = http
        .get(server.url("/callback"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(called_back["via"], "callback");
    let esm: serde_json::Value = http.get(server.url("/esm")).send().unwrap().json().unwrap();
    assert_eq!(esm["esm"], true);
    assert!(
        esm["version"].as_str().unwrap().starts_with("v18."),
        "{esm}"
    );

    let s3 = server.s3_client();
    runtime().block_on(async {
        s3.put_object()
            .bucket("inbox")
            .key("docs/a.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hi"))
            .send()
            .await
            .unwrap();
    });
    wait_until(
        "the bucket event's log line",
        Duration::from_secs(30),
        || {
            server
                .log_texts("js")
                .iter()
                .any(|l| said(l, "uploaded ObjectCreated:Put docs/a.txt"))
        },
    );
}

const RUST_APP: &str = r#"[app]
name = "rs"

[functions.echo]
runtime = "provided"
code = "bin"
routes = ["/rs/*"]
"#;

#[test]
fn a_rust_bootstrap_on_the_provided_runtime_serves_a_route_is_confined_by_seccomp_and_fails_runs() {
    let server = Server::start();
    let app = AppDir::new(RUST_APP);
    let bin = std::path::Path::new(app.path()).join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(lambda_bootstrap(), bin.join("bootstrap")).unwrap();
    server.cli_ok(&["deploy", app.path()]);
    let http = client();

    let answer = http.get(server.url("/rs/hello")).send().unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().unwrap();
    assert_eq!(body["rust"], true, "{body}");
    assert_eq!(body["function"], "rs.echo");
    assert_eq!(body["got"]["rawPath"], "/rs/hello");
    let run = &server.runs_eventually("app=rs&function=echo", 1)[0];
    assert_eq!(body["request_id"], run["id"]);
    assert_eq!(run["cold_start"], true);
    assert!(
        server
            .log_texts("rs")
            .iter()
            .any(|l| l == "rust got \"/rs/hello\""),
        "{:?}",
        server.log_texts("rs")
    );

    // Docker's default seccomp profile: unshare, mount and keyctl fail
    // with EPERM inside the environment.
    let probe: serde_json::Value = http
        .get(server.url("/rs/probe"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let eperm = probe["eperm"].clone();
    for call in ["unshare", "mount", "keyctl"] {
        assert_eq!(probe[call], eperm, "{call}: {probe}");
    }

    let failed = http.get(server.url("/rs/fail")).send().unwrap();
    assert_eq!(failed.status(), 502);
    let error: serde_json::Value = failed.json().unwrap();
    assert_eq!(
        error["errorMessage"], "asked to fail at /rs/fail",
        "{error}"
    );
    let runs = server.runs_eventually("app=rs&function=echo&status=failed", 1);
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .ends_with("asked to fail at /rs/fail"),
        "{runs:?}"
    );
}

const IMAGE_APP: &str = r#"[app]
name = "img"

[functions.code]
runtime = "python3.11"
handler = "app.handler"
code = "src"
routes = ["/code"]
"#;

const IMAGE_FUNCTIONS: &str = r#"
[functions.from-image]
image = "strato-test/py-lambda:1"
routes = ["/image"]

[functions.other-handler]
image = "strato-test/py-lambda:1"
handler = "app.other"
routes = ["/other"]
"#;

/// A Lambda container image as users build them (an OS with an
/// interpreter and a runtime interface client, the code in /var/task,
/// ENTRYPOINT the client, CMD the handler), built by `strato image build`
/// from the Python runtime Strato built for the code function.
#[test]
fn functions_from_lambda_container_images_run_their_cmd_or_the_named_handler() {
    let server = Server::start();
    let app = AppDir::new(IMAGE_APP);
    app.write(
        "src/app.py",
        "def handler(event, context):\n    return {\"from\": \"code\"}\n",
    );
    server.cli_ok(&["deploy", app.path()]);
    assert_eq!(
        client()
            .get(server.url("/code"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        r#"{"from": "code"}"#
    );

    // The runtime's root as a build context, plus the image's code.
    let python_root = std::fs::read_dir(runtime_cache())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("python3.11-") && name.ends_with(".tar")
        })
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .expect("the python runtime was built by the first deploy");
    let context = tempfile::tempdir().unwrap();
    let rootfs = context.path().join("rootfs.tar");
    if std::fs::hard_link(&python_root, &rootfs).is_err() {
        std::fs::copy(&python_root, &rootfs).unwrap();
    }
    std::fs::write(
        context.path().join("app.py"),
        "def handler(event, context):\n    return {\"from\": \"image\", \"got\": event.get(\"rawPath\")}\n\n\
         def other(event, context):\n    return {\"from\": \"other\"}\n",
    )
    .unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nADD rootfs.tar /\nCOPY app.py /var/task/app.py\nWORKDIR /var/task\n\
         ENTRYPOINT [\"/usr/bin/python3\", \"-m\", \"awslambdaric\"]\nCMD [\"app.handler\"]\n",
    )
    .unwrap();
    server.cli_ok(&[
        "image",
        "build",
        context.path().to_str().unwrap(),
        "-t",
        "strato-test/py-lambda:1",
    ]);

    app.rewrite(&format!("{IMAGE_APP}{IMAGE_FUNCTIONS}"));
    server.cli_ok(&["deploy", app.path()]);
    let from_image: serde_json::Value = client()
        .get(server.url("/image"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(from_image["from"], "image");
    assert_eq!(from_image["got"], "/image");
    let other: serde_json::Value = client()
        .get(server.url("/other"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(other["from"], "other");
    let runs = server.runs_eventually("app=img&function=from-image", 1);
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["cold_start"], true);
}
