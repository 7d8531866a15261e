//! Traces: a chain of runs (a gateway request whose function writes an
//! object through the control API with its token, whose event runs a second
//! function) shares one trace with the caller's `traceparent`, is listed by
//! `/api/v1/traces` and `strato trace`, and is exported over OTLP/HTTP to a
//! receiver this test runs.

use crate::support::{AppDir, Server, client, guest, wait_until};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What an OTLP/HTTP receiver was sent: (path, JSON body) per request.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A minimal OTLP/HTTP (JSON) receiver: answers every POST 200 `{}` and
/// keeps what it was sent. Returns its base URL.
fn otlp_receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                // Keep-alive: requests one after another on a connection.
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("")
                        .to_string();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).unwrap();
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    keep.lock().unwrap().push((path, json));
                    writer
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                        .unwrap();
                }
            });
        }
    });
    (url, received)
}

/// Every span the receiver got, in the order sent.
fn spans(received: &Received) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| path == "/v1/traces")
        .flat_map(|(_, body)| {
            body["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
                .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        })
        .collect()
}

fn attribute(span: &Value, key: &str) -> Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn a_chain_of_runs_is_one_trace_exported_over_otlp() {
    let (otlp, received) = otlp_receiver();
    let server = Server::start_with(&["--otlp-endpoint", &otlp]);
    let app = AppDir::new(&format!(
        r#"[app]
name = "chain"

[buckets.drop]

[functions.writer]
component = "{kitchen}"
routes = ["/w/*"]

[functions.reader]
component = "{kitchen}"
[[functions.reader.on_bucket]]
bucket = "drop"
events = ["put"]

[functions.worker]
component = "{kitchen}"

[queues.jobs]
consumer = {{ function = "worker", batch_size = 10 }}

[workflows.twice]
definition = "twice.asl.json"
"#,
        kitchen = guest("kitchen")
    ));
    app.write(
        "twice.asl.json",
        r#"{"StartAt": "One", "States": {
  "One": {"Type": "Task", "Resource": "worker", "Parameters": {"step": "inc", "n": 1}, "Next": "Two"},
  "Two": {"Type": "Task", "Resource": "worker", "Parameters": {"step": "inc", "n.$": "$.n"}, "End": true}
}}"#,
    );
    server.cli_ok(&["deploy", app.path()]);

    // The caller's own span: the chain hangs from it.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = client()
        .get(server.url("/w/put?bucket=drop&key=a.txt"))
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text());
    let answered = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(answered.starts_with(&format!("00-{trace}-")), "{answered}");

    // The store has both runs in the trace, each under its cause.
    let runs = server.runs_eventually(&format!("trace_id={trace}"), 2);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let run_of = |function: &str| {
        runs.iter()
            .find(|r| r["function"] == function)
            .unwrap_or_else(|| panic!("no {function} run in {runs:?}"))
            .clone()
    };
    let (writer, reader) = (run_of("writer"), run_of("reader"));
    assert_eq!(writer["parent_span_id"], caller_span);
    assert_eq!(reader["parent_span_id"], writer["span_id"]);
    assert_eq!(reader["trigger"], "bucket");
    assert_eq!(
        answered,
        format!("00-{trace}-{}-01", writer["span_id"].as_str().unwrap())
    );

    // The API and the CLI show the chain.
    let listed: Value = client()
        .get(format!("{}/api/v1/traces/{trace}", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 2, "{listed}");
    let tree = server.cli_ok(&["trace", reader["id"].as_str().unwrap()]);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(
        lines[0].starts_with(&format!("trace {trace} · 2 runs")),
        "{tree}"
    );
    assert!(
        lines[1].starts_with("chain/writer [http] succeeded"),
        "{tree}"
    );
    assert!(
        lines[2].starts_with("└─ chain/reader [bucket] succeeded"),
        "{tree}"
    );
    let unknown = client()
        .get(format!("{}/api/v1/traces/{}", server.api, "1".repeat(32)))
        .bearer_auth(&server.token)
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The receiver got both spans with their links and attributes, and
    // the writer's log line under its span.
    wait_until("both spans exported", Duration::from_secs(10), || {
        spans(&received).len() >= 2
    });
    let exported = spans(&received);
    let span_of = |run: &Value| {
        exported
            .iter()
            .find(|s| s["spanId"] == run["span_id"])
            .unwrap_or_else(|| panic!("no span for {run} in {exported:?}"))
            .clone()
    };
    let (writer_span, reader_span) = (span_of(&writer), span_of(&reader));
    for span in [&writer_span, &reader_span] {
        assert_eq!(span["traceId"], trace);
    }
    assert_eq!(writer_span["parentSpanId"], caller_span);
    assert_eq!(reader_span["parentSpanId"], writer_span["spanId"]);
    assert_eq!(writer_span["name"], "chain/writer");
    assert_eq!(writer_span["kind"], 2, "a request is a server span");
    assert_eq!(reader_span["kind"], 5, "an event is a consumer span");
    assert_eq!(
        attribute(&writer_span, "faas.trigger")["stringValue"],
        "http"
    );
    assert_eq!(
        attribute(&reader_span, "faas.trigger")["stringValue"],
        "datasource"
    );
    assert_eq!(
        attribute(&reader_span, "faas.invocation_id")["stringValue"],
        reader["id"]
    );
    assert!(attribute(&writer_span, "faas.coldstart")["boolValue"].is_boolean());
    assert_eq!(writer_span["status"]["code"], 1);

    // A message keeps its sender's span: the batch's run hangs from it and
    // links to it; the SQS event names it as AWSTraceHeader.
    let sender = "b7ad6b7169203331";
    let sent = client()
        .post(format!(
            "{}/api/v1/apps/chain/queues/jobs/messages",
            server.api
        ))
        .bearer_auth(&server.token)
        .header("traceparent", format!("00-{trace}-{sender}-01"))
        .body(r#"{"messages": [{"body": "job 1"}]}"#)
        .send()
        .unwrap();
    assert_eq!(sent.status(), 200);
    let runs = server.runs_eventually(&format!("trace_id={trace}"), 3);
    let worker = runs
        .iter()
        .find(|r| r["function"] == "worker")
        .unwrap_or_else(|| panic!("no worker run in the trace: {runs:?}"));
    assert_eq!(worker["parent_span_id"], sender);
    assert_eq!(worker["trigger"], "queue");
    // The batch's run kept its event and how long the message waited;
    // a gateway request's body is not kept.
    assert!(worker["queued_us"].as_i64().unwrap() >= 0, "{worker}");
    let payload = |id: &Value| {
        client()
            .get(format!(
                "{}/api/v1/runs/{}/payload",
                server.api,
                id.as_str().unwrap()
            ))
            .bearer_auth(&server.token)
            .send()
            .unwrap()
    };
    let event = payload(&worker["id"]).text().unwrap();
    assert!(
        event.contains("job 1") && event.contains("aws:sqs"),
        "{event}"
    );
    assert_eq!(payload(&writer["id"]).status(), 404);
    wait_until("the batch's span exported", Duration::from_secs(10), || {
        spans(&received)
            .iter()
            .any(|s| s["spanId"] == worker["span_id"])
    });
    let batch_span = spans(&received)
        .into_iter()
        .find(|s| s["spanId"] == worker["span_id"])
        .unwrap();
    assert_eq!(batch_span["links"][0]["spanId"], sender, "{batch_span}");
    assert_eq!(
        attribute(&batch_span, "faas.trigger")["stringValue"],
        "pubsub"
    );
    assert_eq!(
        attribute(&batch_span, "messaging.batch.message_count")["intValue"],
        "1"
    );

    // The runs are counted on /metrics, by function and status, with their
    // durations in OpenTelemetry's buckets; the queue's depth is there.
    let metrics = client()
        .get(format!("{}/metrics", server.api))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let writer_labels = r#"app="chain",function="writer",kind="function""#;
    for line in [
        format!(r#"strato_invocations_total{{{writer_labels},status="succeeded"}} 1"#),
        format!(r#"strato_run_duration_seconds_count{{{writer_labels}}} 1"#),
        format!(r#"strato_run_duration_seconds_bucket{{{writer_labels},le="+Inf"}} 1"#),
        r#"strato_queue_messages{app="chain",queue="jobs",state="visible"} 0"#.to_string(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in\n{metrics}"
        );
    }

    // A workflow execution is a span of the trace that started it; its
    // Task states' runs hang from it.
    let starter = "c7ad6b7169203332";
    let started = client()
        .post(format!(
            "{}/api/v1/apps/chain/workflows/twice/executions?wait=30s",
            server.api
        ))
        .bearer_auth(&server.token)
        .header("traceparent", format!("00-{trace}-{starter}-01"))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(started.status(), 201);
    let execution: Value = started.json().unwrap();
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    assert_eq!(execution["trace_id"], trace);
    assert_eq!(execution["parent_span_id"], starter);
    let runs: Vec<Value> = server
        .runs_eventually(&format!("trace_id={trace}"), 5)
        .into_iter()
        .filter(|r| r["trigger"] == "workflow")
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        assert_eq!(run["parent_span_id"], execution["span_id"], "{run}");
    }
    let step: Value = payload(&runs[0]["id"]).json().unwrap();
    assert_eq!(step["step"], "inc", "{step}");
    let listed: Value = client()
        .get(format!("{}/api/v1/traces/{trace}", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["executions"][0]["id"], execution["id"], "{listed}");
    let tree = server.cli_ok(&["trace", trace]);
    assert!(tree.contains(" · 1 execution · "), "{tree}");
    assert!(
        tree.lines()
            .any(|l| l.starts_with("chain/twice [execution] SUCCEEDED")),
        "{tree}"
    );
    assert!(
        tree.lines()
            .any(|l| l.starts_with("├─ chain/worker [workflow] succeeded")),
        "{tree}"
    );
    wait_until(
        "the execution's span exported",
        Duration::from_secs(10),
        || {
            spans(&received)
                .iter()
                .any(|s| s["spanId"] == execution["span_id"])
        },
    );
    let execution_span = spans(&received)
        .into_iter()
        .find(|s| s["spanId"] == execution["span_id"])
        .unwrap();
    assert_eq!(execution_span["parentSpanId"], starter);
    assert_eq!(execution_span["name"], "chain/twice");
    assert_eq!(
        attribute(&execution_span, "strato.execution.id")["stringValue"],
        execution["id"]
    );

    wait_until("the writer's log exported", Duration::from_secs(10), || {
        received.lock().unwrap().iter().any(|(path, body)| {
            path == "/v1/logs"
                && body.to_string().contains("put drop/a.txt: 200")
                && body
                    .to_string()
                    .contains(writer["span_id"].as_str().unwrap())
        })
    });
}
