//! A trace as a waterfall: every run of the chain on one time axis, each
//! indented under the run that caused it, linking to its page.

use super::page::{duration_us, page, problem, time};
use super::session::Session;
use crate::control::Ctx;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use maud::html;
use std::collections::{HashMap, HashSet};
use strato_core::RunRecord;

pub(super) fn routes() -> Router<Ctx> {
    Router::new().route("/traces/{id}", get(handle_trace))
}

/// Runs in tree order with their depth: each after the run that caused
/// it (runs whose cause is not in the trace first).
pub(super) fn tree_order(runs: &[RunRecord]) -> Vec<(usize, &RunRecord)> {
    let spans: HashSet<&str> = runs.iter().filter_map(|r| r.span_id.as_deref()).collect();
    let mut children: HashMap<Option<&str>, Vec<&RunRecord>> = HashMap::new();
    for run in runs {
        let parent = run.parent_span_id.as_deref().filter(|p| spans.contains(p));
        children.entry(parent).or_default().push(run);
    }
    let mut out = Vec::new();
    let mut stack: Vec<(usize, &RunRecord)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|r| (0, *r)).collect())
        .unwrap_or_default();
    while let Some((depth, run)) = stack.pop() {
        out.push((depth, run));
        if let Some(kids) = children.get(&run.span_id.as_deref()) {
            stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
        }
    }
    out
}

async fn handle_trace(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let runs = match crate::traces::runs_in_trace(&ctx, &session.caller, &id, 10_000).await {
        Ok(runs) => runs,
        Err(e) => return problem(&session, e.status, &e.message),
    };
    if runs.is_empty() {
        return problem(
            &session,
            StatusCode::NOT_FOUND,
            &format!("no runs in trace `{id}` this session may see"),
        );
    }
    let start = runs
        .iter()
        .map(|r| r.started_at_ms * 1000)
        .min()
        .unwrap_or(0);
    let end = runs
        .iter()
        .map(|r| r.started_at_ms * 1000 + r.duration_us.max(0))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let span = (end - start) as f64;
    let content = html! {
        h1 { "Trace" }
        p.muted { (id) " · " (runs.len()) " runs · " (duration_us(end - start)) " from " (time(start / 1000)) " UTC" }
        div.card.waterfall #waterfall {
            @for (depth, run) in tree_order(&runs) {
                @let left = (run.started_at_ms * 1000 - start) as f64 / span * 100.0;
                @let width = (run.duration_us.max(0) as f64 / span * 100.0).max(0.3);
                div.row {
                    div style=(format!("padding-left: {}rem", depth as f64 * 1.1)) {
                        a.run href=(format!("/runs/{}", run.id)) { (run.app) "/" (run.function) }
                        " " span class=(format!("status {}", run.status)) { (run.status.as_str()) }
                        " " span.muted { (run.trigger.as_str()) " · " (duration_us(run.duration_us)) }
                    }
                    div.lane {
                        div class=(format!("bar {}", run.status)) style=(format!("left: {left:.2}%; width: {width:.2}%")) title=(run.id) {}
                    }
                }
            }
        }
    };
    page(&session, "Trace", "/runs", content)
}
