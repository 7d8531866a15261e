//! Queues: send, receive with visibility timeouts, delete, redrive, long
//! polls; consumers with SQS batches, partial failures and dead letters.

use crate::support::{AppDir, Server, client, guest, wait_until};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn manifest() -> String {
    format!(
        r#"
[app]
name = "qa"
[functions.k]
component = "{}"
[functions.k.async]
retries = 0
on_failure = "queue:failures"

[queues.jobs]
visibility_timeout = "1s"
max_receives = 2
dead_letter = "dead"
max_message_size = "1KiB"

[queues.dead]

[queues.work]
visibility_timeout = "1s"
max_receives = 2
dead_letter = "dead"
consumer = {{ function = "k", batch_size = 10 }}

[queues.failures]
"#,
        guest("kitchen")
    )
}

fn queue_api(server: &Server, queue: &str, op: &str, body: Value) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/api/v1/apps/qa/queues/{queue}/{op}", server.api))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .unwrap()
}

fn receive(server: &Server, queue: &str, max: usize) -> Vec<Value> {
    let got: Value = queue_api(server, queue, "receive", json!({ "max": max }))
        .json()
        .unwrap();
    got["messages"].as_array().cloned().unwrap()
}

fn stats(server: &Server, queue: &str) -> Value {
    let info: Value = client()
        .get(format!("{}/api/v1/apps/qa/queues/{queue}", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    info["stats"].clone()
}

fn bodies(messages: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = messages
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn messages_are_hidden_while_received_dead_lettered_and_redriven() {
    let server = Server::start();
    let app = AppDir::new(&manifest());
    server.cli_ok(&["deploy", app.path()]);

    let ids = server.cli_ok(&["queue", "send", "qa/jobs", "one", "two", "three"]);
    assert_eq!(ids.lines().count(), 3, "{ids}");
    let table = server.cli_ok(&["queue", "stats"]);
    let jobs_line = table.lines().find(|l| l.starts_with("qa/jobs")).unwrap();
    assert!(jobs_line.split_whitespace().nth(1) == Some("3"), "{table}");
    assert!(table.contains("function:k"), "{table}");

    // Received messages are hidden until their visibility timeout ends.
    let first = receive(&server, "jobs", 10);
    assert_eq!(bodies(&first), ["one", "three", "two"]);
    assert_eq!(stats(&server, "jobs")["in_flight"], 3);
    assert!(receive(&server, "jobs", 10).is_empty());
    std::thread::sleep(Duration::from_millis(1_200));
    let second = receive(&server, "jobs", 10);
    assert_eq!(second.len(), 3);
    assert!(second.iter().all(|m| m["receive_count"] == 2));
    // A receipt from the first receive no longer deletes anything.
    let stale = queue_api(
        &server,
        "jobs",
        "delete",
        json!({ "receipts": [first[0]["receipt"]] }),
    );
    assert_eq!(stale.json::<Value>().unwrap()["deleted"], json!([false]));
    // Received twice (max_receives = 2): the next receive moves them to
    // the dead-letter queue instead.
    std::thread::sleep(Duration::from_millis(1_200));
    assert!(receive(&server, "jobs", 10).is_empty());
    assert_eq!(stats(&server, "dead")["visible"], 3);
    let moved = server.cli_ok(&["queue", "redrive", "qa/dead"]);
    assert!(moved.contains("moved 3"), "{moved}");
    let back = receive(&server, "jobs", 10);
    assert_eq!(bodies(&back), ["one", "three", "two"]);
    assert!(back.iter().all(|m| m["receive_count"] == 1));

    // Delete by receipt; change visibility returns one at once.
    let receipts: Vec<Value> = back.iter().map(|m| m["receipt"].clone()).collect();
    let deleted = queue_api(
        &server,
        "jobs",
        "delete",
        json!({ "receipts": receipts[..2] }),
    );
    assert_eq!(
        deleted.json::<Value>().unwrap()["deleted"],
        json!([true, true])
    );
    let changed = queue_api(
        &server,
        "jobs",
        "visibility",
        json!({ "receipts": [receipts[2]], "timeout_seconds": 0 }),
    );
    assert_eq!(changed.json::<Value>().unwrap()["changed"], json!([true]));
    // The CLI receives (and deletes) it.
    let out = server.cli_ok(&["queue", "receive", "qa/jobs"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(stats(&server, "jobs")["visible"], 0);
    assert_eq!(stats(&server, "jobs")["in_flight"], 0);

    // Refusals: too large, too many, unknown queue, bad body.
    let big = "x".repeat(1025);
    let resp = queue_api(
        &server,
        "jobs",
        "messages",
        json!({ "messages": [{ "body": big }] }),
    );
    assert_eq!(resp.status(), 413);
    let eleven: Vec<Value> = (0..11).map(|i| json!({ "body": i.to_string() })).collect();
    let resp = queue_api(&server, "jobs", "messages", json!({ "messages": eleven }));
    assert_eq!(resp.status(), 400);
    let resp = queue_api(
        &server,
        "nope",
        "messages",
        json!({ "messages": [{ "body": "x" }] }),
    );
    assert_eq!(resp.status(), 404);
    assert!(resp.text().unwrap().contains("[queues.nope]"));
    let resp = queue_api(&server, "jobs", "receive", json!({ "max": "ten" }));
    assert_eq!(resp.status(), 400);
    let err = server.cli_err(&["queue", "send", "jobs", "x"]);
    assert!(err.contains("APP/QUEUE"), "{err}");

    // Delayed messages are counted as such; purge empties the queue.
    let resp = queue_api(
        &server,
        "jobs",
        "messages",
        json!({ "messages": [{ "body": "later", "delay_seconds": 60 }] }),
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(stats(&server, "jobs")["delayed"], 1);
    assert!(
        server
            .cli_ok(&["queue", "purge", "qa/jobs"])
            .contains("purged 1")
    );
}

#[test]
fn a_long_poll_returns_as_soon_as_a_message_arrives() {
    let server = Server::start();
    let app = AppDir::new(&manifest());
    server.cli_ok(&["deploy", app.path()]);
    let started = Instant::now();
    let got = std::thread::scope(|s| {
        let poll = s.spawn(|| {
            queue_api(
                &server,
                "jobs",
                "receive",
                json!({ "max": 10, "wait_seconds": 10 }),
            )
            .json::<Value>()
            .unwrap()
        });
        std::thread::sleep(Duration::from_millis(300));
        queue_api(
            &server,
            "jobs",
            "messages",
            json!({ "messages": [{ "body": "ping" }] }),
        );
        poll.join().unwrap()
    });
    assert_eq!(got["messages"][0]["body"], "ping");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn consumers_get_sqs_batches_and_failed_items_come_back_then_dead_letter() {
    let server = Server::start();
    let app = AppDir::new(&manifest());
    server.cli_ok(&["deploy", app.path()]);
    let mut messages: Vec<Value> = (0..9)
        .map(|i| json!({ "body": format!("ok-{i}") }))
        .collect();
    messages.push(json!({ "body": "fail-1" }));
    let resp = queue_api(&server, "work", "messages", json!({ "messages": messages }));
    assert_eq!(resp.status(), 200);

    // The nine good ones are handled once; the failing one is delivered
    // again after its visibility timeout, then goes to the dead letters.
    wait_until(
        "the failed message to be dead-lettered",
        Duration::from_secs(20),
        || stats(&server, "dead")["visible"] == 1,
    );
    let lines = server.log_texts("qa");
    for i in 0..9 {
        let seen = lines
            .iter()
            .filter(|l| l.starts_with(&format!("message ok-{i} ")))
            .count();
        assert_eq!(seen, 1, "ok-{i} delivered {seen} times: {lines:?}");
    }
    let fails: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("message fail-1 "))
        .collect();
    assert_eq!(fails.len(), 2, "{fails:?}");
    assert!(fails[1].ends_with("receive 2"), "{fails:?}");
    let work = stats(&server, "work");
    assert_eq!(
        (work["visible"].as_u64(), work["in_flight"].as_u64()),
        (Some(0), Some(0))
    );
    // Each delivery is a run with trigger `queue`.
    let runs = server.runs_eventually("app=qa&function=k", 2);
    assert!(runs.iter().all(|r| r["trigger"] == "queue"), "{runs:?}");
    let dead = receive(&server, "dead", 1);
    assert_eq!(dead[0]["body"], "fail-1");

    // A failing async invocation's destination is a queue message.
    let resp = client()
        .post(format!("{}/api/v1/apps/qa/functions/k/invoke", server.api))
        .bearer_auth(&server.token)
        .header("x-strato-path", "/k/panic")
        .header("x-strato-invocation-type", "Event")
        .body("boom")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let mut record = Vec::new();
    wait_until(
        "the failure record in the queue",
        Duration::from_secs(20),
        || {
            record = receive(&server, "failures", 1);
            !record.is_empty()
        },
    );
    let record: Value = serde_json::from_str(record[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestPayload"], "boom");
}
