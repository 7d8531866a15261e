//! The Lambda Runtime API (`/2018-06-01/runtime/...`) for one execution
//! environment, as AWS documents it: the runtime asks for the `next`
//! invocation (a long poll), and answers it with a `response` or an
//! `error`; a runtime that cannot start reports `init/error`.
//!
//! One [`RuntimeApi`] serves one environment on its own loopback port, so
//! an environment can only see and answer its own invocations (the port is
//! forwarded into the container's network namespace and nowhere else).
//! One invocation is in flight at a time, as on Lambda.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Largest error document read; a larger one counts as an error without
/// its text (a stack trace is not worth more).
const MAX_ERROR_BYTES: usize = 256 << 10;

/// Settings of one environment's Runtime API.
#[derive(Debug, Clone)]
pub struct RuntimeApiConfig {
    /// What `Lambda-Runtime-Invoked-Function-Arn` says.
    pub function_arn: String,
    /// Largest answer a handler may give (Lambda: 6 MiB).
    pub max_response_bytes: usize,
}

/// One invocation on its way to the environment.
#[derive(Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`: the run's id.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`: when the timeout strikes, in ms since
    /// the epoch (`context.get_remaining_time_in_millis()` counts to it).
    pub deadline_ms: i64,
    /// `Lambda-Runtime-Trace-Id`, if the run has a trace.
    pub trace_id: Option<String>,
    /// The event, as the handler receives it.
    pub event: Bytes,
    /// Told the answer (dropped unanswered if the environment goes away).
    pub done: oneshot::Sender<Answer>,
}

/// How an invocation was answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The handler returned: its result, as the runtime serialized it.
    Response(Bytes),
    /// The handler raised (or the runtime reported an error for it).
    Error(FunctionError),
    /// The answer was larger than the limit (its size so far).
    TooLarge(usize),
}

/// An error document a runtime posts (`errorType`, `errorMessage`,
/// `stackTrace`), as the runtime interface clients write it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionError {
    #[serde(rename = "errorType", default)]
    pub error_type: String,
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
    #[serde(rename = "stackTrace", default, skip_serializing_if = "Vec::is_empty")]
    pub stack_trace: Vec<String>,
}

impl FunctionError {
    /// Reads a posted error; a body that is not the JSON document still
    /// yields an error (its text as the message, the type from the
    /// `Lambda-Runtime-Function-Error-Type` header).
    fn parse(body: &[u8], header_type: Option<&str>) -> FunctionError {
        let mut error = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .map(|v| FunctionError {
                error_type: v["errorType"].as_str().unwrap_or_default().to_string(),
                error_message: v["errorMessage"].as_str().unwrap_or_default().to_string(),
                // Python's client sends a list of lines as `stackTrace`,
                // Node's as `trace`; others a string.
                stack_trace: match v.get("stackTrace").unwrap_or(&v["trace"]) {
                    serde_json::Value::Array(lines) => lines
                        .iter()
                        .map(|l| l.as_str().map(str::to_string).unwrap_or(l.to_string()))
                        .collect(),
                    serde_json::Value::String(s) => s.lines().map(str::to_string).collect(),
                    _ => Vec::new(),
                },
            })
            .unwrap_or_else(|| FunctionError {
                error_message: String::from_utf8_lossy(body).into_owned(),
                ..Default::default()
            });
        if error.error_type.is_empty() {
            error.error_type = header_type.unwrap_or("Unhandled").to_string();
        }
        error
    }

    /// `errorType: errorMessage`, as a run's error shows it.
    pub fn summary(&self) -> String {
        if self.error_message.is_empty() {
            self.error_type.clone()
        } else {
            format!("{}: {}", self.error_type, self.error_message)
        }
    }
}

/// What the environment's runtime did outside an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// It asked for its first invocation: init is over.
    Ready,
    /// It could not start (`init/error`: e.g. `Runtime.ImportModuleError`).
    InitError(FunctionError),
}

/// One environment's Runtime API, served until dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves a new Runtime API on a free loopback port. Invocations sent
    /// to the returned sender go to the runtime's `next`, one at a time;
    /// the receiver hears [`RuntimeEvent`]s.
    pub async fn start(
        config: RuntimeApiConfig,
    ) -> std::io::Result<(
        RuntimeApi,
        mpsc::Sender<Invocation>,
        mpsc::UnboundedReceiver<RuntimeEvent>,
    )> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(listener, config)
    }

    /// [`RuntimeApi::start`] on a listener the caller opened (in an
    /// environment's network namespace, so the runtime reaches it with no
    /// forwarding hop).
    pub fn serve(
        listener: tokio::net::TcpListener,
        config: RuntimeApiConfig,
    ) -> std::io::Result<(
        RuntimeApi,
        mpsc::Sender<Invocation>,
        mpsc::UnboundedReceiver<RuntimeEvent>,
    )> {
        let addr = listener.local_addr()?;
        let (invocations, queued) = mpsc::channel(1);
        let (events, heard) = mpsc::unbounded_channel();
        let state = Arc::new(Environment {
            config,
            queued: tokio::sync::Mutex::new(queued),
            in_flight: Mutex::new(None),
            ready: std::sync::atomic::AtomicBool::new(false),
            events,
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(handle_next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(handle_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(handle_error),
            )
            .route("/2018-06-01/runtime/init/error", post(handle_init_error))
            .with_state(state);
        let server = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            // Answers go out at once: a runtime's next request waits on them.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "a Runtime API listener stopped");
            }
        });
        Ok((RuntimeApi { addr, server }, invocations, heard))
    }

    /// Where it listens (on a loopback: the host's, or an environment's).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The state one environment's API shares between its handlers.
struct Environment {
    config: RuntimeApiConfig,
    /// Invocations waiting for the runtime's `next`.
    queued: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    /// The invocation the runtime is working on: its id and whom to tell.
    in_flight: Mutex<Option<(String, oneshot::Sender<Answer>)>>,
    /// Whether the runtime has asked for work yet.
    ready: std::sync::atomic::AtomicBool,
    events: mpsc::UnboundedSender<RuntimeEvent>,
}

impl Environment {
    /// Takes the in-flight invocation if `id` names it.
    fn take(&self, id: &str) -> Option<oneshot::Sender<Answer>> {
        let mut slot = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some((current, done)) if current == id => Some(done),
            other => {
                *slot = other;
                None
            }
        }
    }
}

/// The error document the Runtime API answers a runtime's mistake with.
fn refuse(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message});
    (status, axum::Json(body)).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

async fn handle_next(State(env): State<Arc<Environment>>) -> Response {
    if !env.ready.swap(true, std::sync::atomic::Ordering::SeqCst) {
        let _ = env.events.send(RuntimeEvent::Ready);
    }
    // Asking again without answering abandons the invocation in flight.
    let abandoned = env
        .in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some((id, done)) = abandoned {
        let _ = done.send(Answer::Error(FunctionError {
            error_type: "Runtime.InvalidResponse".into(),
            error_message: format!(
                "the runtime asked for the next invocation without answering {id}"
            ),
            stack_trace: Vec::new(),
        }));
    }
    let Some(invocation) = env.queued.lock().await.recv().await else {
        // The environment is being torn down: the runtime should exit.
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.ExitError",
            "this environment is shutting down",
        );
    };
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
    headers.insert(
        "lambda-runtime-aws-request-id",
        header(&invocation.request_id),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&invocation.deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header(&env.config.function_arn),
    );
    if let Some(trace) = &invocation.trace_id {
        headers.insert("lambda-runtime-trace-id", header(trace));
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    *env.in_flight.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((invocation.request_id, invocation.done));
    (StatusCode::OK, headers, invocation.event).into_response()
}

async fn handle_response(
    State(env): State<Arc<Environment>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let Some(done) = env.take(&id) else {
        return unknown_request(&id);
    };
    let limit = env.config.max_response_bytes;
    match read_limited(body, limit).await {
        Ok(bytes) => {
            let _ = done.send(Answer::Response(bytes));
            accepted()
        }
        Err(size) => {
            let _ = done.send(Answer::TooLarge(size));
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("the response is larger than the limit of {limit} bytes"),
            )
        }
    }
}

async fn handle_error(
    State(env): State<Arc<Environment>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(done) = env.take(&id) else {
        return unknown_request(&id);
    };
    let body = read_limited(body, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    let _ = done.send(Answer::Error(FunctionError::parse(
        &body,
        error_type_header(&headers),
    )));
    accepted()
}

async fn handle_init_error(
    State(env): State<Arc<Environment>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read_limited(body, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    let error = FunctionError::parse(&body, error_type_header(&headers));
    let _ = env.events.send(RuntimeEvent::InitError(error));
    accepted()
}

fn error_type_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
}

fn unknown_request(id: &str) -> Response {
    refuse(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("{id} is not the invocation this environment is working on"),
    )
}

/// The whole body, or the size read when it passed `limit`.
async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, usize> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            break;
        };
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > limit {
                return Err(out.len() + data.len());
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests;
