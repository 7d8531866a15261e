//! Queues and schedules on the control API (app tokens: their own app).
//!
//! - `GET /api/v1/queues?app=A` every queue with its depth
//! - `GET /api/v1/apps/{app}/queues/{queue}` one queue's stats
//! - `POST /api/v1/apps/{app}/queues/{queue}/messages`
//!   `{"messages":[{"body":"..","delay_seconds":0}]}` -> `{"message_ids":[..]}`
//! - `POST .../receive` `{"max":10,"wait_seconds":20,"visibility_timeout_seconds":30}`
//!   -> `{"messages":[{"id","receipt","body","sent_ms","receive_count",..}]}`
//! - `POST .../delete` `{"receipts":[..]}` -> `{"deleted":[true,..]}`
//! - `POST .../visibility` `{"receipts":[..],"timeout_seconds":0}` -> `{"changed":[..]}`
//! - `POST .../purge` -> `{"purged":N}`, `POST .../redrive` -> `{"moved":N}`
//! - `GET /api/v1/schedules?app=A` every schedule with its next fire times

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use strato_engine::queues::{QueueError, SendEntry};

/// Ten messages of the largest size, JSON-escaped, with room to spare.
const MAX_SEND_BODY: usize = 24 << 20;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/queues", get(handle_list_queues))
        .route("/api/v1/schedules", get(handle_list_schedules))
        .route("/api/v1/apps/{app}/queues/{queue}", get(handle_queue_stats))
        .route(
            "/api/v1/apps/{app}/queues/{queue}/messages",
            post(handle_send).layer(DefaultBodyLimit::max(MAX_SEND_BODY)),
        )
        .route(
            "/api/v1/apps/{app}/queues/{queue}/receive",
            post(handle_receive),
        )
        .route(
            "/api/v1/apps/{app}/queues/{queue}/delete",
            post(handle_delete),
        )
        .route(
            "/api/v1/apps/{app}/queues/{queue}/visibility",
            post(handle_visibility),
        )
        .route(
            "/api/v1/apps/{app}/queues/{queue}/purge",
            post(handle_purge),
        )
        .route(
            "/api/v1/apps/{app}/queues/{queue}/redrive",
            post(handle_redrive),
        )
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match &e {
            QueueError::NoSuchQueue { .. } => ApiError::not_found(e.to_string()),
            QueueError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            QueueError::BadRequest(_) => ApiError::bad_request(e.to_string()),
            QueueError::Storage(_) => ApiError::internal("using a queue", e),
        }
    }
}

/// Parses a JSON body, saying what shape was expected.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], example: &str) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("bad body: {e}; send {example}")))
}

fn seconds(value: Option<f64>, field: &str) -> Result<Option<Duration>, ApiError> {
    match value {
        None => Ok(None),
        Some(s) if (0.0..=43_200.0).contains(&s) => Ok(Some(Duration::from_secs_f64(s))),
        Some(_) => Err(ApiError::bad_request(format!(
            "`{field}` must be between 0 and 43200 seconds"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    messages: Vec<SendMessage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    body: String,
    delay_seconds: Option<f64>,
}

async fn handle_send(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let send: SendBody = parse(&body, r#"{"messages": [{"body": "..."}]}"#)?;
    let entries = send
        .messages
        .into_iter()
        .map(|m| {
            Ok(SendEntry {
                body: m.body.into_bytes(),
                delay: seconds(m.delay_seconds, "delay_seconds")?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let ids = ctx.platform.send_messages(&app, &queue, entries).await?;
    Ok(Json(json!({ "message_ids": ids })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReceiveBody {
    max: Option<usize>,
    wait_seconds: Option<f64>,
    visibility_timeout_seconds: Option<f64>,
}

async fn handle_receive(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let receive: ReceiveBody = parse(&body, r#"{"max": 10, "wait_seconds": 20}"#)?;
    let wait = seconds(receive.wait_seconds, "wait_seconds")?.unwrap_or_default();
    let visibility = seconds(
        receive.visibility_timeout_seconds,
        "visibility_timeout_seconds",
    )?;
    let messages = ctx
        .platform
        .receive_messages(&app, &queue, receive.max.unwrap_or(1), wait, visibility)
        .await?;
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id,
                "receipt": m.receipt,
                "body": String::from_utf8_lossy(&m.body),
                "sent_ms": m.sent_ms,
                "first_receive_ms": m.first_receive_ms,
                "receive_count": m.receive_count,
            })
        })
        .collect();
    Ok(Json(json!({ "messages": messages })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptsBody {
    receipts: Vec<String>,
    timeout_seconds: Option<f64>,
}

async fn handle_delete(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let body: ReceiptsBody = parse(&body, r#"{"receipts": ["..."]}"#)?;
    let deleted = ctx
        .platform
        .delete_messages(&app, &queue, body.receipts)
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}

async fn handle_visibility(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let example = r#"{"receipts": ["..."], "timeout_seconds": 0}"#;
    let body: ReceiptsBody = parse(&body, example)?;
    let timeout = seconds(body.timeout_seconds, "timeout_seconds")?.ok_or_else(|| {
        ApiError::bad_request(format!("`timeout_seconds` is missing; send {example}"))
    })?;
    let changed = ctx
        .platform
        .change_message_visibility(&app, &queue, body.receipts, timeout)
        .await?;
    Ok(Json(json!({ "changed": changed })))
}

async fn handle_purge(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let purged = ctx.platform.purge_queue(&app, &queue).await?;
    Ok(Json(json!({ "purged": purged })))
}

async fn handle_redrive(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let moved = ctx.platform.redrive_queue(&app, &queue).await?;
    Ok(Json(json!({ "moved": moved })))
}

async fn handle_queue_stats(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, queue)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.scope(Some(&app))?;
    let found = ctx.platform.queue_info(&app, &queue).await?;
    Ok(Json(
        serde_json::to_value(found).expect("queue info serializes"),
    ))
}

#[derive(Deserialize)]
struct AppQuery {
    app: Option<String>,
}

async fn handle_list_queues(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    let app = caller.scope(query.app.as_deref())?;
    let queues = ctx.platform.list_queues(app.as_deref()).await?;
    Ok(Json(json!({ "queues": queues })))
}

async fn handle_list_schedules(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AppQuery>,
) -> Result<Json<Value>, ApiError> {
    let app = caller.scope(query.app.as_deref())?;
    let schedules = ctx.platform.list_schedules(app.as_deref()).await?;
    Ok(Json(json!({ "schedules": schedules })))
}
