//! The control API under `/api/v1/`: deploys, apps, runs, logs, invokes.
//!
//! Every route but `/api/v1/health` and `/metrics` needs
//! `Authorization: Bearer TOKEN`: the admin token may do anything; an
//! app-scoped token (what runs get as `STRATO_TOKEN`) may invoke its app's
//! functions and read its app's runs and logs. The Lambda API on the same
//! listener (`/2015-03-31/`) is signed with SigV4 instead (`crate::aws`).

use crate::ControlConfig;
use crate::aws::sigv4::constant_time_eq;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use std::sync::Arc;
use strato_core::{RevisionSpec, RunStatus};
use strato_engine::Platform;
use strato_store::{LogFilter, RunFilter};

#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) platform: Arc<Platform>,
    pub(crate) config: ControlConfig,
}

/// Who is calling, established by the auth middleware.
#[derive(Clone, Debug)]
pub(crate) enum Caller {
    Admin,
    App(String),
}

impl Caller {
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::App(app) => Err(ApiError::forbidden(format!(
                "this token is scoped to app `{app}`; use the admin token"
            ))),
        }
    }

    /// The app this caller is confined to, if any.
    pub(crate) fn only_app(&self) -> Option<&str> {
        match self {
            Caller::Admin => None,
            Caller::App(app) => Some(app),
        }
    }

    /// The app this caller is confined to, if any; refuses a different one.
    pub(crate) fn scope(&self, requested: Option<&str>) -> Result<Option<String>, ApiError> {
        match (self, requested) {
            (Caller::Admin, r) => Ok(r.map(str::to_string)),
            (Caller::App(app), Some(r)) if r != app => Err(ApiError::forbidden(format!(
                "this token is scoped to app `{app}`"
            ))),
            (Caller::App(app), _) => Ok(Some(app.clone())),
        }
    }
}

/// The control API router (mount at `/`).
pub fn router(platform: Arc<Platform>, config: ControlConfig) -> Router {
    let ctx = Ctx { platform, config };
    let authed = Router::new()
        .route("/api/v1/apps", get(handle_list_apps))
        .route(
            "/api/v1/apps/{app}",
            get(handle_get_app).delete(handle_destroy),
        )
        .route(
            "/api/v1/components/{digest}",
            put(handle_put_component)
                .head(handle_has_component)
                .layer(DefaultBodyLimit::max(ctx.config.max_component_bytes)),
        )
        .route("/api/v1/plan", post(handle_plan))
        .route("/api/v1/deploy", post(handle_deploy))
        .route("/api/v1/runs", get(handle_list_runs))
        .route("/api/v1/runs/{id}", get(handle_get_run))
        .route("/api/v1/runs/{id}/payload", get(handle_get_run_payload))
        .route("/api/v1/logs", get(handle_logs))
        .route("/api/v1/functions/{function}/invoke", any(handle_invoke))
        .route(
            "/api/v1/apps/{app}/functions/{function}/invoke",
            any(handle_invoke_in_app),
        )
        .route("/api/v1/functions/{function}/event", post(handle_event))
        .route(
            "/api/v1/apps/{app}/functions/{function}/event",
            post(handle_event_in_app),
        )
        .merge(crate::objects::routes())
        .merge(crate::tasks::routes())
        .merge(crate::queues::routes())
        .merge(crate::invocations::routes())
        .merge(crate::nodes::routes())
        .merge(crate::traces::routes())
        .merge(crate::usage::routes())
        .merge(crate::services::routes())
        .merge(crate::workflows::routes())
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            authenticate,
        ));
    Router::new()
        .route("/api/v1/health", get(handle_health))
        .route("/metrics", get(handle_metrics))
        .merge(authed)
        .merge(crate::aws::lambda::routes(ctx.clone()))
        .merge(crate::aws::states::routes(ctx.clone()))
        .merge(crate::dashboard::routes(ctx.clone()))
        .with_state(ctx)
}

async fn authenticate(State(ctx): State<Ctx>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // The span the call comes from: its `traceparent` (or
    // `X-Amzn-Trace-Id`) header, else the run span its token names.
    let mut span = strato_engine::trace::parent_of(request.headers());
    let caller = match token {
        None => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing bearer token; set STRATO_TOKEN or run the CLI beside the server's data dir",
            )
            .into_response();
        }
        Some(t) if constant_time_eq(t.as_bytes(), ctx.config.admin_token.as_bytes()) => {
            Caller::Admin
        }
        Some(t) => match ctx.platform.tokens().verify(t) {
            Some(app_token) => {
                span = span.or(app_token.parent);
                Caller::App(app_token.app)
            }
            None => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid token; use the server's <data-dir>/admin.token or a run's STRATO_TOKEN",
                )
                .into_response();
            }
        },
    };
    // What is forwarded (invokes, queued invocations) carries it as a
    // header, as a caller's own `traceparent` would be.
    if let Some(span) = &span
        && !request
            .headers()
            .contains_key(strato_engine::trace::TRACEPARENT)
        && let Ok(value) = http::HeaderValue::from_str(&span.traceparent())
    {
        request
            .headers_mut()
            .insert(strato_engine::trace::TRACEPARENT, value);
    }
    request.extensions_mut().insert(caller);
    // What the call makes durable (an object's events, a task run) joins
    // the caller's trace.
    strato_engine::trace::caused_by(span, next.run(request)).await
}

async fn handle_health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn handle_metrics(State(ctx): State<Ctx>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        ctx.platform.metrics_text().await,
    )
}

async fn handle_list_apps(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let scope = caller.scope(None)?;
    let apps = ctx.platform.store().list_apps().await?;
    let apps: Vec<_> = apps
        .into_iter()
        .filter(|a| scope.as_ref().is_none_or(|s| *s == a.name))
        .collect();
    Ok(Json(apps).into_response())
}

async fn handle_get_app(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.scope(Some(&app))?;
    let live = ctx
        .platform
        .store()
        .live_revision(&app)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app `{app}` does not exist")))?;
    Ok(Json(serde_json::json!({
        "app": live.app,
        "revision": live.number,
        "deployed_at_ms": live.deployed_at_ms,
        "spec": live.spec,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct DestroyQuery {
    #[serde(default)]
    force: bool,
}

async fn handle_destroy(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    Query(q): Query<DestroyQuery>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    ctx.platform.destroy(&app, q.force).await?;
    Ok(Json(serde_json::json!({ "destroyed": app })).into_response())
}

async fn handle_has_component(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(digest): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    Ok(if ctx.platform.has_component(&digest).await? {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

async fn handle_put_component(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(digest): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    ctx.platform.put_component(&digest, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "digest": digest })),
    )
        .into_response())
}

fn parse_spec(body: &Bytes) -> Result<RevisionSpec, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid revision spec: {e}")))
}

async fn handle_plan(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let spec = parse_spec(&body)?;
    Ok(Json(ctx.platform.plan(&spec).await?).into_response())
}

async fn handle_deploy(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let spec = parse_spec(&body)?;
    let (revision, plan) = ctx.platform.deploy(spec).await?;
    Ok(Json(serde_json::json!({ "revision": revision, "plan": plan })).into_response())
}

#[derive(Deserialize)]
struct RunsQuery {
    app: Option<String>,
    function: Option<String>,
    status: Option<String>,
    /// Only the runs of one trace (the other filters do not apply).
    trace_id: Option<String>,
    limit: Option<usize>,
}

async fn handle_list_runs(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown status `{s}`; use {}",
                RunStatus::names_hint()
            ))
        })?),
    };
    let filter = RunFilter {
        app: caller.scope(q.app.as_deref())?,
        function: q.function,
        status,
        limit: q.limit.unwrap_or(100).min(50_000),
        ..Default::default()
    };
    if let Some(trace) = &q.trace_id {
        let runs = crate::traces::runs_in_trace(&ctx, &caller, trace, filter.limit).await?;
        return Ok(Json(runs).into_response());
    }
    Ok(Json(ctx.platform.store().list_runs(&filter).await?).into_response())
}

#[derive(Deserialize)]
struct GetRunQuery {
    /// Long poll: answer as soon as the run has ended, or after this long
    /// (`500ms`, `30s`; at most 60 s) with the run as it is then.
    wait: Option<String>,
}

async fn handle_get_run(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<GetRunQuery>,
) -> Result<Response, ApiError> {
    let wait = match &q.wait {
        None => std::time::Duration::ZERO,
        Some(text) => strato_core::units::parse_duration_ms(text)
            .map(|ms| std::time::Duration::from_millis(ms.min(60_000)))
            .map_err(|e| ApiError::bad_request(format!("bad `wait`: {e}")))?,
    };
    let run = ctx
        .platform
        .wait_for_run(&id, wait)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no run `{id}`")))?;
    caller.scope(Some(&run.app))?;
    Ok(Json(run).into_response())
}

/// The event an event-driven run was given (or a task run's overrides),
/// its first 64 KiB, as it was kept with the run's record.
async fn handle_get_run_payload(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = ctx.platform.store();
    let run = store
        .get_run(&id)
        .await?
        .filter(|r| caller.scope(Some(&r.app)).is_ok())
        .ok_or_else(|| ApiError::not_found(format!("no run `{id}`")))?;
    let body = store.run_payload(&run.id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "run `{id}` kept no payload (gateway requests' bodies are not kept)"
        ))
    })?;
    let kind = match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        Ok(_) => "application/json",
        Err(_) => "application/octet-stream",
    };
    Ok(([(http::header::CONTENT_TYPE, kind)], body).into_response())
}

#[derive(Deserialize)]
struct LogsQuery {
    app: Option<String>,
    function: Option<String>,
    run: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
    tail: Option<bool>,
}

async fn handle_logs(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let filter = LogFilter {
        app: caller.scope(q.app.as_deref())?,
        function: q.function,
        run_id: q.run,
        after: q.after.unwrap_or(0),
        limit: q.limit.unwrap_or(1000).min(10_000),
        tail: q.tail.unwrap_or(false),
    };
    let lines = ctx.platform.store().read_logs(&filter).await?;
    // Nothing to show may mean a typo: say so rather than print nothing.
    if lines.is_empty()
        && let Some(name) = &filter.function
        && !ctx
            .platform
            .is_known_runner(filter.app.as_deref(), name)
            .await?
    {
        let whose = filter
            .app
            .as_deref()
            .map(|a| format!(" in app `{a}`"))
            .unwrap_or_default();
        return Err(ApiError::not_found(format!(
            "no function or task `{name}`{whose} is deployed or has run; see `strato apps`"
        )));
    }
    Ok(Json(lines).into_response())
}

async fn handle_invoke(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(function): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    invoke(ctx, caller, function, request).await
}

async fn handle_invoke_in_app(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, function)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    invoke(ctx, caller, format!("{app}/{function}"), request).await
}

#[derive(Deserialize)]
struct EventQuery {
    /// Queue the event durably instead of waiting for the answer.
    #[serde(default, rename = "async")]
    is_async: bool,
}

async fn handle_event(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(function): Path<String>,
    Query(q): Query<EventQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    send_event(ctx, caller, function, q, body).await
}

async fn handle_event_in_app(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, function)): Path<(String, String)>,
    Query(q): Query<EventQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    send_event(ctx, caller, format!("{app}/{function}"), q, body).await
}

/// Sends a JSON event to a function, as the Lambda API's `Invoke` does
/// (`strato invoke --event`): the answer is the function's result, with
/// `x-amz-function-error` when it failed; `?async=true` queues it (202).
async fn send_event(
    ctx: Ctx,
    caller: Caller,
    target: String,
    q: EventQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.len() > ctx.config.max_invoke_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("event over {} bytes", ctx.config.max_invoke_bytes),
        ));
    }
    let body = strato_engine::parse_event(body)
        .map_err(|e| ApiError::bad_request(format!("the event is not JSON: {e}")))?;
    let only_app = caller.only_app();
    if q.is_async {
        let id = ctx
            .platform
            .invoke_event_async(&target, body, only_app)
            .await?;
        return Ok(strato_engine::accepted_response(&id).map(Body::new));
    }
    let answer = ctx
        .platform
        .invoke_event(&target, body, false, only_app)
        .await?;
    Ok(crate::aws::lambda::answer_response(answer, false))
}

/// Forwards an invoke to the function: same method, the path from
/// `x-strato-path` (default `/`), the headers and the (bounded) body.
async fn invoke(
    ctx: Ctx,
    caller: Caller,
    target: String,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = forwarded_path(&parts.headers)?;
    let only_app = caller.only_app();
    let body = http_body_util::Limited::new(body, ctx.config.max_invoke_bytes)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("invoke payload over {} bytes", ctx.config.max_invoke_bytes),
            )
        })?
        .to_bytes();
    if strato_engine::wants_async(&parts.headers) {
        let priority =
            strato_engine::requested_priority(&parts.headers).map_err(ApiError::bad_request)?;
        let head = strato_engine::head_of(&parts, path.as_str());
        let id = match ctx
            .platform
            .invoke_async(&target, head, body.clone(), priority, only_app)
            .await
        {
            // `APP/TASK`: a task run is queued work already.
            Err(strato_engine::InvokeError::NoSuchFunction(name)) => {
                let Some((app, task)) = target.split_once('/') else {
                    return Err(strato_engine::InvokeError::NoSuchFunction(name).into());
                };
                match ctx
                    .platform
                    .invoke_task_async(app, task, &body, only_app)
                    .await
                {
                    Ok(run) => run.id,
                    Err(strato_engine::TaskError::NoSuchTask { .. }) => {
                        return Err(strato_engine::InvokeError::NoSuchFunction(name).into());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            other => other?,
        };
        return Ok(strato_engine::accepted_response(&id).map(Body::new));
    }
    let mut builder = http::Request::builder().method(parts.method).uri(path);
    for (name, value) in parts.headers.iter() {
        if strato_engine::is_forwarded(name) {
            builder = builder.header(name, value);
        }
    }
    let forwarded = builder
        .header("host", "localhost")
        .body(http_body_util::Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("cannot forward request: {e}")))?;
    let response = ctx.platform.invoke(&target, forwarded, only_app).await?;
    Ok(response.map(Body::new))
}

fn forwarded_path(headers: &HeaderMap) -> Result<http::uri::PathAndQuery, ApiError> {
    let raw = headers
        .get("x-strato-path")
        .map(|v| v.to_str().unwrap_or(""))
        .unwrap_or("/");
    if !raw.starts_with('/') {
        return Err(ApiError::bad_request("x-strato-path must start with `/`"));
    }
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("x-strato-path `{raw}` is not a valid path")))
}
