//! Running functions: gateway routing, control-API invokes, concurrency
//! limits, and recording each run.

use crate::live::{LiveFunction, Routed};
use crate::platform::Platform;
use crate::util::now_ms;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use strato_core::{RunRecord, RunSpan, RunStatus, TraceContext, Trigger};
use strato_executor::{
    Body, BodyError, Delivery, Invocation, Outcome, OutcomeStatus, text_response,
};
use strato_store::{Effect, FinishedRun};

/// Header carrying the run id on every response that ran a function.
pub const RUN_ID_HEADER: &str = "x-strato-run-id";

/// Why an invoke found nothing to run.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no deployed function `{0}`; see `strato apps`")]
    NoSuchFunction(String),
    #[error("function name `{name}` is ambiguous; name one of: {}", candidates.join(", "))]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
    },
    #[error("this token may only invoke functions of app `{0}`")]
    Forbidden(String),
    #[error("function is at its concurrency limit; retry later")]
    Throttled,
    #[error("storage failed: {0}")]
    Storage(String),
}

/// How a run came to be, and who waits for its outcome.
pub(crate) struct RunContext {
    pub trigger: Trigger,
    pub event_id: Option<String>,
    pub attempt: u32,
    /// Async work: wait for a concurrency slot however long it takes
    /// instead of answering 429, and count a non-2xx answer as a failure.
    pub wait_for_slot: bool,
    /// Told the run's final status when it is recorded.
    pub on_status: Option<tokio::sync::oneshot::Sender<RunStatus>>,
    /// The bucket event this run delivers, and whether it is the last
    /// attempt: success (or a last failure) settles the event together
    /// with the run record.
    pub delivers_event: Option<(i64, bool)>,
    /// The async invocation this run is an attempt of, and whether it is
    /// the last: success (or a last failure) settles it with the record.
    pub delivers_invocation: Option<(String, bool)>,
    /// The async invocation's request body, for a destination record.
    pub invocation_payload: Vec<u8>,
    /// A concurrency permit already taken (async work, in priority order).
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Told the run's log lines when it is recorded (Lambda's `Tail`).
    pub on_logs: Option<tokio::sync::oneshot::Sender<Vec<strato_core::LogLine>>>,
    /// The lease this node holds on the work the run completes: the
    /// record settles nothing if another node took the work over.
    pub fence: Option<strato_store::Fence>,
    /// The span that caused the run (a caller's `traceparent`, the run
    /// that wrote the object or queued the invocation), if known.
    pub parent: Option<TraceContext>,
    /// The run's own span, once it has begun.
    span: Option<RunSpan>,
    /// Spans the run is linked to besides its parent (each message of a
    /// batch).
    pub links: Vec<TraceContext>,
    /// When the work it does was accepted (an invocation queued, an event
    /// written, a message sent): its record's queued time counts from it.
    pub accepted_ms: Option<i64>,
    /// The start of the event the run is given, kept with its record for
    /// its page (event-driven runs only: a gateway request's body is not
    /// kept).
    payload: Option<Vec<u8>>,
}

/// How a run ended, as its record says.
struct Ended {
    status: RunStatus,
    http_status: Option<u16>,
    error: Option<String>,
    cold_start: bool,
    /// Getting a cold instance or environment ready.
    init: Option<std::time::Duration>,
    logs: Vec<strato_core::LogLine>,
}

/// Why a function did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// At its concurrency limit for longer than a request may wait (the
    /// run is recorded as throttled).
    Throttled,
    /// The server is stopping.
    ShuttingDown,
}

impl RunContext {
    pub(crate) fn new(trigger: Trigger) -> RunContext {
        RunContext {
            trigger,
            event_id: None,
            attempt: 1,
            wait_for_slot: false,
            on_status: None,
            delivers_event: None,
            delivers_invocation: None,
            invocation_payload: Vec::new(),
            permit: None,
            on_logs: None,
            fence: None,
            parent: None,
            span: None,
            links: Vec::new(),
            accepted_ms: None,
            payload: None,
        }
    }

    /// Keeps the start of `event` with the run's record.
    pub(crate) fn keep_payload(&mut self, event: &[u8]) {
        self.payload = Some(event[..event.len().min(strato_store::MAX_KEPT_PAYLOAD)].to_vec());
    }

    /// The context with `parent` as the span that caused the run.
    pub(crate) fn caused_by(mut self, parent: Option<TraceContext>) -> RunContext {
        self.parent = parent;
        self
    }
}

impl Platform {
    /// Serves a request that arrived on the gateway.
    pub async fn handle_gateway<B>(
        self: &Arc<Self>,
        request: http::Request<B>,
    ) -> http::Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        let routed = self
            .live
            .load()
            .routes
            .lookup(request.uri().path())
            .cloned();
        match routed {
            Some(Routed::Function(f)) if crate::async_invoke::wants_async(request.headers()) => {
                self.queue_gateway_request(&f, request).await
            }
            Some(Routed::Function(f)) => {
                let parent = crate::trace::parent_of(request.headers());
                self.run_function(f, request, RunContext::new(Trigger::Http).caused_by(parent))
                    .await
            }
            Some(Routed::Service(s)) => {
                let path = request.uri().path().to_string();
                self.serve_service(s, &path, request).await
            }
            None => text_response(
                404,
                "no deployed function or service serves this path; see `strato apps`",
            ),
        }
    }

    /// A gateway request with `X-Strato-Invocation-Type: Event`: queued
    /// durably, answered 202 with the invocation id.
    async fn queue_gateway_request<B>(
        self: &Arc<Self>,
        function: &LiveFunction,
        request: http::Request<B>,
    ) -> http::Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        use crate::async_invoke::{MAX_ASYNC_BODY, accepted_response, head_of, requested_priority};
        use http_body_util::BodyExt;
        let priority = match requested_priority(request.headers()) {
            Ok(p) => p,
            Err(e) => return text_response(400, &e),
        };
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let body = body.map_err(|e| {
            let e: BodyError = e.into();
            std::io::Error::other(e.to_string())
        });
        let body = match http_body_util::Limited::new(body, MAX_ASYNC_BODY)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return text_response(
                    413,
                    &format!("async invocation payload over {MAX_ASYNC_BODY} bytes"),
                );
            }
        };
        match self
            .queue_invocations(function, vec![(head_of(&parts, &path), body)], priority)
            .await
        {
            Ok(ids) => accepted_response(&ids[0]),
            Err(e) => {
                tracing::error!(error = %e, "queueing an async invocation");
                text_response(503, "could not queue the invocation; retry later")
            }
        }
    }

    /// Invokes a function by name, `APP/FUNCTION` or `FUNCTION` when only
    /// one app has it (control API / `strato invoke`). With
    /// `only_app`, the caller may only reach that app's functions.
    pub async fn invoke<B>(
        self: &Arc<Self>,
        name: &str,
        request: http::Request<B>,
        only_app: Option<&str>,
    ) -> Result<http::Response<Body>, InvokeError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        let function = self.find_function(name, only_app)?;
        let parent =
            crate::trace::parent_of(request.headers()).or_else(crate::trace::current_cause);
        let cx = RunContext::new(Trigger::Invoke).caused_by(parent);
        Ok(self.run_function(function, request, cx).await)
    }

    /// The live function `APP/FUNCTION` or `FUNCTION` names, if the caller
    /// (confined to `only_app`, when given) may reach it.
    pub(crate) fn find_function(
        &self,
        name: &str,
        only_app: Option<&str>,
    ) -> Result<Arc<LiveFunction>, InvokeError> {
        let function = match self.live().find_function(name) {
            Ok(f) => f,
            Err(candidates) if candidates.is_empty() => {
                return Err(InvokeError::NoSuchFunction(name.to_string()));
            }
            Err(candidates) => {
                return Err(InvokeError::Ambiguous {
                    name: name.to_string(),
                    candidates,
                });
            }
        };
        if let Some(app) = only_app
            && function.app != app
        {
            return Err(InvokeError::Forbidden(app.to_string()));
        }
        Ok(function)
    }

    pub(crate) async fn run_function<B>(
        self: &Arc<Self>,
        function: Arc<LiveFunction>,
        request: http::Request<B>,
        cx: RunContext,
    ) -> http::Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        match self.try_run_function(function, request, cx).await {
            Ok(response) => response,
            Err(Refused::Throttled) => {
                let mut response =
                    text_response(429, "function is at its concurrency limit; retry later");
                response
                    .headers_mut()
                    .insert("retry-after", http::HeaderValue::from_static("1"));
                response
            }
            Err(Refused::ShuttingDown) => text_response(503, "function is shutting down"),
        }
    }

    /// Runs `function` once a concurrency slot is free (waiting up to the
    /// configured queue wait, or as long as it takes for async work), or
    /// says why it did not run.
    pub(crate) async fn try_run_function<B>(
        self: &Arc<Self>,
        function: Arc<LiveFunction>,
        mut request: http::Request<B>,
        mut cx: RunContext,
    ) -> Result<http::Response<Body>, Refused>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        let run_id = self.runs.next_id('r');
        // The function sees its own span as the parent of what it calls.
        let span = crate::trace::begin(cx.parent, &run_id);
        // Written once: the guest's `traceparent` (which the host also
        // puts on the guest's outbound requests) and the answer's
        // `traceresponse` name this span.
        let span_header = http::HeaderValue::from_str(&span.context.traceparent()).ok();
        if let Some(v) = &span_header {
            request
                .headers_mut()
                .insert(crate::trace::TRACEPARENT, v.clone());
        }
        cx.span = Some(span);
        let started_at_ms = now_ms();
        let started = Instant::now();

        let permit = match cx
            .permit
            .take()
            .map(Ok)
            .unwrap_or_else(|| function.permits.clone().try_acquire_owned())
        {
            Ok(p) => p,
            // Async work waits for a slot rather than failing.
            Err(_) if cx.wait_for_slot => match function.permits.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return Err(Refused::ShuttingDown),
            },
            Err(_) => {
                let waited = tokio::time::timeout(
                    self.config.queue_wait,
                    function.permits.clone().acquire_owned(),
                )
                .await;
                match waited {
                    Ok(Ok(p)) => p,
                    _ => {
                        self.runs.counters.count(RunStatus::Throttled);
                        self.record(
                            &function,
                            &run_id,
                            &mut cx,
                            (started_at_ms, started),
                            Ended {
                                status: RunStatus::Throttled,
                                http_status: Some(429),
                                error: Some("concurrency limit reached".into()),
                                cold_start: false,
                                init: None,
                                logs: Vec::new(),
                            },
                        );
                        return Err(Refused::Throttled);
                    }
                }
            }
        };

        // Async work only waits for the outcome.
        let delivery = if cx.wait_for_slot {
            Delivery::Whole
        } else {
            Delivery::Streaming
        };
        let mut limits = function.limits.clone();
        limits
            .extra_env
            .push(("STRATO_RUN_ID".into(), run_id.clone()));
        self.runs.started();
        let prepared = function.prepared.clone();
        let this = self.clone();
        let record_id = run_id.clone();
        // Held until the executor frees the run's slot or reports its
        // outcome, whichever comes first.
        let slot = Arc::new(std::sync::Mutex::new(Some(permit)));
        let free = {
            let slot = slot.clone();
            move || drop(slot.lock().unwrap_or_else(|p| p.into_inner()).take())
        };
        let on_done = move |outcome: Outcome| {
            drop(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
            let mut error = outcome.error;
            let answered = outcome.http_status.unwrap_or(0);
            let status = match outcome.status {
                // For async work the answer is the only verdict: a function
                // answering an error status has failed (and is retried).
                OutcomeStatus::Succeeded if cx.wait_for_slot && !(200..300).contains(&answered) => {
                    error = Some(format!("function answered HTTP {answered}"));
                    RunStatus::Failed
                }
                OutcomeStatus::Succeeded => RunStatus::Succeeded,
                OutcomeStatus::Failed => RunStatus::Failed,
                OutcomeStatus::TimedOut => RunStatus::TimedOut,
                OutcomeStatus::OomKilled => RunStatus::OomKilled,
            };
            this.runs.counters.count(status);
            this.record(
                &function,
                &record_id,
                &mut cx,
                (started_at_ms, started),
                Ended {
                    status,
                    http_status: outcome.http_status,
                    error,
                    cold_start: outcome.cold_start,
                    init: outcome.init,
                    logs: outcome.logs,
                },
            );
            this.runs.finished();
        };
        let mut response = prepared
            .invoke(Invocation {
                request: request.map(strato_executor::boxed),
                limits,
                delivery,
                on_done: Box::new(on_done),
                on_free: Box::new(free),
            })
            .await;
        if let Ok(v) = http::HeaderValue::from_str(&run_id) {
            response.headers_mut().insert(RUN_ID_HEADER, v);
        }
        if let Some(v) = span_header {
            response
                .headers_mut()
                .insert(crate::trace::TRACERESPONSE, v);
        }
        Ok(response)
    }

    /// Records a run that started at `(wall clock ms, instant)`.
    fn record(
        &self,
        function: &LiveFunction,
        run_id: &str,
        cx: &mut RunContext,
        (started_at_ms, started): (i64, Instant),
        ended: Ended,
    ) {
        let Ended {
            status,
            http_status,
            error,
            cold_start,
            init,
            logs,
        } = ended;
        let duration_us = started.elapsed().as_micros() as i64;
        // What commits with the record: the bucket event or invocation
        // this run settles (success, or its last attempt), and the
        // destination that follows.
        let settles = status == RunStatus::Succeeded;
        let mut effects = Vec::new();
        if let Some(body) = cx.payload.take() {
            effects.push(Effect::KeepPayload {
                run_id: run_id.to_string(),
                body,
            });
        }
        if let Some((event, last)) = cx.delivers_event
            && (settles || last)
        {
            effects.push(Effect::SettleEvent(event));
        }
        if let Some((id, last)) = cx.delivers_invocation.take()
            && (settles || last)
        {
            let destinations = crate::destinations::destinations(
                self,
                &crate::destinations::Outcome {
                    app: &function.app,
                    name: &function.name,
                    on_success: &function.spec.on_success,
                    on_failure: &function.spec.on_failure,
                    max_age_ms: function.spec.max_age_ms,
                    invocation_id: &id,
                    payload: &cx.invocation_payload,
                    attempt: cx.attempt,
                    status,
                    http_status,
                    exit_code: None,
                    error: error.as_deref(),
                    span: cx.span.map(|s| s.context),
                },
            );
            effects.push(Effect::SettleInvocation(id));
            effects.extend(destinations.into_iter().map(Effect::Enqueue));
        }
        if let Some(tell) = cx.on_logs.take() {
            let _ = tell.send(logs.clone());
        }
        let mut run = FinishedRun {
            fence: cx.fence.take(),
            effects,
            record: RunRecord {
                id: run_id.to_string(),
                app: function.app.clone(),
                function: function.name.clone(),
                revision: function.revision,
                trigger: cx.trigger,
                status,
                started_at_ms,
                duration_us,
                cold_start,
                memory_limit_bytes: function.spec.memory_bytes,
                billed_ms: RunRecord::billed_ms_for(duration_us),
                http_status,
                error,
                event_id: cx.event_id.clone(),
                attempt: cx.attempt,
                exit_code: None,
                init_us: init.map(|d| d.as_micros() as i64),
                trace_id: None,
                span_id: None,
                parent_span_id: None,
                cpu_us: None,
                queued_us: cx.accepted_ms.map(|at| (started_at_ms - at).max(0) * 1000),
            },
            logs,
        };
        if let Some(span) = &cx.span {
            run.record.set_span(span);
        }
        self.runs.observe(
            &function.figures,
            &run.record,
            &run.logs,
            std::mem::take(&mut cx.links),
        );
        // Whoever waits for the status acts on the work next (deletes
        // the messages it handled, schedules a retry): only once the
        // record (and what settles with it) is written.
        match cx.on_status.take() {
            None => self.runs.record(run),
            Some(tell) => {
                let written = self.runs.record_acked(run);
                tokio::spawn(async move {
                    let _ = written.await;
                    let _ = tell.send(status);
                });
            }
        }
    }
}
