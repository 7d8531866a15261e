//! Buckets, objects and access keys on the control API.
//!
//! The object routes are the simplest honest path for a wasm function: a
//! plain HTTP request with its run's `STRATO_TOKEN` (scoped to its app's
//! buckets), no SigV4 signing in the guest.
//!
//! - `GET  /api/v1/buckets`
//! - `GET  /api/v1/buckets/{bucket}/objects?prefix=&start_after=&limit=`
//! - `GET | PUT | DELETE /api/v1/buckets/{bucket}/objects/{key...}`
//! - `GET | POST /api/v1/keys`, `DELETE /api/v1/keys/{id}` (admin)

use crate::control::{Caller, Ctx};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use futures::TryStreamExt;
use serde::Deserialize;
use strato_engine::buckets::{ListRequest, ObjectHeaders, Scope, UploadChecks};

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/buckets", get(handle_list_buckets))
        .route("/api/v1/buckets/{bucket}/objects", get(handle_list_objects))
        .route(
            "/api/v1/buckets/{bucket}/objects/{*key}",
            get(handle_get_object)
                .put(handle_put_object)
                .delete(handle_delete_object)
                // Objects stream through; no body limit beyond S3's own.
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/keys",
            get(handle_list_keys).post(handle_create_key),
        )
        .route("/api/v1/keys/{id}", delete(handle_revoke_key))
}

pub(crate) fn scope_of(caller: &Caller) -> Scope {
    match caller {
        Caller::Admin => Scope::Admin,
        Caller::App(app) => Scope::App(app.clone()),
    }
}

/// Each bucket with what it holds (`usage`: objects, bytes, older
/// versions and their bytes).
async fn handle_list_buckets(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let scope = scope_of(&caller);
    let buckets = ctx.platform.buckets();
    let mut listed = Vec::new();
    for bucket in buckets.list_buckets(&scope) {
        let usage = buckets.usage(&bucket.name, &scope).await?;
        let mut entry = serde_json::json!(bucket);
        entry["usage"] = serde_json::json!(usage);
        listed.push(entry);
    }
    Ok(Json(serde_json::Value::Array(listed)))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    start_after: String,
    limit: Option<usize>,
}

async fn handle_list_objects(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(bucket): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let page = ctx
        .platform
        .buckets()
        .list_objects(
            &bucket,
            &scope_of(&caller),
            &ListRequest {
                prefix: q.prefix,
                delimiter: None,
                start_after: q.start_after,
                max_keys: q.limit.unwrap_or(1000).min(1000),
                ..Default::default()
            },
        )
        .await?;
    let objects: Vec<_> = page
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key, "size": o.size, "etag": o.etag,
                "content_type": o.content_type, "modified_ms": o.modified_ms,
            })
        })
        .collect();
    Ok(
        Json(serde_json::json!({ "objects": objects, "truncated": page.truncated }))
            .into_response(),
    )
}

async fn handle_get_object(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let buckets = ctx.platform.buckets();
    let meta = buckets
        .head_object(&bucket, &key, &scope_of(&caller))
        .await?;
    let stream = buckets.read_object(&meta, None).await?;
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert("content-length", meta.size.into());
    if let Ok(v) = meta.etag.parse() {
        headers.insert("etag", v);
    }
    if let Some(Ok(v)) = meta.content_type.as_deref().map(str::parse) {
        headers.insert("content-type", v);
    }
    Ok(response)
}

async fn handle_put_object(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((bucket, key)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let meta = put_from_request(&ctx, &caller, &bucket, &key, request).await?;
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "bucket": meta.bucket, "key": meta.key, "size": meta.size, "etag": meta.etag })),
    )
        .into_response())
}

/// Stores a request's body as `bucket/key` for `caller`, with its
/// `Content-Type` kept and its `Content-Length` checked (the objects API
/// and the dashboard's uploads).
pub(crate) async fn put_from_request(
    ctx: &Ctx,
    caller: &Caller,
    bucket: &str,
    key: &str,
    request: Request,
) -> Result<strato_store::ObjectMeta, strato_engine::buckets::BucketError> {
    let (content_type, length) = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (
            header("content-type"),
            header("content-length").and_then(|v| v.parse().ok()),
        )
    };
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(|e| e.to_string());
    ctx.platform
        .buckets()
        .put_object(
            bucket,
            key,
            &scope_of(caller),
            body,
            ObjectHeaders {
                content_type,
                headers: Default::default(),
            },
            UploadChecks {
                length,
                ..Default::default()
            },
        )
        .await
}

async fn handle_delete_object(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ctx.platform
        .buckets()
        .delete_object(&bucket, &key, None, &scope_of(&caller), &Default::default())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn handle_list_keys(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let keys: Vec<_> = ctx
        .platform
        .buckets()
        .keys()
        .list()
        .into_iter()
        .map(|k| serde_json::json!({ "id": k.id, "app": k.app, "created_at_ms": k.created_at_ms }))
        .collect();
    Ok(Json(keys).into_response())
}

#[derive(Deserialize, Default)]
struct CreateKey {
    app: Option<String>,
}

async fn handle_create_key(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<CreateKey>>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let app = body.map(|Json(b)| b.app).unwrap_or_default();
    let key = ctx.platform.buckets().keys().create(app.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

async fn handle_revoke_key(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    ctx.platform.buckets().keys().revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
