//! Strato's HTTP surfaces, one module per listener:
//!
//! - [`gateway`]: app routes on `--http` (default 127.0.0.1:8080), served
//!   with bare hyper for speed; every path belongs to apps.
//! - [`control`]: the REST control API under `/api/v1/` on `--api`
//!   (127.0.0.1:8090), plus `/metrics`; bearer-token auth.
//! - `aws`: the other AWS APIs on the control listener (the Lambda API
//!   under `/2015-03-31/`), SigV4 by Strato's access keys.
//! - [`s3`]: the S3 API on `--s3` (127.0.0.1:9000), SigV4 by Strato's
//!   access keys. The control API also serves objects to bearer tokens
//!   (`/api/v1/buckets/...`), the simple path for functions.
//!
//! Handlers parse a typed request and call `strato_engine::Platform`; they
//! hold no SQL. [`error::ApiError`] is the one place internal errors become
//! HTTP statuses.

mod aws;
pub mod control;
mod dashboard;
pub mod error;
pub mod gateway;
mod invocations;
mod nodes;
mod objects;
mod queues;
pub mod registry;
pub mod s3;
mod services;
mod tasks;
mod traces;
mod usage;
mod workflows;

/// The body type every surface answers with.
pub use strato_engine::Body as ResponseBody;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves HTTP/1.1 on `listener` with `service` until `shutdown` resolves,
/// then stops accepting and lets open requests finish (up to `grace`).
pub async fn serve_http1(
    listener: TcpListener,
    service: impl HttpService,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    // Each connection's task holds a sender: `recv` ends when all ended.
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .max_buf_size(64 * 1024)
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(strato_engine::ClientAddr(peer));
                            let sent_body = has_body(&req);
                            let fut = service(req);
                            async move {
                                let mut response = fut.await;
                                if sent_body && !response.status().is_success() {
                                    close_after(&mut response);
                                }
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        }),
                    )
                    // Upgrades (WebSocket) pass through to services.
                    .with_upgrades();
                let mut stopping = stopping_rx.clone();
                let open = open_tx.clone();
                tokio::spawn(async move {
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopping.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                    drop(open);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    // Idle connections close now, busy ones after their response.
    let _ = stopping_tx.send(true);
    drop(open_tx);
    if tokio::time::timeout(grace, open_rx.recv()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

/// Whether the client sends (or may send) a body with `request`.
fn has_body<B>(request: &http::Request<B>) -> bool {
    let headers = request.headers();
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|len| len.as_bytes() != b"0")
}

/// Marks `response` as the connection's last. A refused request's body may
/// be partly unread (refused before it is read, or the client sent it
/// after `Expect: 100-continue` timed out); closing the connection is the
/// one way neither side can mistake its rest for the next request.
fn close_after(response: &mut http::Response<ResponseBody>) {
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
}

/// What a surface's handler returns for one request.
pub type ResponseFuture =
    std::pin::Pin<Box<dyn Future<Output = http::Response<ResponseBody>> + Send>>;

/// A request handler for [`serve_http1`].
pub trait HttpService:
    Fn(http::Request<hyper::body::Incoming>) -> ResponseFuture + Clone + Send + Sync + 'static
{
}

impl<S> HttpService for S where
    S: Fn(http::Request<hyper::body::Incoming>) -> ResponseFuture + Clone + Send + Sync + 'static
{
}

/// Everything the control API needs besides the engine.
#[derive(Clone)]
pub struct ControlConfig {
    /// The admin bearer token.
    pub admin_token: Arc<str>,
    /// Largest component upload accepted.
    pub max_component_bytes: usize,
    /// Largest invoke payload accepted.
    pub max_invoke_bytes: usize,
    /// The region shown in ARNs (Strato's one region).
    pub region: Arc<str>,
}
