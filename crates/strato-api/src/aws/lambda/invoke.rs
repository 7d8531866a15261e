//! `Invoke`: `POST /2015-03-31/functions/{name}/invocations`.
//!
//! `X-Amz-Invocation-Type` picks how: `RequestResponse` (the default) runs
//! the function now and answers its result (200, with
//! `X-Amz-Function-Error: Unhandled` and the error document when it
//! failed); `Event` queues it durably through the async invocations
//! (retries, destinations) and answers 202; `DryRun` checks that it exists
//! and may be called, and answers 204. `X-Amz-Log-Type: Tail` adds the
//! last 4 KB of the run's log, base64, as `X-Amz-Log-Result`.

use super::{FunctionRef, lambda_error, parse_function_name};
use crate::aws::AwsError;
use crate::control::{Caller, Ctx};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use strato_core::LogLine;

/// How much of the log `Tail` returns (as Lambda).
const TAIL_BYTES: usize = 4096;

#[derive(Deserialize)]
pub(crate) struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

pub(crate) async fn handle_invoke(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AwsError> {
    let function = parse_function_name(&name, query.qualifier.as_deref())?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let kind = match header("x-amz-invocation-type") {
        None | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("Event") => InvocationType::Event,
        Some("DryRun") => InvocationType::DryRun,
        Some(other) => {
            return Err(AwsError::invalid_parameter(format!(
                "X-Amz-Invocation-Type `{other}` is not RequestResponse, Event or DryRun"
            )));
        }
    };
    let tail = match header("x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(AwsError::invalid_parameter(format!(
                "X-Amz-Log-Type `{other}` is not None or Tail"
            )));
        }
    };
    let payload = checked_payload(body)?;
    let region = ctx.config.region.clone();
    let only_app = caller.only_app();
    let fail = |e| lambda_error(e, &region, &function);
    let mut response = match kind {
        InvocationType::DryRun => {
            ctx.platform
                .function_info(&function.target, only_app)
                .map_err(fail)?;
            StatusCode::NO_CONTENT.into_response()
        }
        InvocationType::Event => {
            if payload.len() > strato_engine::MAX_ASYNC_BODY {
                return Err(too_large(
                    strato_engine::MAX_ASYNC_BODY,
                    "an Event invocation",
                ));
            }
            let id = ctx
                .platform
                .invoke_event_async(&function.target, payload, only_app)
                .await
                .map_err(fail)?;
            let mut response = StatusCode::ACCEPTED.into_response();
            set(&mut response, "x-amzn-requestid", &id);
            set(&mut response, "x-strato-invocation-id", &id);
            response
        }
        InvocationType::RequestResponse => {
            return invoke_now(&ctx, &function, payload, tail, only_app)
                .await
                .map_err(fail);
        }
    };
    set(&mut response, "x-amz-executed-version", "$LATEST");
    Ok(response)
}

async fn invoke_now(
    ctx: &Ctx,
    function: &FunctionRef,
    payload: Bytes,
    tail: bool,
    only_app: Option<&str>,
) -> Result<Response, strato_engine::InvokeError> {
    let answer = ctx
        .platform
        .invoke_event(&function.target, payload, tail, only_app)
        .await?;
    Ok(answer_response(answer, tail))
}

/// A function's answer as `Invoke` gives it: the result, or an error
/// document flagged by `X-Amz-Function-Error`; with `tail`, the end of its
/// log in `X-Amz-Log-Result`.
pub(crate) fn answer_response(answer: strato_engine::EventAnswer, tail: bool) -> Response {
    let body = if answer.function_error {
        error_document(answer.body)
    } else {
        answer.body
    };
    let mut response = (StatusCode::OK, body).into_response();
    set(&mut response, "content-type", "application/json");
    set(&mut response, "x-amzn-requestid", &answer.run_id);
    set(&mut response, strato_engine::RUN_ID_HEADER, &answer.run_id);
    set(&mut response, "x-amz-executed-version", "$LATEST");
    if answer.function_error {
        set(&mut response, "x-amz-function-error", "Unhandled");
    }
    if tail {
        set(&mut response, "x-amz-log-result", &log_tail(&answer.logs));
    }
    response
}

/// The payload as the function gets it: JSON (an empty body is `{}`).
fn checked_payload(body: Bytes) -> Result<Bytes, AwsError> {
    strato_engine::parse_event(body).map_err(|e| {
        AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )
    })
}

fn too_large(limit: usize, what: &str) -> AwsError {
    AwsError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        format!("Request must be smaller than {limit} bytes for {what}"),
    )
}

/// A failed run's answer as a Lambda error document: a Lambda handler's
/// is one already; anything else (a wasm function's error page) becomes
/// `{"errorType": "Unhandled", "errorMessage": ...}`.
fn error_document(body: Bytes) -> Bytes {
    let is_document = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|v| v.get("errorMessage").is_some() || v.get("errorType").is_some());
    if is_document {
        return body;
    }
    let document = serde_json::json!({
        "errorType": "Unhandled",
        "errorMessage": String::from_utf8_lossy(&body).trim_end(),
    });
    Bytes::from(document.to_string())
}

/// The last [`TAIL_BYTES`] of the log, base64, as `X-Amz-Log-Result`.
fn log_tail(lines: &[LogLine]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line.text);
        text.push('\n');
    }
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&text[start..])
}

fn set(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_4_kb_on_a_char_boundary() {
        let line = |text: &str| LogLine {
            ts_ms: 0,
            stream: strato_core::LogStream::Stdout,
            text: text.into(),
        };
        let lines: Vec<LogLine> = (0..1000).map(|i| line(&format!("é line {i}"))).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(log_tail(&lines))
            .unwrap();
        let text = String::from_utf8(decoded).unwrap();
        assert!(text.len() <= TAIL_BYTES && text.len() > TAIL_BYTES - 4);
        assert!(text.ends_with("é line 999\n"));
    }

    #[test]
    fn payloads_must_be_json_and_errors_become_documents() {
        assert_eq!(checked_payload(Bytes::new()).unwrap(), "{}");
        assert!(checked_payload(Bytes::from("[1, 2]")).is_ok());
        assert_eq!(
            checked_payload(Bytes::from("{nope")).unwrap_err().code,
            "InvalidRequestContentException"
        );
        let doc = r#"{"errorMessage":"boom","errorType":"ValueError"}"#;
        assert_eq!(error_document(Bytes::from(doc)), doc);
        let wrapped: serde_json::Value =
            serde_json::from_slice(&error_document(Bytes::from("upstream failed\n"))).unwrap();
        assert_eq!(wrapped["errorMessage"], "upstream failed");
    }
}
