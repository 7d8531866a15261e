//! Traces on the control API: every run of one chain of work, and the
//! workflow executions between them.
//!
//! - `GET /api/v1/traces/{trace_id}` -> `{"trace_id", "runs": [RunRecord..],
//!   "executions": [execution..]}`, oldest first; each has `span_id` and
//!   `parent_span_id` (a Task state's run hangs from its execution), so a
//!   client draws the tree. An app token sees only its app's part.
//! - `GET /api/v1/runs/{id}/trace` -> the same for the trace a run is in.

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use strato_core::RunRecord;
use strato_store::{Execution, ExecutionFilter};

/// More runs than any chain a person reads; the rest are left out.
const MAX_TRACE_RUNS: usize = 10_000;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/traces/{trace_id}", get(handle_get_trace))
        .route("/api/v1/runs/{id}/trace", get(handle_get_run_trace))
}

async fn handle_get_trace(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let trace_id = trace_id.to_ascii_lowercase();
    if strato_core::trace::parse_trace_id(&trace_id).is_none() {
        return Err(ApiError::bad_request(format!(
            "`{trace_id}` is not a trace id; give its 32 hex digits, or use /api/v1/runs/RUN_ID/trace"
        )));
    }
    trace_of(&ctx, &caller, trace_id).await
}

async fn handle_get_run_trace(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let run = ctx
        .platform
        .store()
        .get_run(&id)
        .await?
        .filter(|r| caller.scope(Some(&r.app)).is_ok())
        .ok_or_else(|| ApiError::not_found(format!("no run `{id}`; see `strato runs`")))?;
    let Some(trace_id) = run.trace_id else {
        return Err(ApiError::not_found(format!(
            "run `{id}` has no trace (it was recorded by a Strato older than traces)"
        )));
    };
    trace_of(&ctx, &caller, trace_id).await
}

/// The runs of a trace the caller may see, oldest first.
pub(crate) async fn runs_in_trace(
    ctx: &Ctx,
    caller: &Caller,
    trace_id: &str,
    limit: usize,
) -> Result<Vec<RunRecord>, ApiError> {
    let mut runs = ctx
        .platform
        .store()
        .runs_in_trace(&trace_id.to_ascii_lowercase(), limit)
        .await?;
    runs.retain(|r| caller.scope(Some(&r.app)).is_ok());
    runs.sort_by(|a, b| (a.started_at_ms, &a.id).cmp(&(b.started_at_ms, &b.id)));
    Ok(runs)
}

/// The workflow executions of a trace the caller may see, oldest first.
pub(crate) async fn executions_in_trace(
    ctx: &Ctx,
    caller: &Caller,
    trace_id: &str,
    limit: usize,
) -> Result<Vec<Execution>, ApiError> {
    let filter = ExecutionFilter {
        trace_id: Some(trace_id.to_ascii_lowercase()),
        limit,
        ..Default::default()
    };
    let mut executions = ctx.platform.list_executions(&filter).await?;
    executions.retain(|e| caller.scope(Some(&e.app)).is_ok());
    executions.reverse();
    Ok(executions)
}

async fn trace_of(ctx: &Ctx, caller: &Caller, trace_id: String) -> Result<Json<Value>, ApiError> {
    let runs = runs_in_trace(ctx, caller, &trace_id, MAX_TRACE_RUNS).await?;
    let executions = executions_in_trace(ctx, caller, &trace_id, MAX_TRACE_RUNS).await?;
    if runs.is_empty() && executions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no runs in trace `{trace_id}` that this token may see"
        )));
    }
    let executions: Vec<Value> = executions.iter().map(crate::workflows::view).collect();
    Ok(Json(
        json!({ "trace_id": trace_id, "runs": runs, "executions": executions }),
    ))
}

/// One span of a trace as a screen draws it: a run, or a workflow
/// execution its Task states' runs hang from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TraceSpan {
    pub id: String,
    pub app: String,
    /// The function, task or service; or the workflow.
    pub name: String,
    /// The run's trigger, or `execution`.
    pub kind: &'static str,
    /// As a run's status reads (`succeeded`, `failed`, `running`...).
    pub status: &'static str,
    pub started_ms: i64,
    pub duration_us: i64,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    /// Its page on the dashboard.
    pub href: String,
}

impl TraceSpan {
    pub(crate) fn of_run(run: &RunRecord) -> TraceSpan {
        TraceSpan {
            id: run.id.clone(),
            app: run.app.clone(),
            name: run.function.clone(),
            kind: run.trigger.as_str(),
            status: run.status.as_str(),
            started_ms: run.started_at_ms,
            duration_us: run.duration_us,
            span_id: run.span_id.clone(),
            parent_span_id: run.parent_span_id.clone(),
            href: format!("/runs/{}", run.id),
        }
    }

    /// An execution, as long as it has run so far at `now_ms`.
    pub(crate) fn of_execution(e: &Execution, now_ms: i64) -> TraceSpan {
        use strato_store::ExecutionStatus as S;
        TraceSpan {
            id: e.id.clone(),
            app: e.app.clone(),
            name: e.workflow.clone(),
            kind: "execution",
            status: match e.status {
                S::Running => "running",
                S::Succeeded => "succeeded",
                S::Failed | S::Aborted => "failed",
                S::TimedOut => "timed_out",
            },
            started_ms: e.started_ms,
            duration_us: (e.stopped_ms.unwrap_or(now_ms) - e.started_ms).max(0) * 1000,
            span_id: e.span_id.clone(),
            parent_span_id: e.parent_span_id.clone(),
            href: format!("/workflows/executions/{}", e.id),
        }
    }
}

/// Every span of a trace the caller may see, oldest first.
pub(crate) async fn spans_in_trace(
    ctx: &Ctx,
    caller: &Caller,
    trace_id: &str,
) -> Result<Vec<TraceSpan>, ApiError> {
    let now = strato_core::time::now_ms();
    let runs = runs_in_trace(ctx, caller, trace_id, MAX_TRACE_RUNS).await?;
    let executions = executions_in_trace(ctx, caller, trace_id, MAX_TRACE_RUNS).await?;
    let mut spans: Vec<TraceSpan> = runs.iter().map(TraceSpan::of_run).collect();
    spans.extend(executions.iter().map(|e| TraceSpan::of_execution(e, now)));
    spans.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
    Ok(spans)
}
