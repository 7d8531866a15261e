//! Queues: depth, in flight, delayed, oldest message, dead-letter queues;
//! redrive a dead-letter queue and purge a queue.

use super::page::{page, problem};
use super::session::Session;
use crate::control::Ctx;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use serde::Deserialize;
use std::collections::BTreeSet;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/queues", get(handle_queues))
        .route("/queues/{app}/{queue}/{action}", post(handle_action))
}

#[derive(Deserialize, Default)]
struct Notice {
    done: Option<String>,
}

async fn handle_queues(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Query(notice): Query<Notice>,
) -> Response {
    let queues = match ctx.platform.list_queues(session.caller.only_app()).await {
        Ok(q) => q,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    // Queues that are another queue's dead-letter queue can be redriven.
    let dead_letters: BTreeSet<(String, String)> = queues
        .iter()
        .filter_map(|q| Some((q.app.clone(), q.dead_letter.clone()?)))
        .collect();
    let content = html! {
        h1 { "Queues" }
        @if let Some(done) = &notice.done { p.card #notice { (done) } }
        div.card.scroll {
            table #queues {
                thead { tr {
                    th { "App / queue" } th.num { "Visible" } th.num { "In flight" } th.num { "Delayed" }
                    th.num { "Oldest" } th { "Dead letters to" } th { "Consumer" } th {}
                } }
                tbody {
                    @for q in &queues {
                        @let is_dlq = dead_letters.contains(&(q.app.clone(), q.name.clone()));
                        tr data-queue=(format!("{}/{}", q.app, q.name)) {
                            td { (q.app) " / " (q.name) @if is_dlq { " " span.muted { "(dead-letter queue)" } } }
                            td.num.visible { (q.stats.visible) }
                            td.num { (q.stats.in_flight) }
                            td.num { (q.stats.delayed) }
                            td.num { @if let Some(age) = q.stats.oldest_age_ms { (age / 1000) "s" } @else { "-" } }
                            td { (q.dead_letter.as_deref().unwrap_or("-")) }
                            td { (q.consumer.as_deref().unwrap_or("-")) }
                            td {
                                @if is_dlq {
                                    form.inline method="post" action=(format!("/queues/{}/{}/redrive?csrf={}", q.app, q.name, session.csrf)) {
                                        button.redrive type="submit" { "Redrive" }
                                    }
                                    " "
                                }
                                form.inline method="post" data-confirm=(format!("Delete every message of {}?", q.name))
                                    action=(format!("/queues/{}/{}/purge?csrf={}", q.app, q.name, session.csrf)) {
                                    button.danger type="submit" { "Purge" }
                                }
                            }
                        }
                    }
                    @if queues.is_empty() { tr { td colspan="8" .muted { "No queues deployed." } } }
                }
            }
        }
        script src="/assets/dashboard.js" {}
    };
    page(&session, "Queues", "/queues", content)
}

/// `redrive` (a dead-letter queue's messages back where they came from) or
/// `purge` (every message deleted).
async fn handle_action(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path((app, queue, action)): Path<(String, String, String)>,
) -> Response {
    if session.caller.scope(Some(&app)).is_err() {
        return problem(
            &session,
            StatusCode::FORBIDDEN,
            "this session may only change its own app",
        );
    }
    let outcome = match action.as_str() {
        "redrive" => ctx
            .platform
            .redrive_queue(&app, &queue)
            .await
            .map(|moved| format!("Moved {moved} messages from {queue} back to their queues.")),
        "purge" => ctx
            .platform
            .purge_queue(&app, &queue)
            .await
            .map(|purged| format!("Purged {purged} messages from {queue}.")),
        _ => {
            return problem(
                &session,
                StatusCode::NOT_FOUND,
                "queues are redriven or purged",
            );
        }
    };
    match outcome {
        Ok(message) => done(&message),
        Err(e) => problem(&session, StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

/// Back to the queues, saying what was done.
fn done(message: &str) -> Response {
    Redirect::to(&format!(
        "/queues{}",
        super::page::query(&[("done", message)])
    ))
    .into_response()
}
