//! Traces on the control API: every run of one chain of work.
//!
//! - `GET /api/v1/traces/{trace_id}` -> `{"trace_id", "runs": [RunRecord..]}`,
//!   oldest first; each run has `span_id` and `parent_span_id`, so a client
//!   draws the tree. An app token sees only its app's runs of the trace.
//! - `GET /api/v1/runs/{id}/trace` -> the same for the trace a run is in.

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use strato_core::RunRecord;

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

async fn trace_of(ctx: &Ctx, caller: &Caller, trace_id: String) -> Result<Json<Value>, ApiError> {
    let runs = runs_in_trace(ctx, caller, &trace_id, MAX_TRACE_RUNS).await?;
    if runs.is_empty() {
        return Err(ApiError::not_found(format!(
            "no runs in trace `{trace_id}` that this token may see"
        )));
    }
    Ok(Json(json!({ "trace_id": trace_id, "runs": runs })))
}
