//! Forwarding one gateway request to a replica, streaming both ways: the
//! request body as it arrives, the response body as the app writes it
//! (server-sent events flow), and an upgraded connection (WebSocket)
//! spliced byte for byte. Hop-by-hop headers stay on their hop;
//! `X-Forwarded-For`, `-Proto` and `-Host` say where the request came
//! from. The replica's connection goes back to its pool when the response
//! has been read to its end. Each request is a span of its caller's trace.

use super::{Lease, LiveService, Unavailable};
use crate::util::now_ms;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use strato_executor::{Body, BodyError, text_response};

impl crate::platform::Platform {
    /// Serves a gateway request with `service`'s replicas.
    pub(crate) async fn serve_service<B>(
        &self,
        mut service: Arc<LiveService>,
        path: &str,
        mut request: http::Request<B>,
    ) -> http::Response<Body>
    where
        B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<strato_executor::BodyError>,
    {
        let started = Instant::now();
        // A request is a span of its caller's trace (or begins one; a
        // service's replica is one run for its whole life, so requests are
        // not runs): the replica gets it as `traceparent`, the answer names
        // it in `traceresponse`, and `--otlp-endpoint` receives it.
        let span = crate::trace::begin(crate::trace::parent_of(request.headers()), "");
        let traceparent = http::HeaderValue::from_str(&span.context.traceparent()).ok();
        if let Some(v) = &traceparent {
            request
                .headers_mut()
                .insert(crate::trace::TRACEPARENT, v.clone());
        }
        let (started_at_ms, method) = (now_ms(), request.method().clone());
        let lease = loop {
            match service.acquire().await {
                Ok(lease) => break lease,
                // A deploy moved the route meanwhile: the new revision.
                Err(Unavailable::Replaced) => match self.live.load().routes.lookup(path) {
                    Some(crate::live::Routed::Service(next)) if !Arc::ptr_eq(next, &service) => {
                        service = next.clone();
                    }
                    _ => return Unavailable::Replaced.response(),
                },
                Err(other) => {
                    let response = other.response();
                    service.stats.record(
                        response.status().as_u16(),
                        started.elapsed(),
                        now_ms() as u64 / 1000,
                    );
                    return response;
                }
            }
        };
        let replica = lease.replica.id.clone();
        let mut response = forward(lease, request).await;
        let status = response.status().as_u16();
        service
            .stats
            .record(status, started.elapsed(), now_ms() as u64 / 1000);
        if let Some(v) = traceparent {
            response
                .headers_mut()
                .insert(crate::trace::TRACERESPONSE, v);
        }
        if self.runs.exports_spans() {
            self.runs.request_served(&crate::otlp::ServedRequest {
                app: &service.launch.app,
                service: &service.launch.name,
                replica: &replica,
                span: &span,
                method: method.as_str(),
                path,
                status,
                started_at_ms,
                duration_us: started.elapsed().as_micros() as i64,
            });
        }
        response
    }
}

/// The address a request came from, put in its extensions by the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// Headers of one hop (RFC 9110 section 7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Sends `request` to the lease's replica and answers with its response.
pub(crate) async fn forward<B>(lease: Lease, mut request: http::Request<B>) -> http::Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BodyError>,
{
    let upgrade = wants_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let client = request.extensions().get::<ClientAddr>().copied();
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade.is_some());
    add_forwarded(&mut parts.headers, client);
    parts.uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    parts.version = http::Version::HTTP_11;
    let mut outgoing = Some(http::Request::from_parts(
        parts,
        strato_executor::boxed(body),
    ));

    // An idle connection the app closed meanwhile gives the request back
    // unsent: it goes again on a new connection.
    let mut fresh = false;
    let (conn, mut response) = loop {
        let conn = if fresh {
            lease.replica.connect().await
        } else {
            lease.replica.connection().await
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => return bad_gateway(&lease, &e),
        };
        let request = outgoing.take().expect("a request to send");
        match conn.try_send_request(request).await {
            Ok(response) => break (conn, response),
            Err(mut e) => match e.take_message() {
                Some(unsent) if !fresh => {
                    outgoing = Some(unsent);
                    fresh = true;
                }
                _ => return bad_gateway(&lease, &e.into_error().to_string()),
            },
        }
    };

    if response.status() == http::StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = upgrade
    {
        let app_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(client), Ok(app)) = tokio::join!(client_side, app_side) {
                let _ = tokio::io::copy_bidirectional(
                    &mut TokioIo::new(client),
                    &mut TokioIo::new(app),
                )
                .await;
            }
            // The lease (an in-flight request) ends with the stream.
            drop((lease, conn));
        });
        let (parts, _) = response.into_parts();
        return http::Response::from_parts(parts, strato_executor::full_body(Bytes::new()));
    }

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    let body = Streamed {
        inner: body,
        after: Some((conn, lease)),
    };
    http::Response::from_parts(parts, body.boxed_unsync())
}

fn bad_gateway(lease: &Lease, error: &str) -> http::Response<Body> {
    tracing::warn!(replica = %lease.replica.id, error, "proxying to a service replica");
    text_response(502, "the service's replica did not answer; try again")
}

/// Whether the client asks to switch protocols (`Connection: upgrade`).
fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers, and those `Connection` names; keeps
/// `Connection: upgrade` and `Upgrade` when `upgrading`.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| *n != header::UPGRADE)
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if upgrading {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Appends the client to `X-Forwarded-For` and sets `X-Forwarded-Proto`
/// and `X-Forwarded-Host` (when the client sent a `Host`).
fn add_forwarded(headers: &mut HeaderMap, client: Option<ClientAddr>) {
    let name = HeaderName::from_static("x-forwarded-for");
    if let Some(ClientAddr(addr)) = client {
        let ip = addr.ip().to_string();
        let value = match headers.get(&name).and_then(|v| v.to_str().ok()) {
            Some(before) => format!("{before}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
}

/// A replica's response body on its way to the client; at its end the
/// connection goes back to the replica's pool and the lease ends.
struct Streamed {
    inner: Incoming,
    after: Option<(SendRequest<Body>, Lease)>,
}

impl Streamed {
    /// The response was read to its end: the connection serves the next
    /// request, and the lease ends.
    fn finish(&mut self) {
        if let Some((conn, lease)) = self.after.take() {
            lease.replica.give_back(conn);
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if hyper::body::Body::is_end_stream(&self.inner) {
            self.finish();
        }
    }
}

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            // A failed body ends the exchange; the connection is dropped.
            Poll::Ready(Some(Err(_))) => self.after = None,
            // The server stops polling once `is_end_stream` says so: the
            // last frame ends the exchange as much as `None` does.
            Poll::Ready(_) if self.inner.is_end_stream() => self.finish(),
            Poll::Ready(None) => self.finish(),
            _ => {}
        }
        polled.map(|frame| frame.map(|f| f.map_err(BodyError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_stay_behind_and_upgrades_go_through() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/plain"),
            ("upgrade", "websocket"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["content-type"]);

        let mut h = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert!(!wants_upgrade(&headers(&[("upgrade", "websocket")])));
    }

    #[test]
    fn forwarded_headers_name_the_client_after_earlier_proxies() {
        let client = ClientAddr("10.1.2.3:5555".parse().unwrap());
        let mut h = headers(&[("host", "example.test")]);
        add_forwarded(&mut h, Some(client));
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "example.test");
        let mut h = headers(&[("x-forwarded-for", "192.0.2.1")]);
        add_forwarded(&mut h, Some(client));
        assert_eq!(h["x-forwarded-for"], "192.0.2.1, 10.1.2.3");
    }
}
