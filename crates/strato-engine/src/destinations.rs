//! Destinations: what a settled invocation or task run queues next
//! (`on_success` / `on_failure`), with Lambda's destination record, as work
//! enqueued in the transaction that records the settling run.

use crate::async_invoke::InvocationHead;
use crate::platform::Platform;
use crate::util::now_ms;
use strato_core::RunStatus;
use strato_core::invocation::{Destination, Priority};
use strato_core::target::Target;
use strato_store::NewInvocation;

/// Attempts at delivering a destination record to a webhook, a task or a
/// queue.
const DESTINATION_ATTEMPTS: u32 = 5;

/// What finished, for its destination record.
pub(crate) struct Outcome<'a> {
    pub app: &'a str,
    pub name: &'a str,
    pub on_success: &'a Option<Destination>,
    pub on_failure: &'a Option<Destination>,
    pub max_age_ms: u64,
    pub invocation_id: &'a str,
    pub payload: &'a [u8],
    pub attempt: u32,
    pub status: RunStatus,
    pub http_status: Option<u16>,
    pub exit_code: Option<i32>,
    pub error: Option<&'a str>,
    /// The settling run's span: the destination's parent.
    pub span: Option<strato_core::TraceContext>,
}

/// The destination invocations a settling run queues (in the same
/// transaction that records it): its `on_success` or `on_failure`, with a
/// Lambda-shaped destination record.
pub(crate) fn destinations(platform: &Platform, done: &Outcome<'_>) -> Vec<NewInvocation> {
    let succeeded = done.status == RunStatus::Succeeded;
    let destination = if succeeded {
        done.on_success
    } else {
        done.on_failure
    };
    let Some(destination) = destination else {
        return Vec::new();
    };
    let now = now_ms();
    let record = destination_record(done, now);
    let mut head = InvocationHead::json_post("/");
    if let Some(span) = &done.span {
        head.headers
            .push((crate::trace::TRACEPARENT.into(), span.traceparent()));
    }
    // A function destination retries as the function's own async work
    // does; a task, a queue or a webhook gets a few attempts.
    let (max_attempts, max_age_ms) = match destination {
        Destination::Function(name) => platform
            .live()
            .function(done.app, name)
            .map(|f| (f.spec.retries + 1, f.spec.max_age_ms))
            .unwrap_or((DESTINATION_ATTEMPTS, done.max_age_ms)),
        Destination::Task(_) => {
            head.env = Some("STRATO_DESTINATION_RECORD".into());
            (DESTINATION_ATTEMPTS, done.max_age_ms)
        }
        Destination::Queue(_) | Destination::Webhook(_) | Destination::Workflow(_) => {
            (DESTINATION_ATTEMPTS, done.max_age_ms)
        }
    };
    vec![NewInvocation {
        id: platform.runs.next_id('i'),
        app: done.app.to_string(),
        target: Target::from(destination),
        priority: Priority::Normal,
        head: serde_json::to_string(&head).expect("heads serialize"),
        body: record.into_bytes(),
        due_ms: now,
        expires_ms: now + max_age_ms as i64,
        max_attempts,
    }]
}

/// Lambda's destination record for a settled invocation (or task run),
/// as of `now_ms`: the request payload as JSON when it is JSON, else as a
/// string.
fn destination_record(done: &Outcome<'_>, now_ms: i64) -> String {
    let payload = serde_json::from_slice::<serde_json::Value>(done.payload)
        .unwrap_or_else(|_| String::from_utf8_lossy(done.payload).into_owned().into());
    let succeeded = done.status == RunStatus::Succeeded;
    serde_json::json!({
        "version": "1.0",
        "timestamp": crate::util::format_rfc3339_ms(now_ms),
        "requestContext": {
            "requestId": done.invocation_id,
            "functionArn": format!("strato:{}:{}", done.app, done.name),
            "condition": if succeeded { "Success" } else { "RetriesExhausted" },
            "approximateInvokeCount": done.attempt,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": done.http_status,
            "exitCode": done.exit_code,
            "functionError": done.error,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_records_have_lambdas_shape() {
        let done = Outcome {
            app: "shop",
            name: "resize",
            on_success: &None,
            on_failure: &None,
            max_age_ms: 0,
            invocation_id: "i1",
            payload: br#"{"order": 7}"#,
            attempt: 3,
            status: RunStatus::Failed,
            http_status: Some(500),
            exit_code: None,
            error: Some("function answered HTTP 500"),
            span: None,
        };
        let record: serde_json::Value =
            serde_json::from_str(&destination_record(&done, 0)).unwrap();
        assert_eq!(record["version"], "1.0");
        assert_eq!(record["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(record["requestContext"]["requestId"], "i1");
        assert_eq!(
            record["requestContext"]["functionArn"],
            "strato:shop:resize"
        );
        assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(record["requestPayload"]["order"], 7);
        assert_eq!(record["responseContext"]["statusCode"], 500);
        assert_eq!(
            record["responseContext"]["functionError"],
            "function answered HTTP 500"
        );
        // Success, and a payload that is not JSON: kept as a string.
        let ok = Outcome {
            status: RunStatus::Succeeded,
            payload: b"plain text",
            error: None,
            exit_code: Some(0),
            http_status: None,
            ..done
        };
        let record: serde_json::Value = serde_json::from_str(&destination_record(&ok, 0)).unwrap();
        assert_eq!(record["requestContext"]["condition"], "Success");
        assert_eq!(record["requestPayload"], "plain text");
        assert_eq!(record["responseContext"]["exitCode"], 0);
    }
}
