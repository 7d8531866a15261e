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

const FAILING_APP: &str = r#"[app]
name = "pyfail"

[buckets.drop]

[functions.slow]
runtime = "python3.11"
handler = "app.slow"
code = "src"
routes = ["/slow"]
timeout = "1s"

[functions.hog]
runtime = "python3.11"
handler = "app.hog"
code = "src"
routes = ["/hog"]
memory = "64MiB"

[functions.crash]
runtime = "python3.11"
handler = "app.crash"
code = "src"
routes = ["/crash"]

[functions.big]
runtime = "python3.11"
handler = "app.big"
code = "src"
routes = ["/big"]

[functions.noimport]
runtime = "python3.11"
handler = "missing.handler"
code = "src"
routes = ["/noimport"]

[functions.on-drop]
runtime = "python3.11"
handler = "app.on_drop"
code = "src"
[[functions.on-drop.on_bucket]]
bucket = "drop"
events = ["put"]
"#;

const FAILING_HANDLERS: &str = r#"import os, sys, time, uuid

BOOT = str(uuid.uuid4())

def slow(event, context):
    if event.get("rawQueryString") == "nap":
        time.sleep(5)
    return {"boot": BOOT}

def hog(event, context):
    blocks = []
    for _ in range(64):
        blocks.append(bytearray(16 << 20))
    return len(blocks)

def crash(event, context):
    print("about to exit", flush=True)
    os._exit(3)

def big(event, context):
    return "x" * (7 << 20)

def on_drop(event, context):
    record = event["Records"][0]
    print("dropped", record["eventName"], record["s3"]["object"]["key"])
    return {"ok": True}
"#;

#[test]
fn timeouts_oom_crashes_big_answers_and_import_errors_fail_runs_and_bucket_events_arrive() {
    let server = Server::start();
    let app = AppDir::new(FAILING_APP);
    app.write("src/app.py", FAILING_HANDLERS);
    server.cli_ok(&["deploy", app.path()]);
    let http = client();
    let run_of = |function: &str| {
        server.runs_eventually(&format!("app=pyfail&function={function}"), 1)[0].clone()
    };

    // Past its timeout: killed, timed_out; the next call gets a fresh
    // environment.
    let warm: serde_json::Value = http
        .get(server.url("/slow"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let napping = http.get(server.url("/slow?nap")).send().unwrap();
    assert_eq!(napping.status(), 504);
    let fresh: serde_json::Value = http
        .get(server.url("/slow"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_ne!(fresh["boot"], warm["boot"]);
    let again: serde_json::Value = http
        .get(server.url("/slow"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["boot"], fresh["boot"]);
    let runs = server.runs_eventually("app=pyfail&function=slow", 4);
    assert_eq!(runs[2]["status"], "timed_out", "{runs:?}");
    assert_eq!(runs[1]["cold_start"], true, "{runs:?}");
    assert_eq!(runs[0]["cold_start"], false, "{runs:?}");

    // Over its memory limit: oom_killed.
    assert_eq!(http.get(server.url("/hog")).send().unwrap().status(), 502);
    assert_eq!(run_of("hog")["status"], "oom_killed");

    // A process that exits mid-invocation: failed, with its last lines.
    assert_eq!(http.get(server.url("/crash")).send().unwrap().status(), 502);
    let crash = run_of("crash");
    assert_eq!(crash["status"], "failed");
    assert!(
        crash["error"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{crash}"
    );
    assert!(
        server
            .log_texts("pyfail")
            .iter()
            .any(|l| l == "about to exit"),
        "the crashing process's last line is in the log"
    );

    // An answer past 6 MiB.
    assert_eq!(http.get(server.url("/big")).send().unwrap().status(), 502);
    let big = run_of("big");
    assert!(
        big["error"]
            .as_str()
            .unwrap()
            .starts_with("Function.ResponseSizeTooLarge"),
        "{big}"
    );

    // A handler that cannot be imported fails at init, said so.
    assert_eq!(
        http.get(server.url("/noimport")).send().unwrap().status(),
        502
    );
    let noimport = run_of("noimport");
    assert_eq!(noimport["status"], "failed");
    assert!(
        noimport["error"]
            .as_str()
            .unwrap()
            .contains("Runtime.ImportModuleError"),
        "{noimport}"
    );

    // A bucket event arrives as the S3 notification itself.
    let s3 = server.s3_client();
    runtime().block_on(async {
        s3.put_object()
            .bucket("drop")
            .key("in/a.txt")
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
                .log_texts("pyfail")
                .iter()
                .any(|l| l == "dropped ObjectCreated:Put in/a.txt")
        },
    );
    assert_eq!(run_of("on-drop")["trigger"], "bucket");
}

const TRIGGERS_APP: &str = r#"[app]
name = "APP"

[functions.worker]
runtime = "RUNTIME"
handler = "MODULE.worker"
code = "src"

[functions.tick]
runtime = "RUNTIME"
handler = "MODULE.tick"
code = "src"

[functions.flaky]
runtime = "RUNTIME"
handler = "MODULE.flaky"
code = "src"
routes = ["/flaky"]
[functions.flaky.async]
retries = 1
on_failure = "queue:failures"

[queues.work]
visibility_timeout = "1s"
max_receives = 2
dead_letter = "dead"
consumer = { function = "worker", batch_size = 10 }

[queues.dead]
[queues.failures]

[schedules.each-second]
rate = "1s"
function = "tick"
payload = { hello = "world" }
"#;

const PYTHON_TRIGGER_HANDLERS: &str = r#"def worker(event, context):
    failures = []
    for record in event["Records"]:
        print("message", record["body"], "receive", record["attributes"]["ApproximateReceiveCount"])
        if record["body"].startswith("bad"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}

def tick(event, context):
    print("tick", event["detail-type"], event["source"], event["detail"]["hello"])

def flaky(event, context):
    print("flaky attempt")
    raise RuntimeError("always")
"#;

const NODE_TRIGGER_HANDLERS: &str = r#"exports.worker = async (event) => {
  const failures = [];
  for (const record of event.Records) {
    console.log('message', record.body, 'receive', record.attributes.ApproximateReceiveCount);
    if (record.body.startsWith('bad')) failures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures: failures };
};

exports.tick = async (event) => {
  console.log('tick', event['detail-type'], event.source, event.detail.hello);
};

exports.flaky = async () => {
  console.log('flaky attempt');
  throw new Error('always');
};
"#;

/// Whether a log line is `text` as a handler printed it: bare (Python's
/// print) or after Node's `TIMESTAMP\tREQUEST_ID\tLEVEL\t` prefix.
pub fn said(line: &str, text: &str) -> bool {
    line == text
        || line
            .strip_suffix(text)
            .is_some_and(|prefix| prefix.ends_with('\t'))
}

fn queue_stats(server: &Server, app: &str, queue: &str) -> serde_json::Value {
    let info: serde_json::Value = client()
        .get(format!("{}/api/v1/apps/{app}/queues/{queue}", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    info["stats"].clone()
}

#[test]
fn python_handlers_consume_queues_fire_on_schedules_and_retry_async_work_to_its_destination() {
    handlers_take_every_trigger("pyt", "python3.11", "app.py", PYTHON_TRIGGER_HANDLERS);
}

#[test]
fn node_handlers_consume_queues_fire_on_schedules_and_retry_async_work_to_its_destination() {
    handlers_take_every_trigger("nodet", "nodejs18", "app.js", NODE_TRIGGER_HANDLERS);
}

fn handlers_take_every_trigger(name: &str, runtime: &str, file: &str, handlers: &str) {
    let server = Server::start();
    let manifest = TRIGGERS_APP
        .replace("APP", name)
        .replace("RUNTIME", runtime)
        .replace("MODULE", "app");
    let app = AppDir::new(&manifest);
    app.write(&format!("src/{file}"), handlers);
    server.cli_ok(&["deploy", app.path()]);
    let printed = |text: &str| server.log_texts(name).iter().any(|l| said(l, text));

    // A queue batch is an SQS event; batchItemFailures come back, then
    // dead-letter.
    server.cli_ok(&[
        "queue",
        "send",
        &format!("{name}/work"),
        "good-1",
        "bad-1",
        "good-2",
    ]);
    wait_until(
        "the failed item to be dead-lettered",
        Duration::from_secs(60),
        || queue_stats(&server, name, "dead")["visible"] == 1,
    );
    let lines = server.log_texts(name);
    for good in ["good-1", "good-2"] {
        let seen = lines
            .iter()
            .filter(|l| said(l, &format!("message {good} receive 1")))
            .count();
        assert_eq!(seen, 1, "{good}: {lines:?}");
    }
    assert!(printed("message bad-1 receive 2"), "{lines:?}");

    // A schedule's firing is an EventBridge scheduled event.
    wait_until("a scheduled firing", Duration::from_secs(20), || {
        printed("tick Scheduled Event strato.scheduler world")
    });

    // An async invocation that keeps failing is retried, then its
    // failure record goes to the destination queue.
    let accepted = client()
        .post(server.url("/flaky"))
        .header("X-Strato-Invocation-Type", "Event")
        .body("payload")
        .send()
        .unwrap();
    assert_eq!(accepted.status(), 202);
    wait_until("the failure record", Duration::from_secs(30), || {
        queue_stats(&server, name, "failures")["visible"] == 1
    });
    let attempts = server
        .log_texts(name)
        .iter()
        .filter(|l| said(l, "flaky attempt"))
        .count();
    assert_eq!(attempts, 2, "first try and one retry");
    let query = format!("app={name}&function=flaky");
    let runs = server.runs_eventually(&query, 2);
    assert!(
        runs.iter()
            .all(|r| r["trigger"] == "async" && r["status"] == "failed"),
        "{runs:?}"
    );
}

#[test]
fn min_warm_environments_wait_ready_and_idle_ones_are_reaped() {
    let server = Server::start();
    let manifest = |extra: &str| {
        format!(
            "[app]\nname = \"pw\"\n[functions.api]\nruntime = \"python3.11\"\nhandler = \"app.handler\"\ncode = \"src\"\nroutes = [\"/w\"]\n{extra}"
        )
    };
    let app = AppDir::new(&manifest("min_warm = 2\n"));
    app.write(
        "src/app.py",
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"ok\"}\n",
    );
    server.cli_ok(&["deploy", app.path()]);
    let state = server.data_dir.path().join("runc");
    let running = || {
        runc_list(&state)
            .lines()
            .filter(|l| l.contains("running"))
            .count()
    };
    wait_until("two warm environments", Duration::from_secs(30), || {
        running() == 2
    });
    // A request finds one ready: not a cold start.
    assert_eq!(client().get(server.url("/w")).send().unwrap().status(), 200);
    let runs = server.runs_eventually("app=pw", 1);
    assert_eq!(runs[0]["cold_start"], false, "{runs:?}");
    assert_eq!(running(), 2);

    // Redeployed without min_warm and with a short idle: the old
    // environments go with the old revision, the one a request starts is
    // reaped once idle.
    app.rewrite(&manifest("idle = \"1s\"\n"));
    server.cli_ok(&["deploy", app.path()]);
    wait_until(
        "the old environments to stop",
        Duration::from_secs(20),
        || running() == 0,
    );
    assert_eq!(client().get(server.url("/w")).send().unwrap().status(), 200);
    assert_eq!(running(), 1);
    wait_until(
        "the idle environment to be reaped",
        Duration::from_secs(20),
        || running() == 0,
    );
}

const CONCURRENCY_APP: &str = r#"[app]
name = "pc"

[functions.nap]
runtime = "python3.11"
handler = "app.nap"
code = "src"
routes = ["/nap"]
concurrency = 2
"#;

const NAP_HANDLER: &str = r#"import time, uuid

BOOT = str(uuid.uuid4())

def nap(event, context):
    started = time.time()
    time.sleep(1.5)
    return {"boot": BOOT, "started": started, "ended": time.time()}
"#;

/// `concurrency = 2`: two requests at once get two environments; a third
/// waits for one of them (the server's queue wait is longer than a nap)
/// and runs warm on it.
#[test]
fn n_parallel_requests_get_n_environments_and_the_next_one_waits() {
    let server = Server::start_with(&["--queue-wait", "10s"]);
    let app = AppDir::new(CONCURRENCY_APP);
    app.write("src/app.py", NAP_HANDLER);
    server.cli_ok(&["deploy", app.path()]);
    let url = server.url("/nap");
    let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    // The third leaves last, so it is the one that waits.
                    std::thread::sleep(std::time::Duration::from_millis(300 * (i / 2)));
                    client().get(url).send().unwrap().json().unwrap()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let boots: std::collections::HashSet<&str> = answers
        .iter()
        .map(|a| a["boot"].as_str().unwrap())
        .collect();
    assert_eq!(boots.len(), 2, "two environments: {answers:?}");
    let first_end = answers[..2]
        .iter()
        .map(|a| a["ended"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert!(
        answers[2]["started"].as_f64().unwrap() >= first_end,
        "the third started only once a slot was free: {answers:?}"
    );
    let runs = server.runs_eventually("app=pc&function=nap", 3);
    let cold = runs.iter().filter(|r| r["cold_start"] == true).count();
    assert_eq!(cold, 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
}

const CRASH_APP: &str = r#"[app]
name = "pk"

[functions.api]
runtime = "python3.11"
handler = "app.api"
code = "src"
routes = ["/api"]

[functions.slow]
runtime = "python3.11"
handler = "app.slow"
code = "src"
routes = ["/slow"]
"#;

const CRASH_HANDLERS: &str = r#"import time

def api(event, context):
    return "warm"

def slow(event, context):
    time.sleep(2)
    print("slow done", event.get("body"))
"#;

/// kill -9 with a warm environment and an async invocation running: the
/// next server removes the dead one's containers and finishes the work.
#[test]
fn kill_9_with_warm_environments_leaves_no_container_and_loses_no_invocation() {
    let mut server = Server::start();
    let app = AppDir::new(CRASH_APP);
    app.write("src/app.py", CRASH_HANDLERS);
    server.cli_ok(&["deploy", app.path()]);
    assert_eq!(
        client().get(server.url("/api")).send().unwrap().status(),
        200
    );
    let accepted = client()
        .post(server.url("/slow"))
        .header("X-Strato-Invocation-Type", "Event")
        .body("job-7")
        .send()
        .unwrap();
    assert_eq!(accepted.status(), 202);
    wait_until("the slow run to start", Duration::from_secs(30), || {
        server.metric("strato_runs_in_flight") >= 1.0
    });
    std::thread::sleep(Duration::from_millis(300));
    let state = server.data_dir.path().join("runc");
    let ids = |listing: &str| -> Vec<String> {
        listing
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    let before = ids(&runc_list(&state));
    assert!(
        before.len() >= 2,
        "a warm and a busy environment: {before:?}"
    );

    server.kill9();
    server.restart_after_exit();
    // Removed in the background as the server starts.
    wait_until(
        "the dead server's containers to be removed",
        Duration::from_secs(20),
        || {
            let after = ids(&runc_list(&state));
            before.iter().all(|id| !after.contains(id))
        },
    );
    wait_until(
        "the interrupted invocation to complete",
        Duration::from_secs(120),
        || {
            server
                .log_texts("pk")
                .iter()
                .any(|l| l == "slow done job-7")
        },
    );
    let runs = server.runs_eventually("app=pk&function=slow&status=succeeded", 1);
    assert_eq!(runs[0]["trigger"], "async", "{runs:?}");
}
