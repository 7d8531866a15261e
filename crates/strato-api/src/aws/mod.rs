//! The AWS APIs besides S3 that live on the control listener, routed by
//! their own paths and signed with SigV4 by Strato's access keys (the key
//! ring buckets use): the Lambda API under `/2015-03-31/` ([`lambda`]).
//!
//! Authorization is decided once, in [`authenticate`]: the signature is
//! checked over the whole (bounded) body, and the key's app, if any,
//! confines the caller as an app token does on the REST API. Errors are
//! AWS's JSON error documents (`x-amzn-ErrorType` plus
//! `{"Type", "message"}`), which the SDKs read by code.

pub(crate) mod lambda;
pub(crate) mod sigv4;
pub(crate) mod states;

use crate::control::{Caller, Ctx};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sigv4::SignatureError;

/// An AWS error answer: status, error code and message.
#[derive(Debug)]
pub(crate) struct AwsError {
    pub status: StatusCode,
    /// AWS's error code (`ResourceNotFoundException`).
    pub code: &'static str,
    pub message: String,
}

impl AwsError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A bad request (`InvalidParameterValueException`).
    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(error = %self.message, code = self.code, "aws api request failed");
        }
        let kind = if self.status.is_server_error() {
            "Service"
        } else {
            "User"
        };
        // `__type` is where AWS JSON 1.0 clients (Step Functions) read
        // the code; REST-JSON ones (Lambda) read the header.
        let body =
            serde_json::json!({ "__type": self.code, "Type": kind, "message": self.message });
        (
            self.status,
            [
                ("x-amzn-errortype", self.code),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<SignatureError> for AwsError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Missing => AwsError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: sign the request with SigV4 using a key of \
                 `strato keys ls` (the SDKs and aws CLI do this given --endpoint-url)",
            ),
            SignatureError::Malformed(m) => {
                AwsError::new(StatusCode::BAD_REQUEST, "IncompleteSignatureException", m)
            }
            SignatureError::UnknownKey => AwsError::new(
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid: no such access key; \
                 see `strato keys ls`",
            ),
            SignatureError::Expired(m) => {
                AwsError::new(StatusCode::FORBIDDEN, "InvalidSignatureException", m)
            }
            SignatureError::Mismatch => AwsError::new(
                StatusCode::FORBIDDEN,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ),
        }
    }
}

/// Largest signed body read (Lambda's 6 MiB synchronous payload limit);
/// a longer one is refused before its signature is checked.
pub(crate) const MAX_SIGNED_BODY: usize = 6 << 20;

/// Checks a request's SigV4 signature for `service` and records who
/// signed it as the request's [`Caller`].
pub(crate) async fn authenticate(
    State(ctx): State<Ctx>,
    request: Request,
    next: Next,
    service: &'static str,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_SIGNED_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {MAX_SIGNED_BODY} bytes for the Invoke operation"
                ),
            )
            .into_response();
        }
    };
    let signed = sigv4::SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let keys = ctx.platform.buckets().keys();
    let now = strato_core::time::now_ms() / 1000;
    let key_id = match sigv4::verify(&signed, service, now, |id| keys.get(id).map(|k| k.secret)) {
        Ok(id) => id,
        Err(e) => return AwsError::from(e).into_response(),
    };
    let caller = match keys.get(&key_id).and_then(|k| k.app) {
        Some(app) => Caller::App(app),
        None => Caller::Admin,
    };
    let cause = strato_engine::trace::parent_of_aws(&parts.headers, parts.uri.query());
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(caller);
    strato_engine::trace::caused_by(cause, next.run(request)).await
}
