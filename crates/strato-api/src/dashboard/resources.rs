//! The smaller screens: schedules, services, apps and their revisions (the
//! plan of each deploy against the one before), images and keys.

use super::page::{page, problem, size, time};
use super::session::Session;
use crate::control::{Caller, Ctx};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use maud::html;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/schedules", get(handle_schedules))
        .route("/services", get(handle_services))
        .route("/apps", get(handle_apps))
        .route("/apps/{app}", get(handle_app))
        .route("/images", get(handle_images))
        .route("/keys", get(handle_keys))
}

async fn handle_schedules(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
) -> Response {
    let schedules = match ctx.platform.list_schedules(session.caller.only_app()).await {
        Ok(s) => s,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let content = html! {
        h1 { "Schedules" }
        div.card.scroll { table #schedules {
            thead { tr { th { "App / schedule" } th { "Every" } th { "Target" } th { "Next fires (UTC)" } th { "Last slot" } th { "Overlap / catch-up" } } }
            tbody {
                @for s in &schedules {
                    tr {
                        td { (s.app) " / " (s.name) }
                        td { (s.every) " " span.muted { (s.timezone) } }
                        td { (s.target) }
                        td.wrap { (s.next_ms.iter().take(3).map(|ms| time(*ms)).collect::<Vec<_>>().join(", ")) }
                        td { @if let Some(ms) = s.last_slot_ms { (time(ms)) " " span.muted { (s.last_outcome.as_deref().unwrap_or("")) } } @else { "-" } }
                        td { (s.overlap) " / " (s.catch_up) }
                    }
                }
                @if schedules.is_empty() { tr { td colspan="6" .muted { "No schedules." } } }
            }
        } }
    };
    page(&session, "Schedules", "/schedules", content)
}

async fn handle_services(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
) -> Response {
    let services = ctx.platform.services_status(session.caller.only_app());
    let content = html! {
        h1 { "Services" }
        div.card.scroll { table #services {
            thead { tr { th { "App / service" } th { "Image" } th.num { "Replicas" } th.num { "Requests/s" } th.num { "p50" } th.num { "p99" } th.num { "5xx" } th { "Last failure" } } }
            tbody {
                @for s in &services {
                    tr {
                        td { (s.app) " / " (s.name) }
                        td { (s.image) }
                        td.num { (s.replicas.iter().filter(|r| r.state == "ready").count()) " of " (s.min_replicas) "–" (s.max_replicas) }
                        td.num { (format!("{:.1}", s.requests.requests_per_second)) }
                        td.num { (s.requests.p50_ms.map(|v| format!("{v:.1}ms")).unwrap_or_else(|| "-".into())) }
                        td.num { (s.requests.p99_ms.map(|v| format!("{v:.1}ms")).unwrap_or_else(|| "-".into())) }
                        td.num { (s.requests.by_class[4]) }
                        td.wrap { span.error { (s.last_failure.as_deref().unwrap_or("")) } }
                    }
                }
                @if services.is_empty() { tr { td colspan="8" .muted { "No services." } } }
            }
        } }
    };
    page(&session, "Services", "/services", content)
}

async fn handle_apps(State(ctx): State<Ctx>, Extension(session): Extension<Session>) -> Response {
    let apps = match ctx.platform.store().list_apps().await {
        Ok(a) => a,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let content = html! {
        h1 { "Apps" }
        div.card.scroll { table #apps {
            thead { tr { th { "App" } th.num { "Revision" } th.num { "Functions" } th { "Deployed (UTC)" } } }
            tbody {
                @for a in apps.iter().filter(|a| session.caller.scope(Some(&a.name)).is_ok()) {
                    tr {
                        td { a href=(format!("/apps/{}", a.name)) { (a.name) } }
                        td.num { (a.live_revision) }
                        td.num { (a.functions) }
                        td { (time(a.deployed_at_ms)) }
                    }
                }
            }
        } }
    };
    page(&session, "Apps", "/apps", content)
}

/// An app's revisions, newest first, each with the plan that made it.
async fn handle_app(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(app): Path<String>,
) -> Response {
    if session.caller.scope(Some(&app)).is_err() {
        return problem(
            &session,
            StatusCode::NOT_FOUND,
            &format!("no app `{app}` this session may see"),
        );
    }
    let store = ctx.platform.store();
    let live = match store.live_revision(&app).await {
        Ok(Some(live)) => live,
        _ => {
            return problem(
                &session,
                StatusCode::NOT_FOUND,
                &format!("app `{app}` is not deployed"),
            );
        }
    };
    let mut plans = Vec::new();
    let mut newer = Some(live.spec.clone());
    let mut number = live.number;
    // The last ten deploys, each against the revision before it.
    while let Some(spec) = newer.take() {
        let older = if number > 1 {
            store.get_revision(&app, number - 1).await.ok().flatten()
        } else {
            None
        };
        let plan = strato_core::plan::diff(&spec, older.as_ref().map(|o| (number - 1, o)));
        plans.push((number, plan));
        number -= 1;
        newer = older.filter(|_| plans.len() < 10);
    }
    let content = html! {
        h1 { "App " (app) }
        p.muted { "Live revision " (live.number) ", deployed " (time(live.deployed_at_ms)) " UTC." }
        @for (number, plan) in &plans {
            h2 { "Revision " (number) }
            pre.log { (plan.to_string()) }
        }
    };
    page(&session, &format!("App {app}"), "/apps", content)
}

async fn handle_images(State(ctx): State<Ctx>, Extension(session): Extension<Session>) -> Response {
    if !matches!(session.caller, Caller::Admin) {
        return problem(&session, StatusCode::FORBIDDEN, "images are the admin's");
    }
    let images = ctx.platform.images().clone();
    let list = tokio::task::spawn_blocking(move || images.list()).await;
    let list = match list {
        Ok(Ok(list)) => list,
        Ok(Err(e)) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let content = html! {
        h1 { "Images" }
        div.card.scroll { table #images {
            thead { tr { th { "Name" } th { "Id" } th.num { "Size" } th.num { "Layers" } th { "Created (UTC)" } } }
            tbody {
                @for i in &list {
                    tr { td { (i.name) } td { code { (i.id.chars().take(19).collect::<String>()) } } td.num { (size(i.size)) } td.num { (i.layers) } td { (time(i.created_ms)) } }
                }
                @if list.is_empty() { tr { td colspan="5" .muted { "No images." } } }
            }
        } }
    };
    page(&session, "Images", "/images", content)
}

async fn handle_keys(State(ctx): State<Ctx>, Extension(session): Extension<Session>) -> Response {
    if !matches!(session.caller, Caller::Admin) {
        return problem(&session, StatusCode::FORBIDDEN, "keys are the admin's");
    }
    let keys = ctx.platform.buckets().keys().list();
    let content = html! {
        h1 { "S3 access keys" }
        p.muted { "Create and revoke keys with " code { "strato keys" } "; secrets are shown once, there." }
        div.card.scroll { table #keys {
            thead { tr { th { "Key id" } th { "App" } th { "Created (UTC)" } } }
            tbody {
                @for k in &keys {
                    tr { td { code { (k.id) } } td { (k.app.as_deref().unwrap_or("(admin)")) } td { (time(k.created_at_ms)) } }
                }
            }
        } }
    };
    page(&session, "Keys", "/keys", content)
}
