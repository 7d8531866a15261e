//! Runs that fail: timeouts, OOM, crashes, oversized answers, import errors.

use crate::support::*;
use std::time::Duration;

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
