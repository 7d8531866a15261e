//! The web dashboard at the control API's `/`: server-rendered pages (maud),
//! with a few vendored scripts embedded in the binary (htmx, uPlot, and
//! `dashboard.js` for the live tail and uploads). No build step, no network.
//!
//! Log in with the admin token or an app token (`/login`); the session is
//! a signed cookie ([`session`]). An app's session sees only its app.
//! Every state-changing request (`POST`, `PUT`) carries the session's CSRF
//! token (`X-CSRF-Token`, or `csrf=` in the form's action) and is refused
//! when the browser says it came from another site.
//!
//! Screens, one module each: [`overview`], [`runs`] (list, a run's page,
//! its live tail over server-sent events), [`traces`] (a waterfall),
//! [`workflows`], [`queues`] (with redrive and purge), [`buckets`]
//! (browse, download, upload, delete), and [`resources`] (schedules,
//! services, apps and revisions, images, keys).

mod buckets;
mod overview;
mod page;
mod queues;
mod resources;
mod runs;
pub(crate) mod session;
mod traces;
mod workflows;

use crate::control::{Caller, Ctx};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{DOCTYPE, html};
use serde::Deserialize;
use session::{Session, Sessions};

/// Files served under `/assets/`: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/htmx.min.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/uPlot.min.css"),
    ),
    (
        "htmx.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/htmx.LICENSE"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/uPlot.LICENSE"),
    ),
];

pub(crate) fn routes(ctx: Ctx) -> Router<Ctx> {
    let pages = Router::new()
        .route("/", get(overview::handle_overview))
        .route("/logout", post(handle_logout))
        .merge(runs::routes())
        .merge(traces::routes())
        .merge(workflows::routes())
        .merge(queues::routes())
        .merge(buckets::routes())
        .merge(resources::routes())
        .layer(axum::middleware::from_fn_with_state(ctx, require_session));
    Router::new()
        .route("/login", get(handle_login_page).post(handle_login))
        .route("/assets/{name}", get(handle_asset))
        .merge(pages)
}

/// Lets a request through with its [`Session`] (and its caller), or sends
/// a browser to log in; refuses a change without the session's CSRF
/// token.
async fn require_session(State(ctx): State<Ctx>, mut request: Request, next: Next) -> Response {
    let now = strato_core::time::now_ms();
    let session =
        session::cookie_of(request.headers()).and_then(|cookie| sessions(&ctx).verify(cookie, now));
    let reads = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
    let Some(session) = session else {
        if reads {
            let next = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            return Redirect::to(&format!("/login{}", page::query(&[("next", &next)])))
                .into_response();
        }
        return (
            StatusCode::FORBIDDEN,
            "refused: no dashboard session (requests from other sites carry none); log in at /login",
        )
            .into_response();
    };
    if !reads {
        let form_csrf = request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("csrf=").map(str::to_string))
        });
        if !session::may_change(&session, request.headers(), form_csrf.as_deref()) {
            return (
                StatusCode::FORBIDDEN,
                "refused: this change does not carry the page's CSRF token, or came from another site",
            )
                .into_response();
        }
    }
    request.extensions_mut().insert(session.caller.clone());
    request.extensions_mut().insert(session);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        "referrer-policy",
        http::HeaderValue::from_static("same-origin"),
    );
    headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    response
}

fn sessions(ctx: &Ctx) -> Sessions {
    Sessions::new(&ctx.config.admin_token)
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

async fn handle_login_page(
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Html<String> {
    login_page(q.next.as_deref().unwrap_or("/"), q.error.as_deref())
}

fn login_page(next: &str, error: Option<&str>) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (page::head("Log in"))
                body {
                    main.login {
                        div.card {
                            h1 { "Strato" }
                            p.muted { "Log in with the admin token (" code { "<data-dir>/admin.token" } ") or an app's token (a run's " code { "STRATO_TOKEN" } "): an app token sees only its app." }
                            @if let Some(error) = error { p.error #login-error { (error) } }
                            form method="post" action="/login" {
                                input type="hidden" name="next" value=(next);
                                label { "Token" input #token type="password" name="token" autocomplete="current-password" required; }
                                p { button #login type="submit" { "Log in" } }
                            }
                        }
                    }
                }
            }
        }
        .into_string(),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn handle_login(
    State(ctx): State<Ctx>,
    headers: http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // Another site's page must not log a browser in (to its own account).
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v == "cross-site")
    {
        return (StatusCode::FORBIDDEN, "refused: a login from another site").into_response();
    }
    let token = form.token.trim();
    let caller =
        if crate::aws::sigv4::constant_time_eq(token.as_bytes(), ctx.config.admin_token.as_bytes())
        {
            Some(Caller::Admin)
        } else {
            ctx.platform
                .tokens()
                .verify(token)
                .map(|t| Caller::App(t.app))
        };
    let next = form
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    let Some(caller) = caller else {
        let mut page = login_page(
            &next,
            Some("That token is not the admin token or an app's token."),
        )
        .into_response();
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return page;
    };
    let expires = strato_core::time::now_ms() + session::LIFETIME_MS;
    let cookie = sessions(&ctx).issue(&caller, expires);
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::set_cookie(&cookie)),
            (header::LOCATION, next),
        ],
    )
        .into_response()
}

async fn handle_logout(axum::Extension(_): axum::Extension<Session>) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::set_cookie("")),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

async fn handle_asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
