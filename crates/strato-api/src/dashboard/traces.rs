//! A trace as a waterfall: every run of the chain (and each workflow
//! execution between them) on one time axis, each indented under what
//! caused it, linking to its page.

use super::page::{duration_us, page, problem, time};
use super::session::Session;
use crate::control::Ctx;
use crate::traces::TraceSpan;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use maud::html;
use std::collections::{HashMap, HashSet};

pub(super) fn routes() -> Router<Ctx> {
    Router::new().route("/traces/{id}", get(handle_trace))
}

/// Spans in tree order with their depth: each after the span that caused
/// it (spans whose cause is not in the trace first).
pub(super) fn tree_order(spans: &[TraceSpan]) -> Vec<(usize, &TraceSpan)> {
    let ids: HashSet<&str> = spans.iter().filter_map(|r| r.span_id.as_deref()).collect();
    let mut children: HashMap<Option<&str>, Vec<&TraceSpan>> = HashMap::new();
    for span in spans {
        let parent = span.parent_span_id.as_deref().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(span);
    }
    let mut out = Vec::new();
    let mut stack: Vec<(usize, &TraceSpan)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|r| (0, *r)).collect())
        .unwrap_or_default();
    while let Some((depth, span)) = stack.pop() {
        out.push((depth, span));
        if let Some(kids) = children.get(&span.span_id.as_deref()) {
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
    let spans = match crate::traces::spans_in_trace(&ctx, &session.caller, &id).await {
        Ok(spans) => spans,
        Err(e) => return problem(&session, e.status, &e.message),
    };
    if spans.is_empty() {
        return problem(
            &session,
            StatusCode::NOT_FOUND,
            &format!("no runs in trace `{id}` this session may see"),
        );
    }
    let start = spans.iter().map(|r| r.started_ms * 1000).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|r| r.started_ms * 1000 + r.duration_us.max(0))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let width_of = (end - start) as f64;
    let runs = spans.iter().filter(|s| s.kind != "execution").count();
    let content = html! {
        h1 { "Trace" }
        p.muted { (id) " · " (runs) " runs · " (duration_us(end - start)) " from " (time(start / 1000)) " UTC" }
        div.card.waterfall #waterfall {
            @for (depth, span) in tree_order(&spans) {
                @let left = (span.started_ms * 1000 - start) as f64 / width_of * 100.0;
                @let width = (span.duration_us.max(0) as f64 / width_of * 100.0).max(0.3);
                div.row {
                    div style=(format!("padding-left: {}rem", depth as f64 * 1.1)) {
                        a.run href=(span.href) { (span.app) "/" (span.name) }
                        " " span class=(format!("status {}", span.status)) { (span.status) }
                        " " span.muted { (span.kind) " · " (duration_us(span.duration_us)) }
                    }
                    div.lane {
                        div class=(format!("bar {} {}", span.status, span.kind)) style=(format!("left: {left:.2}%; width: {width:.2}%")) title=(span.id) {}
                    }
                }
            }
        }
    };
    page(&session, "Trace", "/runs", content)
}
