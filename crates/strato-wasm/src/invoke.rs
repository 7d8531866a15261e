//! One request in one fresh instance: limits, timeout, logs, outcome.

use crate::engine::{PreparedComponent, WasmEngine};
use crate::logs::LogCapture;
use crate::outbound::OutboundPolicy;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_core::{LogLine, LogStream};
use strato_executor::{Delivery, Outcome, OutcomeStatus, RunLimits};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Epoch ticks a guest may run before yielding to other tasks.
const YIELD_EVERY_TICKS: u64 = 2;

/// The body type of the responses guests produce (wasmtime-wasi-http's);
/// [`crate::WasmExecutor`] hands them on as the engine's body type.
pub(crate) type ResponseBody = HyperOutgoingBody;

/// A complete body from bytes.
fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Per-instance host state.
pub(crate) struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundPolicy,
    limiter: MemoryLimiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Counts linear memory across all of an instance's memories and refuses
/// growth past the function's limit, remembering that it did.
struct MemoryLimiter {
    limit: usize,
    used: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let next = self.used.saturating_sub(current).saturating_add(desired);
        if next > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.used = next;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A plain-text response (`message` plus a newline).
fn text_response(status: u16, message: &str) -> hyper::Response<ResponseBody> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(full_body(format!("{message}\n")))
        .expect("static response parts are valid")
}

/// The response channel shared by the guest's `response-outparam` and the
/// task that runs the guest: whichever answers first sends the response.
struct Answer {
    sender: Option<tokio::sync::oneshot::Sender<hyper::Response<ResponseBody>>>,
    status: u16,
    guest_error: Option<String>,
}

impl Answer {
    fn send(&mut self, response: hyper::Response<ResponseBody>) {
        if let Some(sender) = self.sender.take() {
            self.status = response.status().as_u16();
            let _ = sender.send(response);
        }
    }
}

/// A guest ready to run, and where its response will arrive.
struct ReadyGuest<G> {
    guest: G,
    response: tokio::sync::oneshot::Receiver<hyper::Response<ResponseBody>>,
}

impl WasmEngine {
    /// Runs `request` in a fresh instance of `component` and answers as
    /// `delivery` says: [`Delivery::Streaming`] spawns the guest on a task of
    /// its own and answers at the response head; [`Delivery::Whole`] runs it
    /// on the caller's task with its body read alongside (no task spawned).
    /// `on_done` receives the run's outcome when the guest returns, on the
    /// task that ran it (with `Whole`, before this returns).
    pub async fn invoke<B, F>(
        &self,
        component: &PreparedComponent,
        request: hyper::Request<B>,
        limits: RunLimits,
        on_done: F,
        delivery: Delivery,
    ) -> hyper::Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
        F: FnOnce(Outcome) + Send + 'static,
    {
        let ready = match self.set_up(component, request, limits, on_done).await {
            Ok(ready) => ready,
            Err(refused) => return refused,
        };
        let host_failed = || text_response(500, "function host task failed");
        match delivery {
            Delivery::Streaming => {
                tokio::spawn(ready.guest);
                ready.response.await.unwrap_or_else(|_| host_failed())
            }
            Delivery::Whole => {
                let read = async {
                    let Ok(response) = ready.response.await else {
                        return host_failed();
                    };
                    let (parts, body) = response.into_parts();
                    // A body the guest failed midway is cut short; the
                    // outcome says why.
                    let bytes = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    hyper::Response::from_parts(parts, full_body(bytes))
                };
                let ((), response) = tokio::join!(ready.guest, read);
                response
            }
        }
    }

    /// Sets up a fresh instance for `request`: the guest future (runs the
    /// instance, answers for a guest that did not, calls `on_done`) and the
    /// receiver of its response. A request the host cannot hand to the
    /// guest is answered 400 at once (and `on_done` told).
    async fn set_up<B, F>(
        &self,
        component: &PreparedComponent,
        request: hyper::Request<B>,
        limits: RunLimits,
        on_done: F,
    ) -> Result<
        ReadyGuest<impl std::future::Future<Output = ()> + Send + 'static>,
        hyper::Response<ResponseBody>,
    >
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
        F: FnOnce(Outcome) + Send + 'static,
    {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the slot semaphore is never closed"),
        };
        let logs = LogCapture::new();
        let traceparent = request.headers().get("traceparent").cloned();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(logs.pipe(LogStream::Stdout))
            .stderr(logs.pipe(LogStream::Stderr));
        // A run's own variables replace the shared ones of the same name
        // (a guest's getenv takes the first).
        for (k, v) in limits.env.iter() {
            if !limits.extra_env.iter().any(|(extra, _)| extra == k) {
                wasi.env(k, v);
            }
        }
        for (k, v) in &limits.extra_env {
            wasi.env(k, v);
        }
        let state = HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundPolicy {
                rules: limits.outbound.clone(),
                logs: logs.clone(),
                traceparent,
            },
            limiter: MemoryLimiter {
                limit: limits.memory_bytes as usize,
                used: 0,
                exceeded: false,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // A guest computing without pause yields to the scheduler every few
        // ticks so it cannot hold a worker thread (and every request queued
        // behind it) until its timeout; past the timeout it is interrupted.
        let total_ticks =
            (limits.timeout.as_micros() / self.epoch_tick.as_micros().max(1)) as u64 + 1;
        let mut used_ticks = 0u64;
        store.set_epoch_deadline(YIELD_EVERY_TICKS.min(total_ticks));
        store.epoch_deadline_callback(move |_| {
            used_ticks += YIELD_EVERY_TICKS;
            Ok(if used_ticks >= total_ticks {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(YIELD_EVERY_TICKS.min(total_ticks - used_ticks))
            })
        });

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let answer = Arc::new(Mutex::new(Answer {
            sender: Some(sender),
            status: 0,
            guest_error: None,
        }));
        let guest_answer = answer.clone();
        let prepared = (|| {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store
                .data_mut()
                .http()
                .new_response_outparam_from_callback(move |result| {
                    let mut answer = guest_answer.lock().expect("answer lock");
                    match result {
                        Ok(response) => answer.send(response),
                        Err(code) => {
                            let message = format!("function answered with an error: {code:?}");
                            answer.send(text_response(500, &message));
                            answer.guest_error = Some(message);
                        }
                    }
                })?;
            wasmtime::Result::<_>::Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(v) => v,
            Err(e) => {
                let message = format!("bad request: {e}");
                on_done(Outcome {
                    http_status: Some(400),
                    ..Outcome::failed(message.clone())
                });
                return Err(text_response(400, &message));
            }
        };

        let pre = component.pre.clone();
        let timeout = limits.timeout;
        let memory_limit = limits.memory_bytes;
        let guest = async move {
            let mut init = None;
            let result = {
                let run = async {
                    let started = std::time::Instant::now();
                    let proxy = pre.instantiate_async(&mut store).await?;
                    init = Some(started.elapsed());
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, req, out)
                        .await
                };
                tokio::time::timeout(timeout, run).await
            };
            let exceeded = store.data().limiter.exceeded;
            drop(store);
            drop(slot);
            let mut outcome = classify(result, exceeded, memory_limit, timeout, &logs);
            outcome.init = init;
            let mut answer = answer.lock().expect("answer lock");
            if answer.sender.is_some() {
                // The guest never answered: answer for it.
                let response = match outcome.status {
                    OutcomeStatus::TimedOut => text_response(504, "function timed out"),
                    OutcomeStatus::Failed | OutcomeStatus::OomKilled => {
                        text_response(500, "function failed; see its run log")
                    }
                    OutcomeStatus::Succeeded => {
                        outcome.status = OutcomeStatus::Failed;
                        outcome.error = Some("function returned without setting a response".into());
                        text_response(500, "function returned without a response")
                    }
                };
                answer.send(response);
            }
            if let Some(error) = answer.guest_error.take()
                && outcome.status == OutcomeStatus::Succeeded
            {
                outcome.status = OutcomeStatus::Failed;
                outcome.error = Some(error);
            }
            outcome.http_status = Some(answer.status);
            drop(answer);
            on_done(outcome);
        };
        Ok(ReadyGuest {
            guest,
            response: receiver,
        })
    }
}

fn classify(
    result: Result<wasmtime::Result<()>, tokio::time::error::Elapsed>,
    memory_exceeded: bool,
    memory_limit: u64,
    timeout: Duration,
    logs: &LogCapture,
) -> Outcome {
    let timed_out = || {
        format!(
            "timed out after {}",
            strato_core::units::format_duration(timeout.as_millis() as u64)
        )
    };
    let (status, error) = match result {
        Err(_elapsed) => (OutcomeStatus::TimedOut, Some(timed_out())),
        Ok(Ok(())) => (OutcomeStatus::Succeeded, None),
        Ok(Err(e)) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
            (OutcomeStatus::TimedOut, Some(timed_out()))
        }
        Ok(Err(e)) => {
            let trap = match e.downcast_ref::<Trap>() {
                // Its text already reads "wasm trap: …".
                Some(trap) => trap.to_string(),
                None => format!("{e}"),
            };
            let message = if memory_exceeded {
                format!(
                    "memory limit exceeded ({}); {trap}",
                    strato_core::units::format_size(memory_limit)
                )
            } else {
                let lines = logs.lines_so_far();
                match panic_message(&lines) {
                    Some(panic) => format!("{panic}; {trap}"),
                    None => trap,
                }
            };
            logs.system(format!("run failed: {message}"));
            (OutcomeStatus::Failed, Some(message))
        }
    };
    if status == OutcomeStatus::TimedOut {
        logs.system(format!("run {}", error.as_deref().unwrap_or("timed out")));
    }
    Outcome {
        status,
        error,
        http_status: None,
        exit_code: None,
        logs: logs.take_lines(),
        cold_start: false,
        init: None,
        billed: None,
    }
}

/// Finds Rust's panic report (`thread '…' panicked at FILE:LINE:COL:` then
/// the message) in what the guest wrote to stderr.
fn panic_message(lines: &[LogLine]) -> Option<String> {
    let i = lines
        .iter()
        .position(|l| l.stream == LogStream::Stderr && l.text.contains("panicked at"))?;
    let at = lines[i]
        .text
        .split("panicked at")
        .nth(1)?
        .trim()
        .trim_end_matches(':');
    let message = lines[i + 1..]
        .iter()
        .find(|l| l.stream == LogStream::Stderr)
        .map(|l| l.text.as_str())
        .unwrap_or("");
    Some(format!("panicked at {at}: {message}"))
}
