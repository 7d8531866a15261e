//! Runs: the list (filters, log search, pages by run id), a run's page
//! (timings, error, its attempts, its log) and the live tail of its log
//! over server-sent events.

use super::page::{self, duration_us, page, problem, query, time};
use super::session::Session;
use crate::control::{Caller, Ctx};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{Markup, html};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use strato_core::{RunRecord, RunStatus, Trigger};
use strato_store::{LogFilter, RunFilter};

/// Runs on one page of the list.
const PAGE: usize = 50;
/// How often a live tail looks for new lines.
const TAIL_POLL: Duration = Duration::from_millis(50);

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/runs", get(handle_list))
        .route("/runs/{id}", get(handle_run))
        .route("/runs/{id}/tail", get(handle_tail))
        .route("/runs/{id}/rerun", post(handle_rerun))
        .route("/runs/{id}/cancel", post(handle_cancel))
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    app: String,
    #[serde(default)]
    function: String,
    #[serde(default)]
    trigger: String,
    #[serde(default)]
    status: String,
    /// Log text to search for.
    #[serde(default)]
    q: String,
    /// The page after this run id.
    #[serde(default)]
    before: String,
}

fn some(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.trim().to_string())
}

async fn handle_list(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Query(q): Query<ListQuery>,
) -> Response {
    let app = match session.caller.scope(some(&q.app).as_deref()) {
        Ok(app) => app,
        Err(_) => {
            return problem(
                &session,
                StatusCode::FORBIDDEN,
                "this session may only see its own app",
            );
        }
    };
    let filter = RunFilter {
        app: app.clone(),
        function: some(&q.function),
        status: RunStatus::parse(q.status.trim()),
        trigger: Trigger::parse(q.trigger.trim()),
        before: some(&q.before),
        log_text: some(&q.q),
        limit: PAGE,
    };
    let runs = match ctx.platform.store().list_runs(&filter).await {
        Ok(runs) => runs,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let next = (runs.len() == PAGE)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    let content = html! {
        h1 { "Runs" }
        form.filters method="get" action="/runs" {
            @if matches!(session.caller, Caller::Admin) {
                label { "App" input name="app" value=(q.app) placeholder="all"; }
            }
            label { "Function, task or service" input name="function" value=(q.function); }
            label { "Trigger" select name="trigger" {
                option value="" { "any" }
                @for t in ["http", "invoke", "bucket", "async", "queue", "schedule", "workflow", "service"] {
                    option value=(t) selected[q.trigger == t] { (t) }
                }
            } }
            label { "Status" select name="status" {
                option value="" { "any" }
                @for s in RunStatus::ALL {
                    option value=(s.as_str()) selected[q.status == s.as_str()] { (s.as_str()) }
                }
            } }
            label { "Log text" input name="q" value=(q.q) placeholder="search logs"; }
            button type="submit" { "Filter" }
        }
        div.card.scroll { (runs_table(&runs)) }
        div.pager {
            @if let Some(next) = &next {
                a #older href=(format!("/runs{}", query(&[
                    ("app", &q.app), ("function", &q.function), ("trigger", &q.trigger),
                    ("status", &q.status), ("q", &q.q), ("before", next),
                ]))) { "Older runs →" }
            }
        }
    };
    page(&session, "Runs", "/runs", content)
}

/// A table of runs, each linking to its page.
pub(super) fn runs_table(runs: &[RunRecord]) -> Markup {
    html! {
        table #runs {
            thead { tr {
                th { "Run" } th { "App / name" } th { "Trigger" } th { "Status" } th { "Started (UTC)" }
                th.num { "Duration" } th { "Cold" } th.num { "Billed" } th { "Error" }
            } }
            tbody {
                @for r in runs {
                    tr {
                        td { a href=(format!("/runs/{}", r.id)) { (r.id) } }
                        td { (r.app) " / " (r.function) }
                        td { (r.trigger.as_str()) }
                        td { span class=(format!("status {}", r.status)) { (r.status.as_str()) } }
                        td { (time(r.started_at_ms)) }
                        td.num { (duration_us(r.duration_us)) }
                        td { @if r.cold_start { "yes" } @else { "no" } }
                        td.num { (r.billed_ms) "ms" }
                        td.wrap { @if let Some(e) = &r.error { span.error { (e) } } }
                    }
                }
                @if runs.is_empty() { tr { td colspan="9" .muted { "No runs match." } } }
            }
        }
    }
}

async fn handle_run(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let run = match visible_run(&ctx, &session, &id).await {
        Ok(run) => run,
        Err(response) => return response,
    };
    let lines = ctx
        .platform
        .store()
        .read_logs(&LogFilter {
            run_id: Some(run.id.clone()),
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let last_seq = lines.last().map(|l| l.seq).unwrap_or(0);
    // Other attempts of the same event or invocation.
    let attempts: Vec<RunRecord> = match &run.event_id {
        Some(event) => ctx
            .platform
            .store()
            .list_runs(&RunFilter {
                app: Some(run.app.clone()),
                function: Some(run.function.clone()),
                limit: 200,
                ..Default::default()
            })
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.event_id.as_deref() == Some(event.as_str()))
            .collect(),
        None => Vec::new(),
    };
    let ended = !matches!(run.status, RunStatus::Queued | RunStatus::Running);
    let is_task = ctx.platform.is_live_task(&run.app, &run.function);
    let payload = ctx
        .platform
        .store()
        .run_payload(&run.id)
        .await
        .ok()
        .flatten()
        .map(
            |body| match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
                Err(_) => String::from_utf8_lossy(&body).into_owned(),
            },
        );
    let content = html! {
        h1 { "Run " (run.id) }
        div.card {
            dl.facts {
                dt { "App / name" } dd { (run.app) " / " (run.function) " (revision " (run.revision) ")" }
                dt { "Status" } dd { span #run-status class=(format!("status {}", run.status)) { (run.status.as_str()) } }
                dt { "Trigger" } dd { (run.trigger.as_str()) }
                dt { "Attempt" } dd { (run.attempt) }
                @if let Some(q) = run.queued_us { dt { "Queued" } dd #queued { (duration_us(q)) } }
                dt { "Started (UTC)" } dd { (time(run.started_at_ms)) }
                dt { "Duration" } dd { (duration_us(run.duration_us)) }
                dt { "Cold start" } dd { @if run.cold_start { "yes" } @else { "no" }
                    @if let Some(init) = run.init_us { ", init " (duration_us(init)) } }
                dt { "Billed" } dd { (run.billed_ms) " ms at " (page::size(run.memory_limit_bytes)) }
                @if let Some(cpu) = run.cpu_us { dt { "CPU time" } dd { (duration_us(cpu)) } }
                @if let Some(s) = run.http_status { dt { "HTTP status" } dd { (s) } }
                @if let Some(c) = run.exit_code { dt { "Exit code" } dd { (c) } }
                @if let Some(e) = &run.event_id { dt { "Event / invocation" } dd { (e) } }
                @if let Some(t) = &run.trace_id { dt { "Trace" } dd { a #trace-link href=(format!("/traces/{t}")) { (t) } } }
                @if let Some(e) = &run.error { dt { "Error" } dd.error #run-error { (e) } }
            }
            @if is_task && !ended {
                form.inline method="post" action=(format!("/runs/{}/cancel?csrf={}", run.id, session.csrf)) {
                    p { button #cancel type="submit" { "Cancel the run" } " " span.muted { "(a running container gets SIGTERM, then SIGKILL after its stop timeout)" } }
                }
            }
            @if is_task && ended {
                form.inline method="post" action=(format!("/runs/{}/rerun?csrf={}", run.id, session.csrf)) {
                    p { button type="submit" { "Run the task again" } " " span.muted { "(with its manifest's settings; a run's own overrides are not kept)" } }
                }
            }
        }
        @if attempts.len() > 1 {
            h2 { "Attempts of " (run.event_id.as_deref().unwrap_or("")) }
            div.card.scroll { (runs_table(&attempts)) }
        }
        @if let Some(text) = &payload {
            h2 { @if is_task { "Overrides" } @else { "Event" } " " span.muted { "(its first 64 KiB)" } }
            pre.log #payload { (text) }
        }
        h2 { "Log " span.muted #tail-status { @if ended { "" } @else { "connecting…" } } }
        pre.log #log data-tail=(format!("/runs/{}/tail?after={last_seq}", run.id)) {
            @for l in &lines { span class=(l.line.stream.as_str()) { (l.line.text) "\n" } }
        }
        script src="/assets/dashboard.js" {}
    };
    page(&session, &format!("Run {}", run.id), "/runs", content)
}

/// The run `id` if the session may see it, or the page saying why not.
async fn visible_run(ctx: &Ctx, session: &Session, id: &str) -> Result<RunRecord, Response> {
    let run = ctx
        .platform
        .store()
        .get_run(id)
        .await
        .map_err(|e| problem(session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    match run {
        Some(run) if session.caller.scope(Some(&run.app)).is_ok() => Ok(run),
        _ => Err(problem(
            session,
            StatusCode::NOT_FOUND,
            &format!("no run `{id}` this session may see"),
        )),
    }
}

#[derive(Deserialize)]
struct TailQuery {
    after: Option<i64>,
}

/// The run's new log lines as they are written (`event: line`, the line's
/// sequence number as the event id), then `event: end` once the run has
/// ended and its last lines are out. A reconnecting browser sends the
/// last id it saw (`Last-Event-ID`) and resumes after it.
async fn handle_tail(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<TailQuery>,
    headers: HeaderMap,
) -> Response {
    let run = match visible_run(&ctx, &session, &id).await {
        Ok(run) => run,
        Err(response) => return response,
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let after = resume.or(q.after).unwrap_or(0);
    let store = ctx.platform.store().clone();
    let stream = async_stream_lines(store, run.id, after);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn async_stream_lines(
    store: std::sync::Arc<dyn strato_store::Store>,
    run_id: String,
    after: i64,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (
            store,
            run_id,
            after,
            false,
            std::collections::VecDeque::<Event>::new(),
        ),
        |(store, run_id, mut after, mut done, mut pending)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok(event), (store, run_id, after, done, pending)));
                }
                if done {
                    return None;
                }
                // Whether the run had ended before this read: its last
                // lines are written with its end, so they are in it.
                let ended = store.get_run(&run_id).await.ok().flatten().map(|r| {
                    (
                        !matches!(r.status, RunStatus::Queued | RunStatus::Running),
                        r.status,
                    )
                });
                let lines = store
                    .read_logs(&LogFilter {
                        run_id: Some(run_id.clone()),
                        after,
                        limit: 1000,
                        ..Default::default()
                    })
                    .await
                    .unwrap_or_default();
                for line in &lines {
                    after = line.seq;
                    let data = serde_json::json!({
                        "stream": line.line.stream.as_str(),
                        "text": line.line.text,
                        "ts_ms": line.line.ts_ms,
                    });
                    pending.push_back(
                        Event::default()
                            .event("line")
                            .id(line.seq.to_string())
                            .data(data.to_string()),
                    );
                }
                match ended {
                    Some((true, status)) if lines.len() < 1000 => {
                        pending.push_back(Event::default().event("end").data(status.as_str()));
                        done = true;
                    }
                    None => done = true,
                    _ if lines.is_empty() => tokio::time::sleep(TAIL_POLL).await,
                    _ => {}
                }
            }
        },
    )
}

async fn handle_cancel(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let run = match visible_run(&ctx, &session, &id).await {
        Ok(run) => run,
        Err(response) => return response,
    };
    match ctx
        .platform
        .cancel_task_run(&run.id, session.caller.only_app())
        .await
    {
        Ok(_) => Redirect::to(&format!("/runs/{}", run.id)).into_response(),
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            problem(&session, e.status, &e.message)
        }
    }
}

async fn handle_rerun(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let run = match visible_run(&ctx, &session, &id).await {
        Ok(run) => run,
        Err(response) => return response,
    };
    let started = ctx
        .platform
        .start_task(
            &run.app,
            &run.function,
            Default::default(),
            session.caller.only_app(),
        )
        .await;
    match started {
        Ok(new) => Redirect::to(&format!("/runs/{}", new.id)).into_response(),
        Err(e) => problem(&session, StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}
