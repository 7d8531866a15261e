//! Container services on the control API.
//!
//! - `GET /api/v1/services[?app=APP]` -> `[{"app","name","revision","image",
//!   "min_replicas","max_replicas","pinned","starting","waiting",
//!   "last_failure","replicas":[{"id","state","in_flight","idle_ms",
//!   "start_ms"}],"requests":{"requests","by_class","requests_per_second",
//!   "p50_ms","p99_ms"}}]`
//! - `POST /api/v1/apps/{app}/services/{name}/scale` `{"replicas": N}` pins
//!   the replica count; `{"replicas": null}` scales on load again.
//!
//! A replica's output is its run's log: `GET /api/v1/logs?app=&function=NAME`.

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use strato_engine::ServiceStatus;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/services", get(handle_list_services))
        .route(
            "/api/v1/apps/{app}/services/{name}/scale",
            post(handle_scale_service),
        )
}

#[derive(Deserialize)]
struct ListQuery {
    app: Option<String>,
}

async fn handle_list_services(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ServiceStatus>>, ApiError> {
    let app = caller.scope(query.app.as_deref())?;
    Ok(Json(ctx.platform.services_status(app.as_deref())))
}

#[derive(Deserialize)]
struct ScaleRequest {
    replicas: Option<u32>,
}

async fn handle_scale_service(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, name)): Path<(String, String)>,
    Json(request): Json<ScaleRequest>,
) -> Result<Json<ServiceStatus>, ApiError> {
    caller.scope(Some(&app))?;
    if !ctx.platform.pin_service(&app, &name, request.replicas) {
        return Err(ApiError::not_found(format!(
            "app `{app}` has no service `{name}`"
        )));
    }
    ctx.platform
        .services_status(Some(&app))
        .into_iter()
        .find(|s| s.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("app `{app}` has no service `{name}`")))
}
