//! Trace context on the engine's side: a new run's span, and the context a
//! request names as its parent (W3C `traceparent`, or X-Ray's
//! `X-Amzn-Trace-Id`, which the AWS SDKs send from inside a Lambda
//! function).

use strato_core::{RunSpan, TraceContext};

/// The W3C header, on requests into functions and from callers.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C response header naming the span that answered.
pub const TRACERESPONSE: &str = "traceresponse";
/// X-Ray's header, as the AWS SDKs send it.
pub const AMZN_TRACE_ID: &str = "x-amzn-trace-id";

tokio::task_local! {
    /// The span on whose behalf the current task works: set around an API
    /// call (an S3 write, a task start) by the surface that read it from
    /// the request, read where durable work is made (a bucket event, a
    /// queued task run) so the work keeps it. A task-local rather than a
    /// parameter of every write path, as tracing's own spans are.
    static CAUSE: Option<TraceContext>;
}

/// Runs `work` on behalf of `cause`: what it makes durable records it.
pub async fn caused_by<F: std::future::Future>(cause: Option<TraceContext>, work: F) -> F::Output {
    CAUSE.scope(cause, work).await
}

/// The span the current task works for, if any.
pub fn current_cause() -> Option<TraceContext> {
    CAUSE.try_with(|c| *c).ok().flatten()
}

/// The span of new run `run_id` caused by `parent` (without one, the run
/// begins a trace named after it: see [`strato_core::trace::trace_id_for_run`]).
pub fn begin(parent: Option<TraceContext>, run_id: &str) -> RunSpan {
    let span_id = rand::random::<u64>().max(1);
    let trace = match parent {
        Some(_) => 0,
        None => strato_core::trace::trace_id_for_run(run_id, span_id),
    };
    RunSpan::begin(parent, trace, span_id)
}

/// The context a request's headers name as its parent, if any.
pub fn parent_of(headers: &http::HeaderMap) -> Option<TraceContext> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    text(TRACEPARENT)
        .and_then(TraceContext::parse_traceparent)
        .or_else(|| text(AMZN_TRACE_ID).and_then(TraceContext::parse_xray))
}

/// What a task's `AWS_SESSION_TOKEN` starts with: the rest is its span.
/// The AWS SDKs and CLI send the session token with every request they
/// sign (`X-Amz-Security-Token`), so what a task does with its S3 key
/// joins its trace with no change to its code.
pub const SESSION_TOKEN_PREFIX: &str = "strato-trace.";

/// The session token naming `span`.
pub fn session_token(span: &TraceContext) -> String {
    format!("{SESSION_TOKEN_PREFIX}{}", span.traceparent())
}

/// The context an AWS API request names: its trace headers, else the
/// span in its session token (a header, or a presigned URL's query).
pub fn parent_of_aws(headers: &http::HeaderMap, query: Option<&str>) -> Option<TraceContext> {
    let in_token = |token: &str| {
        token
            .strip_prefix(SESSION_TOKEN_PREFIX)
            .and_then(TraceContext::parse_traceparent)
    };
    parent_of(headers)
        .or_else(|| {
            headers
                .get("x-amz-security-token")
                .and_then(|v| v.to_str().ok())
                .and_then(in_token)
        })
        .or_else(|| {
            let query = query?;
            query.split('&').find_map(|pair| {
                let value = pair.strip_prefix("X-Amz-Security-Token=")?;
                in_token(&strato_core::percent::decode(
                    value,
                    strato_core::percent::Plus::Literal,
                ))
            })
        })
}

/// Names `span` as the parent on a request it makes.
pub fn set_parent(headers: &mut http::HeaderMap, span: &TraceContext) {
    if let Ok(v) = http::HeaderValue::from_str(&span.traceparent()) {
        headers.insert(TRACEPARENT, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_from_either_header_w3c_first() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(parent_of(&headers), None);
        headers.insert(
            AMZN_TRACE_ID,
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            parent_of(&headers).unwrap().trace_hex(),
            "5759e988bd862e3fe1be46a994272793"
        );
        let span = begin(None, "r0000000000010000000a").context;
        set_parent(&mut headers, &span);
        assert_eq!(parent_of(&headers), Some(span));
        let child = begin(Some(span), "r0000000000010000000b");
        assert_eq!(child.context.trace_id(), span.trace_id());
        assert_ne!(child.context.span_id(), span.span_id());
        assert_eq!(child.parent, Some(span.span_id()));
    }

    #[test]
    fn an_aws_request_names_its_span_in_its_session_token() {
        let span = begin(None, "r0000000000010000000c").context;
        let mut headers = http::HeaderMap::new();
        assert_eq!(parent_of_aws(&headers, None), None);
        headers.insert(
            "x-amz-security-token",
            session_token(&span).parse().unwrap(),
        );
        assert_eq!(parent_of_aws(&headers, None), Some(span));
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token={}",
            session_token(&span).replace('-', "%2D")
        );
        assert_eq!(
            parent_of_aws(&http::HeaderMap::new(), Some(&query)),
            Some(span)
        );
        headers.insert("x-amz-security-token", "an-sts-token".parse().unwrap());
        assert_eq!(parent_of_aws(&headers, None), None);
    }

    #[tokio::test]
    async fn the_cause_holds_within_its_scope_only() {
        assert_eq!(current_cause(), None);
        let span = begin(None, "r0000000000010000000d").context;
        let seen = caused_by(Some(span), async {
            tokio::task::yield_now().await;
            current_cause()
        })
        .await;
        assert_eq!(seen, Some(span));
        assert_eq!(current_cause(), None);
    }
}
