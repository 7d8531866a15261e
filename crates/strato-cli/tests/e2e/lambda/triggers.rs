//! Every trigger Strato has, delivering to Lambda handlers.

use super::said;
use crate::support::*;
use std::time::Duration;

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
