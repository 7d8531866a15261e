//! Many async invocations in one request:
//! `POST /api/v1/apps/{app}/functions/{function}/invocations`
//! `{"invocations": [{"body": "..", "path": "/.."}], "priority": "normal"}`
//! -> 202 `{"invocation_ids": [..]}` once all are durable (1 to 1,000 per
//! request; each as an `X-Strato-Invocation-Type: Event` POST would be).

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use strato_core::invocation::Priority;
use strato_engine::InvocationHead;

/// Most invocations one request may queue.
const MAX_BATCH: usize = 1_000;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new().route(
        "/api/v1/apps/{app}/functions/{function}/invocations",
        post(handle_invoke_batch).layer(DefaultBodyLimit::max(64 << 20)),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    invocations: Vec<BatchItem>,
    #[serde(default)]
    priority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchItem {
    #[serde(default)]
    body: String,
    #[serde(default)]
    path: Option<String>,
}

async fn handle_invoke_batch(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, function)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let only_app = caller.scope(Some(&app))?;
    let batch: BatchBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "bad body: {e}; send {{\"invocations\": [{{\"body\": \"...\", \"path\": \"/\"}}]}}"
        ))
    })?;
    if batch.invocations.is_empty() || batch.invocations.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "send 1 to {MAX_BATCH} invocations at a time, not {}",
            batch.invocations.len()
        )));
    }
    let priority = match batch.priority.as_deref() {
        None => Priority::Normal,
        Some(p) => strato_engine::parse_priority(p).map_err(ApiError::bad_request)?,
    };
    let mut requests = Vec::with_capacity(batch.invocations.len());
    for item in batch.invocations {
        if item.body.len() > strato_engine::MAX_ASYNC_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "an invocation's body is over {} bytes; send less (a large payload can go \
                     to a bucket, the invocation carrying its key)",
                    strato_engine::MAX_ASYNC_BODY
                ),
            ));
        }
        let path = item.path.unwrap_or_else(|| "/".into());
        if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
            return Err(ApiError::bad_request(format!(
                "path `{path}` must be a path starting with `/`"
            )));
        }
        requests.push((InvocationHead::post(&path), Bytes::from(item.body)));
    }
    let target = format!("{app}/{function}");
    let ids = ctx
        .platform
        .invoke_async_batch(&target, requests, priority, only_app.as_deref())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "invocation_ids": ids })),
    )
        .into_response())
}
