//! Queues: send, receive (long poll), delete, change visibility, purge,
//! stats and redrive over the store's message table, and the consumers
//! that deliver a queue's messages to a function or a task.
//!
//! A consumer is Lambda's event source mapping: it receives up to
//! `batch_size` messages, hands them over as an SQS event and deletes
//! those that were handled: all of them when the run succeeded, all but
//! the `batchItemFailures` a function reported. Messages not deleted come
//! back after their visibility timeout, and after `max_receives` go to the
//! dead-letter queue. While a delivery runs, a heartbeat keeps its
//! messages hidden, so a long task does not see its batch delivered twice.

use crate::invoke::RunContext;
use crate::live::Key;
use crate::platform::Platform;
use crate::util::{CloudEvent, now_ms};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strato_core::queue::{ConsumerTarget, MAX_BATCH, QueueSpec};
use strato_core::{RunStatus, Trigger};
use strato_store::{Message, NewMessage, QueueStats, ReceivePolicy};
use tokio::sync::{Notify, Semaphore};

/// Longest a receive may wait for a message (SQS's 20 s).
pub const MAX_RECEIVE_WAIT: Duration = Duration::from_secs(20);
/// How often an idle consumer looks again without being woken (messages
/// whose delay or visibility timeout ran out wake nobody).
const IDLE_POLL: Duration = Duration::from_millis(200);

/// A queue operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queue `{queue}` in app `{app}`; declare it as [queues.{queue}] and deploy")]
    NoSuchQueue { app: String, queue: String },
    #[error(
        "message of {size} bytes is over the queue's limit of {max} bytes; send less (a reference to an object, say) or raise max_message_size in [queues.NAME] (at most 1MiB)"
    )]
    TooLarge { size: usize, max: u64 },
    #[error("{0}")]
    BadRequest(String),
    #[error("queue storage failed: {0}")]
    Storage(String),
}

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct SendEntry {
    pub body: Vec<u8>,
    /// Overrides the queue's `delay` (at most 15 min).
    pub delay: Option<Duration>,
}

/// A queue as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueInfo {
    pub app: String,
    pub name: String,
    pub stats: QueueStats,
    pub dead_letter: Option<String>,
    pub consumer: Option<String>,
}

/// The queues component's own state: what wakes receivers, and the
/// consumer loops running.
#[derive(Default)]
pub(crate) struct Queues {
    /// Wakes receivers and consumers of a queue when messages arrive.
    signals: Mutex<HashMap<Key, Arc<Notify>>>,
    /// Running consumer loops, by (app, queue).
    consumers: Mutex<HashMap<Key, tokio::task::JoinHandle<()>>>,
}

impl Queues {
    fn signal(&self, app: &str, queue: &str) -> Arc<Notify> {
        self.signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((app.to_string(), queue.to_string()))
            .or_default()
            .clone()
    }
}

fn storage(e: impl std::fmt::Display) -> QueueError {
    QueueError::Storage(e.to_string())
}

impl Platform {
    /// The live spec of a queue.
    pub fn live_queue(&self, app: &str, queue: &str) -> Result<QueueSpec, QueueError> {
        self.live()
            .queue(app, queue)
            .cloned()
            .ok_or_else(|| QueueError::NoSuchQueue {
                app: app.into(),
                queue: queue.into(),
            })
    }

    /// Sends messages (at most 10), durable when it returns; their ids.
    pub async fn send_messages(
        &self,
        app: &str,
        queue: &str,
        entries: Vec<SendEntry>,
    ) -> Result<Vec<String>, QueueError> {
        let spec = self.live_queue(app, queue)?;
        if entries.is_empty() || entries.len() > MAX_BATCH {
            return Err(QueueError::BadRequest(format!(
                "send 1 to {MAX_BATCH} messages at a time, not {}",
                entries.len()
            )));
        }
        let now = now_ms();
        let mut messages = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.body.len() as u64 > spec.max_message_bytes {
                return Err(QueueError::TooLarge {
                    size: entry.body.len(),
                    max: spec.max_message_bytes,
                });
            }
            let delay = match entry.delay {
                Some(d) if d.as_millis() as u64 > strato_core::queue::MAX_DELAY_MS => {
                    return Err(QueueError::BadRequest(
                        "a message's delay may be at most 15m".into(),
                    ));
                }
                Some(d) => d.as_millis() as i64,
                None => spec.delay_ms as i64,
            };
            messages.push(NewMessage {
                id: self.runs.next_id('m'),
                body: entry.body,
                visible_ms: now + delay,
                expires_ms: now + spec.retention_ms as i64,
                // The sender's span: consumers link to it.
                traceparent: crate::trace::current_cause().map(|c| c.traceparent()),
            });
        }
        let ids = messages.iter().map(|m| m.id.clone()).collect();
        self.store
            .send_messages(app, queue, &messages, now)
            .await
            .map_err(storage)?;
        self.queues.signal(app, queue).notify_waiters();
        Ok(ids)
    }

    /// Receives up to `max` messages, waiting up to `wait` for the first
    /// one (long poll). `visibility` overrides the queue's timeout.
    pub async fn receive_messages(
        &self,
        app: &str,
        queue: &str,
        max: usize,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Message>, QueueError> {
        let spec = self.live_queue(app, queue)?;
        if !(1..=MAX_BATCH).contains(&max) {
            return Err(QueueError::BadRequest(format!(
                "receive 1 to {MAX_BATCH} messages at a time, not {max}"
            )));
        }
        let mut policy = receive_policy(&spec);
        if let Some(v) = visibility {
            policy.visibility_ms = v.as_millis() as i64;
        }
        let deadline = tokio::time::Instant::now() + wait.min(MAX_RECEIVE_WAIT);
        let signal = self.queues.signal(app, queue);
        loop {
            // Register before looking, so a send in between still wakes us.
            let woken = signal.notified();
            let got = self.receive_once(app, queue, max, &policy).await?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + IDLE_POLL),
                woken,
            )
            .await;
        }
    }

    async fn receive_once(
        &self,
        app: &str,
        queue: &str,
        max: usize,
        policy: &ReceivePolicy,
    ) -> Result<Vec<Message>, QueueError> {
        self.store
            .receive_messages(app, queue, now_ms(), max, policy)
            .await
            .map_err(storage)
    }

    /// Deletes received messages by receipt; false for stale receipts.
    pub async fn delete_messages(
        &self,
        app: &str,
        queue: &str,
        receipts: Vec<String>,
    ) -> Result<Vec<bool>, QueueError> {
        self.live_queue(app, queue)?;
        if receipts.is_empty() || receipts.len() > MAX_BATCH {
            return Err(QueueError::BadRequest(format!(
                "delete 1 to {MAX_BATCH} messages at a time"
            )));
        }
        self.store
            .delete_messages(app, queue, &receipts)
            .await
            .map_err(storage)
    }

    /// Hides received messages for `timeout` from now (0 returns them).
    pub async fn change_message_visibility(
        &self,
        app: &str,
        queue: &str,
        receipts: Vec<String>,
        timeout: Duration,
    ) -> Result<Vec<bool>, QueueError> {
        self.live_queue(app, queue)?;
        if timeout.as_millis() as u64 > strato_core::queue::MAX_VISIBILITY_TIMEOUT_MS {
            return Err(QueueError::BadRequest(
                "a visibility timeout may be at most 12h".into(),
            ));
        }
        let until = now_ms() + timeout.as_millis() as i64;
        let changed = self
            .store
            .change_message_visibility(app, queue, &receipts, until)
            .await
            .map_err(storage)?;
        if timeout.is_zero() {
            self.queues.signal(app, queue).notify_waiters();
        }
        Ok(changed)
    }

    pub async fn purge_queue(&self, app: &str, queue: &str) -> Result<u64, QueueError> {
        self.live_queue(app, queue)?;
        self.store.purge_queue(app, queue).await.map_err(storage)
    }

    /// Moves a dead-letter queue's messages back where they came from.
    pub async fn redrive_queue(&self, app: &str, dead_letter: &str) -> Result<u64, QueueError> {
        self.live_queue(app, dead_letter)?;
        let moved = self
            .store
            .redrive_messages(app, dead_letter, now_ms())
            .await
            .map_err(storage)?;
        // Wake whoever consumes the queues they went back to.
        for (a, q) in self.live().queues.keys().filter(|(a, _)| a == app) {
            self.queues.signal(a, q).notify_waiters();
        }
        Ok(moved)
    }

    /// Every live queue (of `app`, if given) with its depth.
    pub async fn list_queues(&self, app: Option<&str>) -> Result<Vec<QueueInfo>, QueueError> {
        let mut keys: Vec<(String, String)> = self
            .live()
            .queues
            .keys()
            .filter(|(a, _)| app.is_none_or(|want| a == want))
            .cloned()
            .collect();
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for (a, q) in keys {
            out.push(self.queue_info(&a, &q).await?);
        }
        Ok(out)
    }

    /// One live queue with its depth.
    pub async fn queue_info(&self, app: &str, queue: &str) -> Result<QueueInfo, QueueError> {
        let spec = self.live_queue(app, queue)?;
        let stats = self
            .store
            .queue_stats(app, queue, now_ms())
            .await
            .map_err(storage)?;
        Ok(QueueInfo {
            app: app.to_string(),
            name: queue.to_string(),
            stats,
            dead_letter: spec.dead_letter.clone(),
            consumer: spec.consumer.as_ref().map(|c| match &c.target {
                ConsumerTarget::Function(n) => format!("function:{n}"),
                ConsumerTarget::Task(n) => format!("task:{n}"),
                ConsumerTarget::Workflow(n) => format!("workflow:{n}"),
            }),
        })
    }

    /// After a deploy or destroy of `app`: queues it no longer declares
    /// lose their messages, and its consumers restart to match.
    pub(crate) fn queues_changed(self: &Arc<Self>, app: &str, dropped: Vec<String>) {
        for queue in dropped {
            let store = self.store.clone();
            let app = app.to_string();
            tokio::spawn(async move {
                if let Err(e) = store.purge_queue(&app, &queue).await {
                    tracing::error!(app, queue, error = %e, "purging a removed queue");
                }
            });
        }
        self.restart_consumers(app);
    }

    /// Stops an app's consumers and starts those its live queues ask for.
    pub(crate) fn restart_consumers(self: &Arc<Self>, app: &str) {
        let mut consumers = self
            .queues
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        consumers.retain(|(a, _), handle| {
            if a == app {
                handle.abort();
            }
            a != app
        });
        for ((a, q), spec) in self.live().queues.iter() {
            if a != app {
                continue;
            }
            if let Some(consumer) = &spec.consumer {
                let handle = tokio::spawn(consume(
                    Arc::downgrade(self),
                    a.clone(),
                    q.clone(),
                    spec.clone(),
                    consumer.clone(),
                ));
                consumers.insert((a.clone(), q.clone()), handle);
            }
        }
    }
}

fn receive_policy(spec: &QueueSpec) -> ReceivePolicy {
    ReceivePolicy {
        visibility_ms: spec.visibility_timeout_ms as i64,
        max_receives: spec.max_receives,
        dead_letter: spec.dead_letter.clone(),
    }
}

/// The consumer loop of one queue: receive while a delivery slot is free,
/// deliver each batch on its own task.
async fn consume(
    platform: std::sync::Weak<Platform>,
    app: String,
    queue: String,
    spec: QueueSpec,
    consumer: strato_core::queue::QueueConsumer,
) {
    let slots = Arc::new(Semaphore::new(consumer.concurrency as usize));
    let policy = receive_policy(&spec);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(platform) = platform.upgrade() else {
            return;
        };
        let signal = platform.queues.signal(&app, &queue);
        let woken = signal.notified();
        // Subscribed before receiving, so a send meanwhile is not missed.
        let mut others = platform.store.wakeups().map(|w| w.work.subscribe());
        if platform.status.draining() {
            drop(platform);
            drop(slot);
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        match platform
            .receive_once(&app, &queue, consumer.batch_size as usize, &policy)
            .await
        {
            Ok(batch) if !batch.is_empty() => {
                let delivery = Delivery {
                    platform: platform.clone(),
                    app: app.clone(),
                    queue: queue.clone(),
                    visibility: Duration::from_millis(spec.visibility_timeout_ms),
                    batch,
                };
                let target = consumer.target.clone();
                tokio::spawn(async move {
                    delivery.run(target).await;
                    drop(slot);
                });
            }
            Ok(_) => {
                // Woken by a send on this node, or (on a cluster) any
                // node's new work; else polls.
                drop(platform);
                drop(slot);
                let other_nodes = async {
                    match others.as_mut() {
                        Some(rx) => {
                            let _ = rx.changed().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                let _ = tokio::time::timeout(IDLE_POLL, async {
                    tokio::select! {
                        _ = woken => {}
                        _ = other_nodes => {}
                    }
                })
                .await;
            }
            Err(e) => {
                tracing::error!(app, queue, error = %e, "receiving for a consumer");
                drop(platform);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One batch on its way to its consumer.
struct Delivery {
    platform: Arc<Platform>,
    app: String,
    queue: String,
    visibility: Duration,
    batch: Vec<Message>,
}

impl Delivery {
    async fn run(self, target: ConsumerTarget) {
        let event = self.sqs_event();
        // Heartbeat: keep the batch hidden while the delivery runs.
        let heartbeat = self.spawn_heartbeat();
        let handled: Vec<String> = match &target {
            ConsumerTarget::Function(name) => self.to_function(name, event).await,
            ConsumerTarget::Task(name) => self.to_task(name, event).await,
            ConsumerTarget::Workflow(name) => self.to_workflow(name, event).await,
        };
        heartbeat.abort();
        if handled.is_empty() {
            return;
        }
        if let Err(e) = self
            .platform
            .delete_messages(&self.app, &self.queue, handled)
            .await
        {
            tracing::error!(app = %self.app, queue = %self.queue, error = %e, "deleting delivered messages");
        }
    }

    fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let platform = self.platform.clone();
        let (app, queue) = (self.app.clone(), self.queue.clone());
        let receipts: Vec<String> = self.batch.iter().map(|m| m.receipt.clone()).collect();
        let every = (self.visibility / 2).max(Duration::from_millis(500));
        let visibility = self.visibility;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = platform
                    .change_message_visibility(&app, &queue, receipts.clone(), visibility)
                    .await
                {
                    tracing::warn!(app, queue, error = %e, "extending a delivery's visibility");
                }
            }
        })
    }

    /// The batch as Lambda's SQS event.
    fn sqs_event(&self) -> serde_json::Value {
        let arn = format!(
            // Strato has no AWS accounts: the account field is twelve
            // zeros (as LocalStack's default), the queue name app-queue.
            "arn:aws:sqs:{}:000000000000:{}-{}",
            self.platform.config.region, self.app, self.queue
        );
        let records: Vec<_> = self
            .batch
            .iter()
            .map(|m| {
                let body = String::from_utf8_lossy(&m.body);
                let mut attributes = serde_json::json!({
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_ms.to_string(),
                    "ApproximateFirstReceiveTimestamp": m.first_receive_ms.to_string(),
                });
                // SQS's system attribute for the sender's X-Ray context.
                if let Some(sender) = sender_span(m) {
                    attributes["AWSTraceHeader"] = sender.xray().into();
                }
                serde_json::json!({
                    "messageId": m.id,
                    "receiptHandle": m.receipt,
                    "body": body,
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": hex::encode(md5_of(body.as_bytes())),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": self.platform.config.region,
                })
            })
            .collect();
        serde_json::json!({ "Records": records })
    }

    /// Starts an execution with the batch as its input, named after its
    /// messages (the same batch seen again after a crash starts none);
    /// the receipts it handled: all, once started.
    async fn to_workflow(&self, name: &str, event: serde_json::Value) -> Vec<String> {
        let mut ids: Vec<&str> = self.batch.iter().map(|m| m.id.as_str()).collect();
        ids.sort_unstable();
        let digest = <sha2::Sha256 as sha2::Digest>::digest(ids.join(",").as_bytes());
        let execution = format!("sqs-{}", hex::encode(&digest[..16]));
        match self
            .platform
            .start_execution_once(&self.app, name, &execution, event)
            .await
        {
            Ok(()) => self.batch.iter().map(|m| m.receipt.clone()).collect(),
            Err(e) => {
                tracing::warn!(app = %self.app, queue = %self.queue, workflow = name, error = %e, "starting a workflow for a batch");
                Vec::new()
            }
        }
    }

    /// The span that sent the batch's first message: the run's parent (the
    /// run links to every message's sender).
    fn first_sender(&self) -> Option<strato_core::TraceContext> {
        self.batch.iter().find_map(sender_span)
    }

    /// Runs the function with the batch; the receipts it handled.
    async fn to_function(&self, name: &str, event: serde_json::Value) -> Vec<String> {
        let function = self.platform.live().function(&self.app, name).cloned();
        let Some(function) = function else {
            tracing::warn!(app = %self.app, queue = %self.queue, function = name, "consumer function is not deployed");
            return Vec::new();
        };
        let first = &self.batch[0];
        let event = bytes::Bytes::from(event.to_string());
        let request = CloudEvent {
            id: first.id.clone(),
            kind: "com.amazonaws.sqs.message".into(),
            source: format!("strato:queue:{}", self.queue),
            time_ms: now_ms(),
            subject: None,
        }
        .request(event.clone());
        let (tell, status) = tokio::sync::oneshot::channel();
        let mut cx = RunContext::new(Trigger::Queue).caused_by(self.first_sender());
        cx.links = self.batch.iter().filter_map(sender_span).collect();
        cx.event_id = Some(first.id.clone());
        cx.accepted_ms = self.batch.iter().map(|m| m.sent_ms).min();
        cx.keep_payload(&event);
        cx.attempt = first.receive_count;
        cx.wait_for_slot = true;
        cx.on_status = Some(tell);
        let response = self.platform.run_function(function, request, cx).await;
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if !matches!(status.await, Ok(RunStatus::Succeeded)) {
            return Vec::new();
        }
        let failed = batch_item_failures(&body);
        self.batch
            .iter()
            .filter(|m| !failed.contains(&m.id))
            .map(|m| m.receipt.clone())
            .collect()
    }

    /// Starts the task with the batch in `SQS_EVENT` and waits for it;
    /// the whole batch is handled when it exits 0.
    async fn to_task(&self, name: &str, event: serde_json::Value) -> Vec<String> {
        let Some(task) = self.platform.live_task(&self.app, name) else {
            tracing::warn!(app = %self.app, queue = %self.queue, task = name, "consumer task is not deployed");
            return Vec::new();
        };
        let mut overrides = crate::tasks::TaskOverrides::default();
        overrides.env.insert("SQS_EVENT".into(), event.to_string());
        let queued = self
            .platform
            .queue_task(&task, overrides, Trigger::Queue, None, None);
        let run = match crate::trace::caused_by(self.first_sender(), queued).await {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(app = %self.app, queue = %self.queue, error = %e, "starting a consumer task");
                return Vec::new();
            }
        };
        // Retries of the task are its own; the batch is handled when the
        // run (or a retry of it) succeeds, judged by this first run.
        loop {
            match self
                .platform
                .wait_for_run(&run.id, Duration::from_secs(30))
                .await
            {
                Ok(Some(r)) if r.status == RunStatus::Succeeded => {
                    return self.batch.iter().map(|m| m.receipt.clone()).collect();
                }
                Ok(Some(r)) if matches!(r.status, RunStatus::Queued | RunStatus::Running) => {
                    continue;
                }
                Ok(Some(_)) => return Vec::new(),
                Ok(None) | Err(_) => return Vec::new(),
            }
        }
    }
}

/// The message ids a function reported as failed (Lambda's
/// `{"batchItemFailures":[{"itemIdentifier":"..."}]}`).
fn batch_item_failures(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("batchItemFailures").cloned())
        .and_then(|v| v.as_array().cloned())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("itemIdentifier")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(bytes).into()
}

/// The span that sent a message, if it was sent in a trace.
fn sender_span(message: &Message) -> Option<strato_core::TraceContext> {
    message
        .traceparent
        .as_deref()
        .and_then(strato_core::TraceContext::parse_traceparent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_item_failures_are_read_from_lambdas_shape() {
        let body = br#"{"batchItemFailures":[{"itemIdentifier":"m2"},{"itemIdentifier":"m5"}]}"#;
        assert_eq!(batch_item_failures(body), ["m2", "m5"]);
        assert!(batch_item_failures(b"ok").is_empty());
        assert!(batch_item_failures(br#"{"batchItemFailures":[]}"#).is_empty());
    }
}
