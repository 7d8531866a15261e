//! Workflow executions on the control API (app tokens reach their app's).
//!
//! - `POST /api/v1/apps/{app}/workflows/{workflow}/executions[?wait=30s]`
//!   `{"name"?, "input"?}` -> the execution (with `wait`, once it ended or
//!   the wait is over);
//! - `GET /api/v1/executions?app=&workflow=&status=&limit=&before=`;
//! - `GET /api/v1/executions/{id}`, `GET /api/v1/executions/{id}/history?after=&limit=`;
//! - `POST /api/v1/executions/{id}/stop` `{"error"?, "cause"?}`;
//! - `POST /api/v1/workflow-tasks/{success|failure|heartbeat}`
//!   `{"token", "output"? | "error"?, "cause"?}`: a task waiting for its
//!   token gets its answer.

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use strato_engine::workflows::{WorkflowError, execution_arn, state_machine_arn};
use strato_store::{Execution, ExecutionFilter, ExecutionStatus};

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route(
            "/api/v1/apps/{app}/workflows/{workflow}/executions",
            post(handle_start),
        )
        .route("/api/v1/executions", get(handle_list))
        .route("/api/v1/executions/{id}", get(handle_describe))
        .route("/api/v1/executions/{id}/history", get(handle_history))
        .route("/api/v1/executions/{id}/stop", post(handle_stop))
        .route("/api/v1/workflow-tasks/{answer}", post(handle_task_answer))
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        match &e {
            WorkflowError::NoSuchWorkflow { .. } | WorkflowError::NoSuchExecution(_) => {
                ApiError::not_found(e.to_string())
            }
            WorkflowError::AlreadyExists(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            WorkflowError::NoSuchTask | WorkflowError::Invalid(_) => {
                ApiError::bad_request(e.to_string())
            }
            WorkflowError::Storage(_) => ApiError::internal("running a workflow", e),
        }
    }
}

/// An execution as the API shows it: its fields and its ARNs.
pub(crate) fn view(e: &Execution) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    v["arn"] = json!(execution_arn(&e.app, &e.workflow, &e.name));
    v["state_machine_arn"] = json!(state_machine_arn(&e.app, &e.workflow));
    v
}

#[derive(Deserialize, Default)]
struct StartBody {
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<String>,
}

/// Longest wait a start may ask for.
const MAX_WAIT: Duration = Duration::from_secs(300);

async fn handle_start(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, workflow)): Path<(String, String)>,
    Query(q): Query<WaitQuery>,
    body: Option<Json<StartBody>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.scope(Some(&app))?;
    let Json(body) = body.unwrap_or_default();
    let wait = match q.wait.as_deref() {
        None => Duration::ZERO,
        Some(text) => Duration::from_millis(
            strato_core::units::parse_duration_ms(text)
                .map_err(|e| ApiError::bad_request(format!("bad wait: {e}")))?,
        )
        .min(MAX_WAIT),
    };
    let input = body.input.unwrap_or_else(|| json!({}));
    let mut execution = ctx
        .platform
        .start_execution(&app, &workflow, body.name, input)
        .await?;
    if !wait.is_zero() {
        execution = ctx.platform.wait_for_execution(&execution.id, wait).await?;
    }
    Ok((StatusCode::CREATED, Json(view(&execution))))
}

#[derive(Deserialize)]
struct ListQuery {
    app: Option<String>,
    workflow: Option<String>,
    status: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
}

async fn handle_list(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let app = caller.scope(q.app.as_deref())?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            ExecutionStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status {s:?} is not one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED"
                ))
            })?,
        ),
    };
    let filter = ExecutionFilter {
        app,
        workflow: q.workflow,
        status,
        before: q.before,
        trace_id: None,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let list = ctx.platform.list_executions(&filter).await?;
    Ok(Json(list.iter().map(view).collect()))
}

/// The execution `id`, if the caller may see it.
async fn visible(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Execution, ApiError> {
    let execution = ctx.platform.get_execution(id).await?;
    if let Caller::App(app) = caller
        && *app != execution.app
    {
        return Err(WorkflowError::NoSuchExecution(id.into()).into());
    }
    Ok(execution)
}

async fn handle_describe(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&visible(&ctx, &caller, &id).await?)))
}

#[derive(Deserialize)]
struct HistoryQuery {
    after: Option<i64>,
    limit: Option<usize>,
}

async fn handle_history(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    visible(&ctx, &caller, &id).await?;
    let events = ctx
        .platform
        .execution_history(
            &id,
            q.after.unwrap_or(0),
            q.limit.unwrap_or(1000).clamp(1, 1000),
        )
        .await?;
    Ok(Json(
        events
            .iter()
            .map(|e| json!({"id": e.id, "ts_ms": e.ts_ms, "type": e.kind, "details": e.details}))
            .collect(),
    ))
}

#[derive(Deserialize, Default)]
struct StopBody {
    error: Option<String>,
    cause: Option<String>,
}

async fn handle_stop(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<StopBody>>,
) -> Result<Json<Value>, ApiError> {
    visible(&ctx, &caller, &id).await?;
    let Json(body) = body.unwrap_or_default();
    let stopped = ctx
        .platform
        .stop_execution(&id, body.error, body.cause)
        .await?;
    let execution = ctx.platform.get_execution(&id).await?;
    let mut v = view(&execution);
    v["stopped_now"] = json!(stopped);
    Ok(Json(v))
}

#[derive(Deserialize)]
struct TaskAnswer {
    token: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

async fn handle_task_answer(
    State(ctx): State<Ctx>,
    Extension(_caller): Extension<Caller>,
    Path(answer): Path<String>,
    Json(body): Json<TaskAnswer>,
) -> Result<Json<Value>, ApiError> {
    // The token is the capability: whoever holds it may answer (as with
    // AWS, where it goes to the worker doing the task).
    match answer.as_str() {
        "success" => {
            let output = body.output.unwrap_or_else(|| json!({}));
            ctx.platform.send_task_success(&body.token, output).await?
        }
        "failure" => {
            ctx.platform
                .send_task_failure(
                    &body.token,
                    body.error.unwrap_or_default(),
                    body.cause.unwrap_or_default(),
                )
                .await?
        }
        "heartbeat" => ctx.platform.send_task_heartbeat(&body.token).await?,
        other => {
            return Err(ApiError::not_found(format!(
                "no task answer {other:?}: use success, failure or heartbeat"
            )));
        }
    }
    Ok(Json(json!({})))
}
