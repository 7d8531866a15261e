//! Workflows: executions by status; an execution's state graph coloured
//! by its progress (entered, done, failed) and its event history.

use super::page::{page, problem, query, time};
use super::session::Session;
use crate::control::Ctx;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use maud::html;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use strato_store::{ExecutionFilter, ExecutionStatus, HistoryEvent};

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/workflows", get(handle_executions))
        .route("/workflows/executions/{id}", get(handle_execution))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    status: String,
}

async fn handle_executions(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Query(q): Query<ListQuery>,
) -> Response {
    let filter = ExecutionFilter {
        app: session.caller.only_app().map(str::to_string),
        workflow: None,
        status: ExecutionStatus::parse(&q.status),
        before: None,
        trace_id: None,
        limit: 200,
    };
    let executions = match ctx.platform.list_executions(&filter).await {
        Ok(list) => list,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let content = html! {
        h1 { "Workflow executions" }
        p {
            @for s in ["", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] {
                a href=(format!("/workflows{}", query(&[("status", s)]))) { @if s.is_empty() { "all" } @else { (s) } } " "
            }
        }
        div.card.scroll {
            table #executions {
                thead { tr { th { "Execution" } th { "App / workflow" } th { "Status" } th { "Started (UTC)" } th { "Error" } } }
                tbody {
                    @for e in &executions {
                        tr {
                            td { a href=(format!("/workflows/executions/{}", e.id)) { (e.name) } }
                            td { (e.app) " / " (e.workflow) }
                            td { span class=(format!("status {}", e.status.as_str())) { (e.status.as_str()) } }
                            td { (time(e.started_ms)) }
                            td.wrap { span.error { (e.error.as_deref().unwrap_or("")) } }
                        }
                    }
                    @if executions.is_empty() { tr { td colspan="5" .muted { "No executions." } } }
                }
            }
        }
    };
    page(&session, "Workflows", "/workflows", content)
}

/// Where each state stands, from the history: entered, exited, failed.
#[derive(Default)]
struct Progress {
    entered: BTreeSet<String>,
    exited: BTreeSet<String>,
}

fn progress(history: &[HistoryEvent]) -> Progress {
    let mut p = Progress::default();
    for e in history {
        let Some(name) = e.details.get("name").and_then(Value::as_str) else {
            continue;
        };
        if e.kind.ends_with("StateEntered") {
            p.entered.insert(name.to_string());
        } else if e.kind.ends_with("StateExited") {
            p.exited.insert(name.to_string());
        }
    }
    p
}

/// The definition's top-level states in the order a reader follows them
/// (from `StartAt`, breadth first), with their type and where they go.
pub(super) fn states_in_order(definition: &Value) -> Vec<(String, String, Vec<String>)> {
    let states = definition.get("States").and_then(Value::as_object);
    let Some(states) = states else {
        return Vec::new();
    };
    let next_of = |state: &Value| -> Vec<String> {
        let mut next = Vec::new();
        let mut push = |v: Option<&Value>| {
            if let Some(n) = v.and_then(Value::as_str)
                && !next.iter().any(|x| x == n)
            {
                next.push(n.to_string());
            }
        };
        // In reading order: the next state, a choice's branches, its
        // default, then where errors are caught.
        push(state.get("Next"));
        for (list, then_default) in [("Choices", true), ("Catch", false)] {
            for item in state
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                push(item.get("Next"));
            }
            if then_default {
                push(state.get("Default"));
            }
        }
        next
    };
    let mut order: Vec<String> = Vec::new();
    let mut queue: std::collections::VecDeque<String> = definition
        .get("StartAt")
        .and_then(Value::as_str)
        .map(str::to_string)
        .into_iter()
        .collect();
    while let Some(name) = queue.pop_front() {
        if order.contains(&name) || !states.contains_key(&name) {
            continue;
        }
        queue.extend(next_of(&states[&name]));
        order.push(name);
    }
    // States nothing reaches still belong on the page.
    order.extend(
        states
            .keys()
            .filter(|k| !order.contains(k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    order
        .into_iter()
        .map(|name| {
            let state = &states[&name];
            let kind = state
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let mut next = next_of(state);
            if state.get("End").and_then(Value::as_bool) == Some(true) {
                next.push("(end)".into());
            }
            (name, kind, next)
        })
        .collect()
}

async fn handle_execution(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let execution = match ctx.platform.get_execution(&id).await {
        Ok(e) if session.caller.scope(Some(&e.app)).is_ok() => e,
        _ => {
            return problem(
                &session,
                StatusCode::NOT_FOUND,
                &format!("no execution `{id}` this session may see"),
            );
        }
    };
    let history = ctx
        .platform
        .execution_history(&id, 0, 1000)
        .await
        .unwrap_or_default();
    let definition: Value = ctx
        .platform
        .workflow_definition(&execution.app, &execution.workflow)
        .and_then(|(text, _)| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let p = progress(&history);
    let failed_state = (matches!(
        execution.status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut
    ))
    .then(|| p.entered.iter().find(|s| !p.exited.contains(*s)).cloned())
    .flatten();
    let class_of: HashMap<String, &str> = states_in_order(&definition)
        .iter()
        .map(|(name, _, _)| {
            let class = if failed_state.as_deref() == Some(name) {
                "failed"
            } else if p.exited.contains(name) {
                "done"
            } else if p.entered.contains(name) {
                "active"
            } else {
                ""
            };
            (name.clone(), class)
        })
        .collect();
    let content = html! {
        h1 { "Execution " (execution.name) }
        div.card {
            dl.facts {
                dt { "Workflow" } dd { (execution.app) " / " (execution.workflow) " (revision " (execution.revision) ")" }
                dt { "Status" } dd { span #execution-status class=(format!("status {}", execution.status.as_str())) { (execution.status.as_str()) } }
                dt { "Started (UTC)" } dd { (time(execution.started_ms)) }
                @if let Some(stopped) = execution.stopped_ms { dt { "Stopped (UTC)" } dd { (time(stopped)) } }
                @if let Some(e) = &execution.error { dt { "Error" } dd.error { (e) ": " (execution.cause.as_deref().unwrap_or("")) } }
            }
        }
        h2 { "States" }
        div.graph #graph {
            @for (name, kind, next) in states_in_order(&definition) {
                div class=(format!("state {}", class_of.get(&name).copied().unwrap_or(""))) data-state=(name) {
                    strong { (name) } span.kind { (kind) }
                }
                @if !next.is_empty() { div.next { "→ " (next.join(", ")) } }
            }
        }
        h2 { "History" }
        div.card.scroll {
            table #history {
                thead { tr { th.num { "#" } th { "Time (UTC)" } th { "Event" } th { "Details" } } }
                tbody {
                    @for e in &history {
                        tr {
                            td.num { (e.id) }
                            td { (time(e.ts_ms)) }
                            td { (e.kind) }
                            td.wrap { code { (abbreviate(&e.details.to_string(), 300)) } }
                        }
                    }
                }
            }
        }
    };
    page(
        &session,
        &format!("Execution {}", execution.name),
        "/workflows",
        content,
    )
}

/// `text` cut to `max` characters, marked when cut.
fn abbreviate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_from_start_at() {
        let definition = serde_json::json!({
            "StartAt": "Check",
            "States": {
                "Done": {"Type": "Succeed"},
                "Check": {"Type": "Choice", "Choices": [{"Next": "Work"}], "Default": "Done"},
                "Work": {"Type": "Task", "Next": "Done", "Catch": [{"Next": "Oops"}]},
                "Oops": {"Type": "Fail"},
                "Orphan": {"Type": "Pass", "End": true}
            }
        });
        let order: Vec<(String, String, Vec<String>)> = states_in_order(&definition);
        let names: Vec<&str> = order.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["Check", "Work", "Done", "Oops", "Orphan"]);
        assert_eq!(order[0].2, ["Work", "Done"]);
        assert_eq!(order[4].2, ["(end)"]);
    }
}
