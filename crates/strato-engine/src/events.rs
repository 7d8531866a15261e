//! Delivering bucket events to functions, at least once.
//!
//! A write hands the events it committed straight to the deliverer (fast
//! path: they were stored already leased to this node, attempt 1
//! counted). The sweeper claims what is due from the store: retries whose
//! backoff has passed and anything whose lease ran out. A delivery holds
//! its event in hand, so the heartbeat renews its lease while it waits
//! for a slot and runs (`crate::lifecycle`); at start a node releases its
//! own leases, so events a crash left leased are delivered again at once.
//! Each delivery is a run with trigger `bucket`, the event id and its
//! attempt number.

use crate::invoke::RunContext;
use crate::lifecycle::Attempt;
use crate::platform::Platform;
use crate::util::{CloudEvent, format_rfc3339_ms, now_ms};
use http_body_util::BodyExt;
use std::sync::Arc;
use strato_core::{RunStatus, Trigger};
use strato_store::{BucketEvent, WorkRef};
use tokio::sync::{mpsc, oneshot};

/// The id a run and the `ce-id` header show for a stored event.
pub fn event_id(id: i64) -> String {
    format!("be{id:016x}")
}

/// Runs until the channel closes (the platform is dropped): delivers the
/// events writes committed leased to this node, at once.
pub(crate) async fn run_deliverer(
    platform: Arc<Platform>,
    mut fresh: mpsc::UnboundedReceiver<BucketEvent>,
) {
    while let Some(event) = fresh.recv().await {
        tokio::spawn(deliver(platform.clone(), event));
    }
}

/// One sweep (see `crate::sweep`): claims due events (retries whose
/// backoff has passed, leases that ran out) and delivers them.
pub(crate) async fn sweep(platform: &Arc<Platform>) {
    let claimed = platform
        .store
        .claim_bucket_events(&platform.config.node_id, now_ms(), platform.lease_ms(), 256)
        .await;
    match claimed {
        Ok(events) => {
            for event in events {
                tokio::spawn(deliver(platform.clone(), event));
            }
        }
        Err(e) => tracing::error!(error = %e, "claiming bucket events"),
    }
}

/// Delivers one event to its function; on failure schedules a retry with
/// exponential backoff, until the function's retries are used up.
async fn deliver(platform: Arc<Platform>, event: BucketEvent) {
    let _held = platform.in_hand.hold(WorkRef::BucketEvent(event.id));
    let function = platform
        .live()
        .function(&event.app, &event.function)
        .cloned();
    if function.is_none()
        && let Some(task) = platform.live_task(&event.app, &event.function)
    {
        deliver_to_task(&platform, &task, &event).await;
        return;
    }
    if function.is_none() && platform.has_workflow(&event.app, &event.function) {
        deliver_to_workflow(&platform, &event).await;
        return;
    }
    let Some(function) = function else {
        tracing::warn!(app = %event.app, function = %event.function, event = event.id,
            "bucket event for a function that is no longer deployed; dropped");
        if let Err(e) = platform.store.finish_bucket_events(&[event.id]).await {
            tracing::error!(error = %e, "dropping a bucket event");
        }
        return;
    };
    let id = event_id(event.id);
    let body = bytes::Bytes::from(event_payload(&event, &platform.config.region));
    // Event deliveries are POSTs to `/`, as Lambda-style handlers expect.
    let request = CloudEvent {
        id: id.clone(),
        kind: format!("com.amazonaws.s3.{}", event.name),
        source: format!("strato:bucket:{}", event.bucket),
        time_ms: event.at_ms,
        subject: Some(event.key.clone()),
    }
    .request(body.clone());
    let (tell, status) = oneshot::channel();
    // Decided before the run, which settles the event when it is last.
    let next_due = Attempt {
        number: event.attempts,
        max: function.spec.retries + 1,
        expires_ms: None,
    }
    .next_due(platform.config.event_retry_base, now_ms());
    let last_attempt = next_due.is_none();
    // The write that made the event is the run's parent.
    let parent = event
        .traceparent
        .as_deref()
        .and_then(strato_core::TraceContext::parse_traceparent);
    let mut cx = RunContext::new(Trigger::Bucket).caused_by(parent);
    cx.event_id = Some(id);
    cx.accepted_ms = Some(event.at_ms);
    cx.keep_payload(&body);
    cx.attempt = event.attempts;
    cx.wait_for_slot = true;
    cx.on_status = Some(tell);
    // The run's record settles the event (success, or a last failure) in
    // the same transaction, so a crash never separates the two.
    cx.delivers_event = Some((event.id, last_attempt));
    cx.fence = Some(fence_of(&platform, &event));
    let response = platform.run_function(function, request, cx).await;
    // Read the whole answer so the guest can finish writing it.
    let _ = response.into_body().collect().await;
    let succeeded = matches!(status.await, Ok(RunStatus::Succeeded));
    if succeeded {
        return;
    }
    let Some(due) = next_due else {
        tracing::warn!(
            event = event.id,
            attempts = event.attempts,
            "bucket event failed; retries used up"
        );
        return;
    };
    retry(&platform, &event, due).await;
}

/// This node's lease on an event it delivers.
fn fence_of(platform: &Platform, event: &BucketEvent) -> strato_store::Fence {
    strato_store::Fence {
        work: strato_store::WorkRef::BucketEvent(event.id),
        owner: platform.config.node_id.clone(),
        attempt: event.attempts,
    }
}

/// Releases an event for its next attempt at `due`, unless another node
/// took it over meanwhile.
async fn retry(platform: &Platform, event: &BucketEvent, due: i64) {
    match platform
        .store
        .retry_bucket_event(&fence_of(platform, event), due)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            event = event.id,
            "another node took this event over after this node's lease ran out; leaving it to that node"
        ),
        Err(e) => tracing::error!(error = %e, "scheduling a bucket event retry"),
    }
}

/// Starts the subscribed task with the event in its environment: the
/// event is settled in the transaction that queues the run (the run has
/// its own retries from there).
async fn deliver_to_task(
    platform: &Arc<Platform>,
    task: &crate::live::LiveTask,
    event: &BucketEvent,
) {
    let mut overrides = crate::tasks::TaskOverrides::default();
    for (k, v) in [
        ("BUCKET", event.bucket.clone()),
        ("KEY", event.key.clone()),
        ("EVENT_NAME", event.name.clone()),
        ("S3_EVENT", event_payload(event, &platform.config.region)),
    ] {
        overrides.env.insert(k.to_string(), v);
    }
    let parent = event
        .traceparent
        .as_deref()
        .and_then(strato_core::TraceContext::parse_traceparent);
    let queued = crate::trace::caused_by(
        parent,
        platform.queue_task(
            task,
            overrides,
            Trigger::Bucket,
            Some((event.id, event_id(event.id))),
            None,
        ),
    )
    .await;
    if let Err(e) = queued {
        tracing::error!(error = %e, event = event.id, "queueing a task for a bucket event");
        let due = now_ms() + platform.config.event_retry_base.as_millis() as i64;
        retry(platform, event, due).await;
    }
}

/// Starts the subscribed workflow with the S3 event as its input, named
/// after the event (a repeated delivery starts none), then settles it.
async fn deliver_to_workflow(platform: &Arc<Platform>, event: &BucketEvent) {
    let input =
        serde_json::from_str(&event_payload(event, &platform.config.region)).unwrap_or_default();
    let started = platform
        .start_execution_once(&event.app, &event.function, &event_id(event.id), input)
        .await;
    let settled = match started {
        Ok(()) => platform.store.finish_bucket_events(&[event.id]).await,
        Err(e) => {
            tracing::error!(error = %e, event = event.id, "starting a workflow for a bucket event");
            let due = now_ms() + platform.config.event_retry_base.as_millis() as i64;
            retry(platform, event, due).await;
            return;
        }
    };
    if let Err(e) = settled {
        tracing::error!(error = %e, event = event.id, "settling a bucket event");
    }
}

/// An S3 event notification, as AWS sends it.
pub fn event_payload(event: &BucketEvent, region: &str) -> String {
    let key: String = form_urlencode(&event.key);
    let mut object = serde_json::json!({
        "key": key,
        "size": event.size,
        "eTag": event.etag.trim_matches('"'),
        "sequencer": format!("{:016X}", event.id),
    });
    // As S3: a version id when the bucket keeps versions; a delete marker
    // has no size or ETag.
    if let Some(id) = &event.version_id {
        object["versionId"] = id.as_str().into();
    }
    if event.name == "ObjectRemoved:DeleteMarkerCreated"
        && let Some(fields) = object.as_object_mut()
    {
        fields.remove("size");
        fields.remove("eTag");
    }
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region,
            "eventTime": format_rfc3339_ms(event.at_ms),
            "eventName": event.name,
            "userIdentity": {"principalId": "strato"},
            // The writer's address is not kept with the object; handlers
            // read the field, so it carries a loopback placeholder.
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": event_id(event.id)},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": format!("{}/{}", event.app, event.function),
                "bucket": {
                    "name": event.bucket,
                    "ownerIdentity": {"principalId": "strato"},
                    "arn": format!("arn:aws:s3:::{}", event.bucket),
                },
                "object": object,
            },
        }]
    })
    .to_string()
}

/// S3 events carry keys form-encoded (`my file.txt` → `my+file.txt`).
fn form_urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_aws_shape() {
        let event = BucketEvent {
            id: 42,
            bucket: "media".into(),
            key: "in/my clip+1.mp4".into(),
            name: "ObjectCreated:Put".into(),
            size: 10,
            etag: "\"abc\"".into(),
            at_ms: 0,
            traceparent: None,
            app: "a".into(),
            function: "f".into(),
            attempts: 1,
            version_id: None,
        };
        let v: serde_json::Value =
            serde_json::from_str(&event_payload(&event, "us-east-1")).unwrap();
        let r = &v["Records"][0];
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["eventTime"], "1970-01-01T00:00:00.000Z");
        assert_eq!(r["s3"]["bucket"]["name"], "media");
        assert_eq!(r["s3"]["object"]["key"], "in/my+clip%2B1.mp4");
        assert_eq!(r["s3"]["object"]["eTag"], "abc");
        assert_eq!(r["s3"]["object"]["size"], 10);
        assert!(r["s3"]["object"].get("versionId").is_none());

        let marker = BucketEvent {
            name: "ObjectRemoved:DeleteMarkerCreated".into(),
            version_id: Some("v1".into()),
            ..event
        };
        let v: serde_json::Value =
            serde_json::from_str(&event_payload(&marker, "us-east-1")).unwrap();
        let o = &v["Records"][0]["s3"]["object"];
        assert_eq!(o["versionId"], "v1");
        assert!(o.get("size").is_none() && o.get("eTag").is_none());
    }
}
