//! The `wasi:http` hooks of a run: outbound requests are checked against the
//! function's `allowed_outbound_hosts`; a denied request fails inside the
//! guest with `HTTP-request-denied` and leaves a line in the run's log.
//! An allowed request without a `traceparent` gets the run's, as
//! OpenTelemetry's HTTP instrumentation propagates it: what the run asks
//! of Strato's APIs (or any traced service) joins its trace with no change
//! to the guest, at no cost to runs that call nothing.

use crate::logs::LogCapture;
use std::sync::Arc;
use strato_core::outbound::OutboundRule;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub(crate) struct OutboundPolicy {
    pub rules: Arc<[OutboundRule]>,
    pub logs: LogCapture,
    /// The run's own span (the `traceparent` of the request it serves).
    pub traceparent: Option<http::HeaderValue>,
}

const TRACEPARENT: &str = "traceparent";

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl OutboundPolicy {
    fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else { return false };
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        self.rules.iter().any(|r| r.allows(scheme, host, port))
    }
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if !self.allows(request.uri()) {
            let uri = request.uri();
            self.logs.system(format!(
                "outbound request to {}://{} denied: not in allowed_outbound_hosts",
                uri.scheme_str().unwrap_or("https"),
                uri.authority().map(|a| a.as_str()).unwrap_or("?")
            ));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if let Some(span) = &self.traceparent
            && !request.headers().contains_key(TRACEPARENT)
        {
            request.headers_mut().insert(TRACEPARENT, span.clone());
        }
        let default_hooks: &mut dyn WasiHttpHooks = Default::default();
        default_hooks.send_request(request, options, fut)
    }
}
