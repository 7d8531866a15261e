//! Durable asynchronous invocations of functions (Lambda's `Event`
//! invocation type).
//!
//! Accepting one writes it to the store's queue before the caller gets its
//! 202; work due now is stored leased to this process and dispatched at
//! once (no claim round trip). The sweeper claims what is due from the
//! store: retries whose backoff has passed and anything whose lease ran
//! out; at start a node releases its own leases, so work a crash
//! interrupted runs again (leases and heartbeat: `crate::lifecycle`). Each attempt is a run (trigger `async`, the invocation id, its
//! attempt number) and waits for a concurrency slot rather than failing.
//! A failed attempt is retried with exponential backoff and jitter until
//! `retries` are used up or `max_age` has passed; the run that settles the
//! invocation deletes it from the queue in the same transaction, and
//! queues its destination (`on_success` / `on_failure`: another function,
//! a task, or a webhook) in that transaction too.

use crate::invoke::{InvokeError, RunContext};
use crate::lifecycle::{Attempt, HandGuard};
use crate::live::LiveFunction;
use crate::platform::Platform;
use crate::util::now_ms;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use strato_core::invocation::Priority;
use strato_core::target::Target;
use strato_core::{RunRecord, RunStatus, Trigger};
use strato_store::{Effect, FinishedRun, Invocation, NewInvocation, WorkRef};
use tokio::sync::oneshot;

/// Most invocations one claim takes.
const CLAIM_BATCH: usize = 256;
/// Past its first claim, a sweep claims more only while this node holds
/// less than this much work (waiting for a slot or running): a
/// backlog drains at the speed it runs, and the rest stays in the store,
/// not in memory. The first claim is always made, so one busy function's
/// work in hand never holds back other functions' due work.
const MAX_IN_HAND: usize = 4096;
/// The async invocations component's own state.
pub(crate) struct Invocations {
    /// Accepted invocations on their way to the store.
    enqueuer: EnqueueSender,
}

impl Invocations {
    /// The component, and the receiving end its enqueuer task drains.
    pub(crate) fn new() -> (Invocations, EnqueueReceiver) {
        let (enqueuer, enqueued) = tokio::sync::mpsc::unbounded_channel();
        (Invocations { enqueuer }, enqueued)
    }
}

/// Accepted invocations on their way to the store, each with whom to
/// tell once it is committed.
type EnqueueSender =
    tokio::sync::mpsc::UnboundedSender<(Vec<NewInvocation>, oneshot::Sender<Result<(), String>>)>;
pub(crate) type EnqueueReceiver =
    tokio::sync::mpsc::UnboundedReceiver<(Vec<NewInvocation>, oneshot::Sender<Result<(), String>>)>;

/// Most callers one enqueue transaction serves.
const ENQUEUE_BATCH: usize = 512;

/// Runs until the platform is dropped: commits accepted invocations in
/// batches (whatever arrived while the previous batch was committing,
/// one store call and one fsync for all), answers their callers, and
/// dispatches them. One hop to a blocking thread per batch instead of per
/// invocation is what lets the gateway accept tens of thousands a second.
pub(crate) async fn run_enqueuer(platform: std::sync::Weak<Platform>, mut rx: EnqueueReceiver) {
    let mut batch = Vec::with_capacity(ENQUEUE_BATCH);
    while rx.recv_many(&mut batch, ENQUEUE_BATCH).await > 0 {
        let Some(platform) = platform.upgrade() else {
            return;
        };
        let now = now_ms();
        // A draining node stores what it accepts for the other nodes.
        let draining = platform.status.draining();
        let lease_ms = if draining { 0 } else { platform.lease_ms() };
        let mut tells = Vec::with_capacity(batch.len());
        let mut new = Vec::with_capacity(batch.len());
        for (invocations, tell) in batch.drain(..) {
            new.extend(invocations);
            tells.push(tell);
        }
        let result = platform
            .store
            .enqueue_invocations(&new, now, lease_ms, &platform.config.node_id)
            .await
            .map_err(|e| e.to_string());
        let ok = result.is_ok();
        for tell in tells {
            let _ = tell.send(result.clone());
        }
        if ok && !draining {
            for invocation in new {
                start(&platform, invocation.claimed_by_enqueuer(now));
            }
        }
    }
}

/// The request an invocation replays: method, path and headers (the body
/// is stored beside it as bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvocationHead {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The trigger its runs show (`async` unless a schedule queued it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// For a task target: the variable the body is passed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl InvocationHead {
    /// The span that queued the request, from its `traceparent`.
    pub fn traceparent(&self) -> Option<strato_core::TraceContext> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(crate::trace::TRACEPARENT))
            .and_then(|(_, v)| strato_core::TraceContext::parse_traceparent(v))
    }

    /// A POST to `path` with no headers.
    pub fn post(path: &str) -> InvocationHead {
        InvocationHead {
            method: "POST".into(),
            path: path.into(),
            headers: Vec::new(),
            trigger: None,
            env: None,
        }
    }

    /// A JSON POST to `path`.
    pub fn json_post(path: &str) -> InvocationHead {
        let mut head = InvocationHead::post(path);
        head.headers
            .push(("content-type".into(), "application/json".into()));
        head
    }

    fn trigger(&self) -> Trigger {
        self.trigger
            .as_deref()
            .and_then(Trigger::parse)
            .unwrap_or(Trigger::Async)
    }
}

impl Platform {
    /// Queues an invocation of `name` (`APP/FUNCTION` or `FUNCTION`)
    /// durably and starts it; returns the invocation id.
    pub async fn invoke_async(
        self: &Arc<Self>,
        name: &str,
        head: InvocationHead,
        body: Bytes,
        priority: Priority,
        only_app: Option<&str>,
    ) -> Result<String, InvokeError> {
        let mut ids = self
            .invoke_async_batch(name, vec![(head, body)], priority, only_app)
            .await?;
        Ok(ids.remove(0))
    }

    /// Queues many invocations of one function, durable together before
    /// it returns, and starts them; their ids, in order.
    pub async fn invoke_async_batch(
        self: &Arc<Self>,
        name: &str,
        requests: Vec<(InvocationHead, Bytes)>,
        priority: Priority,
        only_app: Option<&str>,
    ) -> Result<Vec<String>, InvokeError> {
        let function = self.find_function(name, only_app)?;
        self.queue_invocations(&function, requests, priority).await
    }

    /// Queues invocations of `function`, durable together before it
    /// returns, and starts them; their ids, in order.
    pub(crate) async fn queue_invocations(
        &self,
        function: &LiveFunction,
        requests: Vec<(InvocationHead, Bytes)>,
        priority: Priority,
    ) -> Result<Vec<String>, InvokeError> {
        let new: Vec<NewInvocation> = requests
            .into_iter()
            .map(|(head, body)| self.new_invocation(function, head, body, priority))
            .collect();
        let ids = new.iter().map(|n| n.id.clone()).collect();
        // The enqueuer commits them with others arriving meanwhile and
        // dispatches them; if the caller goes away mid-way (a client
        // disconnecting), committed invocations are still dispatched now.
        let (tell, committed) = oneshot::channel();
        self.invocations
            .enqueuer
            .send((new, tell))
            .map_err(|_| InvokeError::Storage("the server is stopping".into()))?;
        committed
            .await
            .map_err(|_| InvokeError::Storage("the server is stopping".into()))?
            .map_err(InvokeError::Storage)?;
        Ok(ids)
    }
}

impl Platform {
    /// An async invocation of `function`, due now, retried and aged as
    /// its spec says.
    pub(crate) fn new_invocation(
        &self,
        function: &LiveFunction,
        head: InvocationHead,
        body: Bytes,
        priority: Priority,
    ) -> NewInvocation {
        let now = now_ms();
        let mut head = head;
        // The invocation keeps its caller's span in its stored request.
        if let Some(cause) = crate::trace::current_cause()
            && !head
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(crate::trace::TRACEPARENT))
        {
            head.headers
                .push((crate::trace::TRACEPARENT.into(), cause.traceparent()));
        }
        NewInvocation {
            id: self.runs.next_id('i'),
            app: function.app.clone(),
            target: Target::function(&function.name),
            priority,
            head: serde_json::to_string(&head).expect("heads serialize"),
            body: body.to_vec(),
            due_ms: now,
            expires_ms: now + function.spec.max_age_ms as i64,
            max_attempts: function.spec.retries + 1,
        }
    }
}

/// Header asking for an asynchronous invocation (`Event`, as Lambda's
/// `X-Amz-Invocation-Type`).
pub const INVOCATION_TYPE_HEADER: &str = "x-strato-invocation-type";
/// Header giving an async invocation's priority (`high`, `normal`, `low`).
pub const PRIORITY_HEADER: &str = "x-strato-priority";
/// Largest request body an async invocation may carry.
pub const MAX_ASYNC_BODY: usize = 1 << 20;

/// Whether a request asks to be queued rather than answered.
pub fn wants_async(headers: &http::HeaderMap) -> bool {
    headers
        .get(INVOCATION_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("event"))
}

/// The priority a request asks for (the header, any case); an unknown
/// value is refused.
pub fn requested_priority(headers: &http::HeaderMap) -> Result<Priority, String> {
    match headers.get(PRIORITY_HEADER) {
        None => Ok(Priority::Normal),
        Some(v) => {
            parse_priority(v.to_str().unwrap_or("")).map_err(|e| format!("{PRIORITY_HEADER}: {e}"))
        }
    }
}

/// `high`, `normal` or `low`, in any case.
pub fn parse_priority(text: &str) -> Result<Priority, String> {
    Priority::parse(&text.to_ascii_lowercase())
        .ok_or_else(|| format!("priority must be high, normal or low, not {text:?}"))
}

/// Whether a header of a request to the invoke API reaches the function:
/// not the caller's credentials, the host, the length (the body is
/// re-framed), or Strato's own invoke controls.
pub fn is_forwarded(name: &http::HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "authorization" | "host" | "content-length" | "x-strato-path"
    ) && name != INVOCATION_TYPE_HEADER
        && name != PRIORITY_HEADER
}

/// The head to replay: method, path, and the headers worth keeping.
pub fn head_of(parts: &http::request::Parts, path: &str) -> InvocationHead {
    InvocationHead {
        method: parts.method.to_string(),
        path: path.to_string(),
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| is_forwarded(k))
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        trigger: None,
        env: None,
    }
}

/// The 202 an accepted async invocation gets.
pub fn accepted_response(id: &str) -> http::Response<strato_executor::Body> {
    http::Response::builder()
        .status(202)
        .header("content-type", "application/json")
        .header(crate::invoke::RUN_ID_HEADER, id)
        // Ids are `i` and hex digits: nothing to escape.
        .body(strato_executor::full_body(format!(
            r#"{{"invocation_id":"{id}"}}"#
        )))
        .expect("static response parts are valid")
}

/// One sweep (see `crate::sweep`): claims due invocations in rounds
/// while there is more and room in hand (see [`MAX_IN_HAND`]), so a
/// backlog (after a restart, or retries coming due together) drains as
/// fast as it runs rather than [`CLAIM_BATCH`] per sweep.
pub(crate) async fn sweep(platform: &Arc<Platform>) {
    let mut first = true;
    loop {
        let limit = if first {
            CLAIM_BATCH
        } else {
            MAX_IN_HAND
                .saturating_sub(platform.in_hand.len())
                .min(CLAIM_BATCH)
        };
        first = false;
        if limit == 0 {
            break;
        }
        let claimed = platform
            .store
            .claim_invocations(
                &platform.config.node_id,
                now_ms(),
                platform.lease_ms(),
                limit,
            )
            .await;
        let work = match claimed {
            Ok(work) => work,
            Err(e) => {
                tracing::error!(error = %e, "claiming async invocations");
                break;
            }
        };
        let full = work.len() == limit;
        for invocation in work {
            start(platform, invocation);
        }
        if !full {
            break;
        }
    }
}

/// Holds `invocation` in hand (before its task first runs, so the
/// sweeper's count is current) and dispatches it.
fn start(platform: &Arc<Platform>, invocation: Invocation) {
    let held = platform
        .in_hand
        .hold(WorkRef::Invocation(invocation.id.clone()));
    tokio::spawn(dispatch(platform.clone(), invocation, held));
}

/// Hands work to a task (a queued run with the body in an environment
/// variable), a queue (a message) or a webhook (an HTTP POST); retried
/// with backoff, given up after its attempts.
async fn hand_over(platform: Arc<Platform>, invocation: Invocation) {
    // What it starts joins the trace of whoever queued the invocation.
    let parent = serde_json::from_str::<InvocationHead>(&invocation.head)
        .ok()
        .and_then(|head| head.traceparent());
    let delivered = crate::trace::caused_by(parent, hand_over_once(&platform, &invocation)).await;
    settle_hand_over(platform, invocation, delivered).await;
}

/// One attempt at handing an invocation over.
async fn hand_over_once(platform: &Arc<Platform>, invocation: &Invocation) -> Result<(), String> {
    match &invocation.target {
        Target::Webhook { url } => post_webhook(url, invocation).await,
        Target::Queue { name } => {
            let entry = crate::queues::SendEntry {
                body: invocation.body.clone(),
                delay: None,
            };
            platform
                .send_messages(&invocation.app, name, vec![entry])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Target::Task { name } => start_task(platform, invocation, name).await,
        // Named after the invocation: a repeated delivery starts none.
        Target::Workflow { name } => platform
            .start_execution_once(
                &invocation.app,
                name,
                &invocation.id,
                crate::workflows::input_of(&invocation.body),
            )
            .await
            .map_err(|e| e.to_string()),
        Target::Function { .. } => unreachable!("functions are run by dispatch"),
    }
}

/// Settles an invocation after an attempt at handing it over: done, or
/// retried, or given up.
async fn settle_hand_over(
    platform: Arc<Platform>,
    invocation: Invocation,
    delivered: Result<(), String>,
) {
    let id = &invocation.id;
    let fence = fence_of(&platform, &invocation);
    let next = attempt_of(&invocation).next_due(platform.config.event_retry_base, now_ms());
    let result = match (delivered, next) {
        (Ok(()), _) => platform.store.finish_invocation(&fence).await,
        (Err(e), None) => {
            tracing::warn!(invocation = %id, error = %e, "delivery given up");
            platform.store.finish_invocation(&fence).await
        }
        (Err(e), Some(due)) => {
            tracing::warn!(invocation = %id, error = %e, "delivery failed; will retry");
            platform.store.retry_invocation(&fence, due).await
        }
    };
    match result {
        Ok(true) => {}
        Ok(false) => superseded(id),
        Err(e) => tracing::error!(error = %e, "settling a delivery"),
    }
}

/// Queues a run of task `name` with the invocation's body in the variable
/// its head names.
async fn start_task(
    platform: &Arc<Platform>,
    invocation: &Invocation,
    name: &str,
) -> Result<(), String> {
    {
        let head: InvocationHead = serde_json::from_str(&invocation.head)
            .unwrap_or_else(|_| InvocationHead::json_post("/"));
        match platform.live_task(&invocation.app, name) {
            None => Err(format!("task `{name}` is no longer deployed")),
            Some(task) => {
                let mut overrides = crate::tasks::TaskOverrides::default();
                overrides.env.insert(
                    head.env
                        .clone()
                        .unwrap_or_else(|| "STRATO_DESTINATION_RECORD".into()),
                    String::from_utf8_lossy(&invocation.body).into_owned(),
                );
                platform
                    .queue_task(&task, overrides, head.trigger(), None, None)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

async fn post_webhook(url: &str, invocation: &Invocation) -> Result<(), String> {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-strato-invocation-id", &invocation.id)
        .timeout(Duration::from_secs(10))
        .body(invocation.body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

/// One attempt of an invocation; schedules the next one if it failed.
async fn dispatch(platform: Arc<Platform>, invocation: Invocation, _held: HandGuard) {
    let Target::Function { name } = &invocation.target else {
        hand_over(platform, invocation).await;
        return;
    };
    let now = now_ms();
    let function = platform.live().function(&invocation.app, name).cloned();
    let Some(function) = function else {
        settle_without_running(&platform, &invocation, "the function is no longer deployed");
        return;
    };
    // Wait for a slot in priority order (a busy function's async backlog
    // runs best rank first).
    let rank = now + invocation.priority.offset_ms();
    let Some(permit) = function.async_slots.acquire(&function.permits, rank).await else {
        return;
    };
    // Checked once a slot is free: work that waited in a busy function's
    // backlog past its max_age is dropped, as Lambda does.
    if now_ms() > invocation.expires_ms {
        drop(permit);
        settle_without_running(&platform, &invocation, "max_age passed before this attempt");
        return;
    }
    // Rebuilt only now: a backlog waiting for slots holds just its rows.
    let (request, trigger) = match rebuild_request(&invocation) {
        Ok(r) => r,
        Err(e) => {
            drop(permit);
            settle_without_running(&platform, &invocation, &e);
            return;
        }
    };
    // Whether this is the last attempt is decided before it runs (its
    // record settles the invocation).
    let next_due = attempt_of(&invocation).next_due(platform.config.event_retry_base, now_ms());
    let last = next_due.is_none();
    let (tell, status) = oneshot::channel();
    // The queued request's `traceparent` names who queued it.
    let parent = crate::trace::parent_of(request.headers());
    let mut cx = RunContext::new(trigger).caused_by(parent);
    cx.event_id = Some(invocation.id.clone());
    cx.accepted_ms = Some(invocation.created_ms);
    cx.keep_payload(&invocation.body);
    cx.attempt = invocation.attempts;
    cx.wait_for_slot = true;
    cx.on_status = Some(tell);
    cx.delivers_invocation = Some((invocation.id.clone(), last));
    cx.invocation_payload = invocation.body.clone();
    cx.permit = Some(permit);
    cx.fence = Some(fence_of(&platform, &invocation));
    // Boxed: the run's future is large, and a backlog waiting for slots
    // should not hold one per waiting invocation.
    let response = Box::pin(platform.run_function(function, request, cx)).await;
    let _ = response.into_body().collect().await;
    let succeeded = matches!(status.await, Ok(RunStatus::Succeeded));
    let Some(next_due) = next_due.filter(|_| !succeeded) else {
        return;
    };
    let result = platform
        .store
        .retry_invocation(&fence_of(&platform, &invocation), next_due)
        .await;
    match result {
        Ok(true) => {}
        Ok(false) => superseded(&invocation.id),
        Err(e) => tracing::error!(error = %e, "scheduling an async invocation retry"),
    }
}

/// This node's lease on an invocation it claimed (or enqueued leased).
fn fence_of(platform: &Platform, invocation: &Invocation) -> strato_store::Fence {
    strato_store::Fence {
        work: strato_store::WorkRef::Invocation(invocation.id.clone()),
        owner: platform.config.node_id.clone(),
        attempt: invocation.attempts,
    }
}

fn superseded(id: &str) {
    tracing::warn!(invocation = %id, "another node took this invocation over after this node's lease ran out; leaving it to that node");
}

/// Where an invocation is in its lifecycle.
fn attempt_of(invocation: &Invocation) -> Attempt {
    Attempt {
        number: invocation.attempts,
        max: invocation.max_attempts,
        expires_ms: Some(invocation.expires_ms),
    }
}

/// The stored request, and the trigger its run shows.
fn rebuild_request(
    invocation: &Invocation,
) -> Result<(http::Request<Full<Bytes>>, Trigger), String> {
    let head: InvocationHead = serde_json::from_str(&invocation.head)
        .map_err(|e| format!("stored request is unreadable: {e}"))?;
    let mut builder = http::Request::builder()
        .method(head.method.as_str())
        .uri(head.path.as_str());
    for (k, v) in &head.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .header("host", "localhost")
        .body(Full::new(Bytes::from(invocation.body.clone())))
        .map(|request| (request, head.trigger()))
        .map_err(|e| format!("stored request is invalid: {e}"))
}

/// Ends an invocation that cannot run, with a failed run saying why.
fn settle_without_running(platform: &Platform, invocation: &Invocation, why: &str) {
    tracing::warn!(invocation = %invocation.id, why, "async invocation given up");
    platform.runs.record(FinishedRun {
        fence: Some(fence_of(platform, invocation)),
        effects: vec![Effect::SettleInvocation(invocation.id.clone())],
        record: RunRecord {
            id: platform.runs.next_id('r'),
            app: invocation.app.clone(),
            function: match &invocation.target {
                Target::Function { name }
                | Target::Task { name }
                | Target::Queue { name }
                | Target::Workflow { name } => name.clone(),
                Target::Webhook { url } => url.clone(),
            },
            revision: 0,
            trigger: Trigger::Async,
            status: RunStatus::Failed,
            started_at_ms: now_ms(),
            duration_us: 0,
            cold_start: false,
            memory_limit_bytes: 0,
            billed_ms: 0,
            http_status: None,
            error: Some(why.to_string()),
            event_id: Some(invocation.id.clone()),
            attempt: invocation.attempts,
            exit_code: None,
            init_us: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            cpu_us: None,
            queued_us: None,
        },
        logs: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_heads_keep_the_functions_headers_only() {
        let request = http::Request::post("/x?y=1")
            .header("authorization", "Bearer secret")
            .header("host", "example")
            .header("content-length", "3")
            .header("x-strato-path", "/x")
            .header(INVOCATION_TYPE_HEADER, "Event")
            .header(PRIORITY_HEADER, "high")
            .header("content-type", "application/json")
            .header("x-custom", "kept")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let head = head_of(&parts, "/x?y=1");
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/x?y=1");
        assert_eq!(
            head.headers,
            [
                ("content-type".to_string(), "application/json".to_string()),
                ("x-custom".to_string(), "kept".to_string()),
            ]
        );
    }

    #[test]
    fn priorities_parse_in_any_case() {
        assert_eq!(parse_priority("HIGH"), Ok(Priority::High));
        assert_eq!(parse_priority("low"), Ok(Priority::Low));
        assert!(
            parse_priority("urgent")
                .unwrap_err()
                .contains("high, normal or low")
        );
    }
}
