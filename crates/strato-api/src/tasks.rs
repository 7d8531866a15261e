//! Task runs and images on the control API.
//!
//! - `POST /api/v1/apps/{app}/tasks/{task}/runs` `{"env":{..},"command":[..],"entrypoint":[..]}`
//!   answers 202 with the queued run (app tokens: their own app's tasks)
//! - `POST /api/v1/runs/{id}/cancel` cancels a queued or running task
//!   run: 200 `{"id", "status": "ended"}` if it had not started (it is
//!   recorded failed), 202 `{"id", "status": "stopping"}` while its
//!   container is stopped (SIGTERM, then SIGKILL after its stop timeout)
//! - `GET /api/v1/images`, `POST /api/v1/images?tag=NAME&rootfs=true`
//!   (body: a docker-archive, OCI archive or rootfs tarball),
//!   `POST /api/v1/images/pull` `{"reference":..,"username":..,"password":..}`
//!   (answers progress as NDJSON lines), `DELETE /api/v1/images/{name}`,
//!   `POST /api/v1/images/gc?grace=10m` (admin)

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::TryStreamExt;
use serde::Deserialize;
use std::sync::Arc;
use strato_engine::strato_oci::{self, ImageConfig, ImageError, RegistryAuth};
use strato_engine::{CancelError, Cancelled, TaskError, TaskOverrides};
use tokio::io::AsyncWriteExt;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route(
            "/api/v1/apps/{app}/tasks/{task}/runs",
            post(handle_start_task),
        )
        .route(
            "/api/v1/images",
            get(handle_list_images)
                .post(handle_import_image)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/runs/{id}/cancel", post(handle_cancel_run))
        .route("/api/v1/images/pull", post(handle_pull_image))
        .route("/api/v1/images/gc", post(handle_collect_garbage))
        .route(
            "/api/v1/images/{*name}",
            axum::routing::delete(handle_remove_image),
        )
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match &e {
            TaskError::NoSuchTask { .. } => ApiError::not_found(e.to_string()),
            TaskError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            TaskError::BadOverride(_) | TaskError::TooBig { .. } => {
                ApiError::bad_request(e.to_string())
            }
            TaskError::Storage(_) => ApiError::internal("queueing a task run", e),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match &e {
            CancelError::NoSuchRun(_) => ApiError::not_found(e.to_string()),
            CancelError::NotCancellable(_)
            | CancelError::Ended { .. }
            | CancelError::HeldElsewhere(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            CancelError::Storage(_) => ApiError::internal("cancelling a task run", e),
        }
    }
}

async fn handle_cancel_run(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let cancelled = ctx.platform.cancel_task_run(&id, caller.only_app()).await?;
    Ok(match cancelled {
        Cancelled::Ended => Json(serde_json::json!({"id": id, "status": "ended"})).into_response(),
        Cancelled::Stopping => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"id": id, "status": "stopping"})),
        )
            .into_response(),
    })
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        match &e {
            ImageError::NotFound(_) => ApiError::not_found(e.to_string()),
            ImageError::Read { .. } | ImageError::Write { .. } => {
                ApiError::internal("storing an image", e)
            }
            ImageError::Registry(_) => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
            _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        }
    }
}

async fn handle_start_task(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((app, task)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let overrides: TaskOverrides = if body.is_empty() {
        TaskOverrides::default()
    } else {
        serde_json::from_slice::<Option<TaskOverrides>>(&body)
            .map(Option::unwrap_or_default)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "bad body: {e}; send {{\"env\": {{\"K\": \"V\"}}, \"command\": [\"...\"]}}"
                ))
            })?
    };
    let only_app = match &caller {
        Caller::Admin => None,
        Caller::App(a) => Some(a.as_str()),
    };
    let record = ctx
        .platform
        .start_task(&app, &task, overrides, only_app)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(record)).into_response())
}

async fn handle_list_images(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_admin()?;
    let images = ctx.platform.images().clone();
    let list = tokio::task::spawn_blocking(move || images.list())
        .await
        .map_err(|e| ApiError::internal("listing images", e))??;
    Ok(Json(serde_json::json!(list)))
}

#[derive(Deserialize)]
struct ImportQuery {
    tag: Option<String>,
    #[serde(default)]
    rootfs: bool,
}

async fn handle_import_image(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ImportQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let images = ctx.platform.images().clone();
    // The archive goes to disk first: images are larger than memory
    // should hold, and the import reads it more than once.
    let path = images.staging_path("upload");
    let result = async {
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| ApiError::internal("staging an upload", e))?;
        let mut body = request.into_body().into_data_stream();
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?
        {
            file.write_all(&chunk)
                .await
                .map_err(|e| ApiError::internal("staging an upload", e))?;
        }
        file.flush()
            .await
            .map_err(|e| ApiError::internal("staging an upload", e))?;
        let staged = path.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&staged).map_err(|e| ImageError::Read {
                what: "the upload".into(),
                source: e,
            })?;
            if q.rootfs {
                let name = q.tag.ok_or_else(|| {
                    ImageError::Invalid("a rootfs tarball needs a name: pass -t NAME".into())
                })?;
                let config = ImageConfig {
                    cmd: vec!["/bin/sh".into()],
                    env: vec![format!("PATH={}", strato_engine::DEFAULT_PATH)],
                    ..Default::default()
                };
                images.import_rootfs(file, &name, config)
            } else {
                images.import_archive(file, q.tag.as_deref())
            }
        })
        .await
        .map_err(|e| ApiError::internal("importing an image", e))?
        .map_err(ApiError::from)
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    Ok((StatusCode::CREATED, Json(result?)).into_response())
}

#[derive(Deserialize)]
struct PullBody {
    reference: String,
    username: Option<String>,
    password: Option<String>,
}

/// Pulls, answering one JSON line per progress step and a last line with
/// `{"images": [...]}` or `{"error": "..."}`.
async fn handle_pull_image(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<PullBody>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let images = ctx.platform.images().clone();
    let auth = match (body.username, body.password) {
        (Some(username), Some(password)) => Some(RegistryAuth { username, password }),
        _ => None,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let progress_tx = tx.clone();
    let progress: strato_oci::PullProgress = Arc::new(move |layer, done, total| {
        let _ = progress_tx
            .send(serde_json::json!({"layer": layer, "done": done, "total": total}).to_string());
    });
    tokio::spawn(async move {
        let staging = images.staging_path("pull");
        let _ = tokio::fs::create_dir_all(&staging).await;
        let result =
            strato_oci::pull_image(images, &body.reference, auth, &staging, progress).await;
        let _ = tokio::fs::remove_dir_all(&staging).await;
        let last = match result {
            Ok(summaries) => serde_json::json!({ "images": summaries }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let _ = tx.send(last.to_string());
    });
    let lines = tokio_stream_of(rx);
    Ok(Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(lines))
        .expect("a valid response"))
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(|line| Ok(line + "\n"))))
}

#[derive(Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
struct GarbageQuery {
    /// Keep unreferenced blobs younger than this (an import in flight).
    grace: Option<String>,
}

async fn handle_collect_garbage(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<GarbageQuery>,
) -> Result<Json<strato_oci::registry::GarbageReport>, ApiError> {
    caller.require_admin()?;
    let grace = match q.grace.as_deref() {
        Some(text) => strato_core::units::parse_duration_ms(text)
            .map_err(|e| ApiError::bad_request(format!("bad grace: {e}")))?,
        None => 10 * 60 * 1000,
    };
    let images = ctx.platform.images().clone();
    let report = tokio::task::spawn_blocking(move || {
        images.collect_garbage(std::time::Duration::from_millis(grace))
    })
    .await
    .map_err(|e| ApiError::internal("collecting image garbage", e))??;
    Ok(Json(report))
}

async fn handle_remove_image(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if !q.force
        && let Some((app, task)) = ctx.platform.tasks_using_image(&name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "image {name} is used by task `{task}` of app `{app}`; destroy or redeploy it first, or pass --force"
            ),
        ));
    }
    let images = ctx.platform.images().clone();
    tokio::task::spawn_blocking(move || images.remove(&name))
        .await
        .map_err(|e| ApiError::internal("removing an image", e))??;
    Ok(StatusCode::NO_CONTENT)
}
