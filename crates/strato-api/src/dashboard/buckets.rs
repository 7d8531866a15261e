//! Buckets: each with what it holds; browse a bucket by prefix, download,
//! upload and delete objects (the same rules as the S3 API: an app's
//! session reaches only the buckets its app declares).

use super::page::{encode, page, problem, query, size, time};
use super::session::Session;
use crate::control::Ctx;
use crate::objects::scope_of;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use maud::html;
use serde::Deserialize;
use strato_engine::buckets::ListRequest;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/buckets", get(handle_buckets))
        .route("/buckets/{bucket}", get(handle_bucket))
        .route("/buckets/{bucket}/download", get(handle_download))
        .route(
            "/buckets/{bucket}/upload",
            put(handle_upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/buckets/{bucket}/delete", post(handle_delete))
}

async fn handle_buckets(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
) -> Response {
    let scope = scope_of(&session.caller);
    let buckets = ctx.platform.buckets();
    let mut rows = Vec::new();
    for bucket in buckets.list_buckets(&scope) {
        let usage = buckets.usage(&bucket.name, &scope).await.ok();
        rows.push((bucket, usage));
    }
    let content = html! {
        h1 { "Buckets" }
        div.card.scroll {
            table #buckets {
                thead { tr { th { "Bucket" } th { "App" } th.num { "Objects" } th.num { "Bytes" } th.num { "Older versions" } } }
                tbody {
                    @for (b, usage) in &rows {
                        tr {
                            td { a href=(format!("/buckets/{}", b.name)) { (b.name) } }
                            td { (b.app.as_deref().unwrap_or("-")) }
                            td.num { (usage.as_ref().map_or(0, |u| u.objects)) }
                            td.num { (size(usage.as_ref().map_or(0, |u| u.bytes))) }
                            td.num { (usage.as_ref().map_or(0, |u| u.versions)) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="5" .muted { "No buckets." } } }
                }
            }
        }
    };
    page(&session, "Buckets", "/buckets", content)
}

#[derive(Deserialize, Default)]
struct Browse {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    after: String,
}

async fn handle_bucket(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(bucket): Path<String>,
    Query(q): Query<Browse>,
) -> Response {
    let listed = ctx
        .platform
        .buckets()
        .list_objects(
            &bucket,
            &scope_of(&session.caller),
            &ListRequest {
                prefix: q.prefix.clone(),
                delimiter: Some("/".into()),
                start_after: q.after.clone(),
                max_keys: 200,
                ..Default::default()
            },
        )
        .await;
    let listed = match listed {
        Ok(l) => l,
        Err(e) => return problem(&session, StatusCode::NOT_FOUND, &e.to_string()),
    };
    let parent = q
        .prefix
        .trim_end_matches('/')
        .rsplit_once('/')
        .map(|(p, _)| format!("{p}/"));
    let content = html! {
        h1 { "Bucket " (bucket) }
        p.muted { "Prefix: " code { "/" (q.prefix) }
            @if !q.prefix.is_empty() {
                " · " a href=(format!("/buckets/{bucket}{}", query(&[("prefix", parent.as_deref().unwrap_or(""))]))) { "up" }
            }
        }
        form.card data-upload="" action=(format!("/buckets/{bucket}/upload")) {
            input type="hidden" name="prefix" value=(q.prefix);
            label { "Upload a file here" input #upload-file type="file" name="file"; }
            p { button #upload type="submit" { "Upload" } span.error #upload-result {} }
        }
        div.card.scroll {
            table #objects {
                thead { tr { th { "Key" } th.num { "Size" } th { "Modified (UTC)" } th {} } }
                tbody {
                    @for p in &listed.common_prefixes {
                        tr { td { a href=(format!("/buckets/{bucket}{}", query(&[("prefix", p)]))) { (p) } } td {} td {} td {} }
                    }
                    @for o in &listed.objects {
                        tr data-key=(o.key) {
                            td { a.download href=(format!("/buckets/{bucket}/download?key={}", encode(&o.key))) { (o.key) } }
                            td.num { (size(o.size)) }
                            td { (time(o.modified_ms)) }
                            td {
                                form.inline method="post" data-confirm=(format!("Delete {}?", o.key))
                                    action=(format!("/buckets/{bucket}/delete?key={}&csrf={}", encode(&o.key), session.csrf)) {
                                    button.danger.delete type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                    @if listed.objects.is_empty() && listed.common_prefixes.is_empty() {
                        tr { td colspan="4" .muted { "Nothing here yet." } }
                    }
                }
            }
        }
        @if listed.truncated {
            @if let Some(last) = listed.objects.last() {
                p { a href=(format!("/buckets/{bucket}{}", query(&[("prefix", &q.prefix), ("after", &last.key)]))) { "More →" } }
            }
        }
        script src="/assets/dashboard.js" {}
    };
    page(&session, &format!("Bucket {bucket}"), "/buckets", content)
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

async fn handle_download(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(bucket): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let buckets = ctx.platform.buckets();
    let meta = match buckets
        .head_object(&bucket, &q.key, &scope_of(&session.caller))
        .await
    {
        Ok(meta) => meta,
        Err(e) => return problem(&session, StatusCode::NOT_FOUND, &e.to_string()),
    };
    let stream = match buckets.read_object(&meta, None).await {
        Ok(s) => s,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let name = q
        .key
        .rsplit('/')
        .next()
        .unwrap_or("object")
        .replace(['"', '\\'], "_");
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, meta.size.into());
    if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    let content_type = meta
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    if let Ok(v) = content_type.parse() {
        headers.insert(header::CONTENT_TYPE, v);
    }
    response
}

async fn handle_upload(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(bucket): Path<String>,
    Query(q): Query<KeyQuery>,
    request: Request,
) -> Response {
    let stored =
        crate::objects::put_from_request(&ctx, &session.caller, &bucket, &q.key, request).await;
    match stored {
        Ok(meta) => (
            StatusCode::OK,
            format!("stored {} ({} bytes)", meta.key, meta.size),
        )
            .into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
    }
}

async fn handle_delete(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Path(bucket): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let deleted = ctx
        .platform
        .buckets()
        .delete_object(
            &bucket,
            &q.key,
            None,
            &scope_of(&session.caller),
            &Default::default(),
        )
        .await;
    match deleted {
        Ok(_) => {
            let prefix = q
                .key
                .rsplit_once('/')
                .map(|(p, _)| format!("{p}/"))
                .unwrap_or_default();
            Redirect::to(&format!(
                "/buckets/{bucket}{}",
                query(&[("prefix", &prefix)])
            ))
            .into_response()
        }
        Err(e) => problem(&session, StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}
