//! What starts executions besides the API: a bucket upload
//! (`[[workflows.NAME.on_bucket]]`), a schedule (`workflow = "NAME"`), a
//! queue's consumer, and an async invocation's destination
//! (`workflow:NAME`), a function with its own `STRATO_TOKEN`; a
//! definition written in YAML.

use crate::support::*;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;
use std::time::Duration;

/// Every trigger's workflow records its input's gist and succeeds.
const ECHO_YAML: &str = r#"# The same machine for every trigger, in YAML.
StartAt: Note
States:
  Note:
    Type: Pass
    End: true
"#;

fn executions(server: &Server, workflow: &str) -> Vec<Value> {
    let listed: Vec<Value> =
        serde_json::from_str(&server.cli_ok(&["workflow", "ls", "--output", "json"])).unwrap();
    listed
        .into_iter()
        .filter(|e| e["workflow"] == workflow)
        .collect()
}

#[test]
fn uploads_schedules_queues_and_destinations_start_executions() {
    let server = Server::start();
    let app = AppDir::new(&format!(
        r#"
[app]
name = "wired"
[buckets.inbox]
[functions.inc]
component = "{}"
routes = ["/wired/*"]
[functions.inc.async]
on_success = "workflow:after"
[queues.jobs]
consumer = {{ workflow = "fromq", batch_size = 2 }}
[schedules.tick]
rate = "1s"
workflow = "ticked"
payload = {{ hello = "world" }}
[workflows.uploaded]
definition = "echo.asl.yaml"
[[workflows.uploaded.on_bucket]]
bucket = "inbox"
prefix = "in/"
[workflows.ticked]
definition = "echo.asl.yaml"
[workflows.fromq]
definition = "echo.asl.yaml"
[workflows.after]
definition = "echo.asl.yaml"
"#,
        guest("kitchen")
    ));
    app.write("echo.asl.yaml", ECHO_YAML);
    let plan = server.cli_ok(&["deploy", app.path()]);
    assert!(plan.contains("on_bucket"), "{plan}");

    // An upload under in/ starts one execution with the S3 event; one
    // elsewhere starts none.
    let s3 = server.s3_client();
    runtime().block_on(async {
        for key in ["in/a.txt", "out/b.txt"] {
            s3.put_object()
                .bucket("inbox")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
    });
    // Four messages in batches of up to two: each batch one execution.
    server.cli_ok(&["queue", "send", "wired/jobs", "one", "two", "three", "four"]);
    // An async invocation's success goes to its destination workflow.
    server.cli_ok(&[
        "invoke",
        "wired/inc",
        "--async",
        "-d",
        r#"{"step":"inc","n":1}"#,
    ]);

    let limit = Duration::from_secs(30);
    let mut seen = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    wait_until("every trigger to start its executions", limit, || {
        seen = (
            executions(&server, "uploaded"),
            executions(&server, "ticked"),
            executions(&server, "fromq"),
            executions(&server, "after"),
        );
        let batches: usize = seen.2.len();
        seen.0.len() == 1 && seen.1.len() >= 2 && (2..=4).contains(&batches) && seen.3.len() == 1
    });
    let all = [&seen.0, &seen.1, &seen.2, &seen.3];
    for listed in all {
        for e in listed.iter() {
            let id = e["id"].as_str().unwrap();
            let done = super::wait_for_end(&server, id, limit);
            assert_eq!(done["status"], "SUCCEEDED", "{done}");
        }
    }
    let upload = super::describe(&server, seen.0[0]["id"].as_str().unwrap());
    let record = &upload["input"]["Records"][0];
    assert_eq!(record["s3"]["object"]["key"], "in/a.txt", "{upload}");
    assert_eq!(record["eventName"], "ObjectCreated:Put", "{upload}");
    let tick = super::describe(&server, seen.1[0]["id"].as_str().unwrap());
    assert_eq!(tick["input"]["detail"]["hello"], "world", "{tick}");
    let mut bodies: Vec<String> = seen
        .2
        .iter()
        .flat_map(|e| {
            let e = super::describe(&server, e["id"].as_str().unwrap());
            e["input"]["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["body"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["four", "one", "three", "two"]);
    let after = super::describe(&server, seen.3[0]["id"].as_str().unwrap());
    let record = &after["input"];
    assert_eq!(record["requestContext"]["condition"], "Success", "{after}");
    assert_eq!(record["requestPayload"]["n"], 1, "{after}");

    // A function's own STRATO_TOKEN starts its app's workflows, and only
    // its app's.
    let token = client()
        .get(server.url("/wired/env?name=STRATO_TOKEN"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(token.starts_with("stk_app.wired."), "{token}");
    let start = |app: &str| {
        client()
            .post(format!(
                "{}/api/v1/apps/{app}/workflows/after/executions?wait=10s",
                server.api
            ))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "from-a-function", "input": {"by": "inc"}}))
            .send()
            .unwrap()
    };
    let started = start("wired");
    assert_eq!(started.status(), 201);
    let started: Value = started.json().unwrap();
    assert_eq!(started["status"], "SUCCEEDED", "{started}");
    assert_eq!(started["output"], serde_json::json!({"by": "inc"}));
    assert_eq!(start("other").status(), 403);
}
