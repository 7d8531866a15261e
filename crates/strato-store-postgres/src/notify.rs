//! Wakeups between nodes through PostgreSQL's `LISTEN`/`NOTIFY`.
//!
//! Sending is coalesced in the application, not a trigger per row: a
//! write that makes work claimable (or changes state other nodes cache)
//! only raises a flag; one task sends at most one `NOTIFY` per channel
//! every [`COALESCE`], outside the writers' transactions (a `NOTIFY`
//! inside them would serialize their commits on PostgreSQL's notification
//! queue lock). Listening is one connection of its own per node, which
//! turns notifications into [`Wakeups`] and reconnects if it drops.
//! Everything here only shortens waits: nodes still poll.

use deadpool_postgres::Pool;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use strato_store::Wakeups;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

/// How long changes are gathered into one notification.
const COALESCE: Duration = Duration::from_millis(5);
const WORK: &str = "strato_work";
const STATE: &str = "strato_state";

/// Flags raised by writes, sent as notifications by [`run_sender`].
#[derive(Default)]
pub(crate) struct Outbox {
    work: AtomicBool,
    state: AtomicBool,
    kick: Notify,
}

impl Outbox {
    /// Work became claimable: tell the other nodes.
    pub(crate) fn work(&self) {
        if !self.work.swap(true, Ordering::AcqRel) {
            self.kick.notify_one();
        }
    }

    /// State other nodes cache changed: tell them.
    pub(crate) fn state(&self) {
        if !self.state.swap(true, Ordering::AcqRel) {
            self.kick.notify_one();
        }
    }
}

/// Sends the raised flags as notifications, coalesced.
pub(crate) async fn run_sender(pool: Pool, outbox: Arc<Outbox>) {
    loop {
        outbox.kick.notified().await;
        tokio::time::sleep(COALESCE).await;
        let mut channels = Vec::new();
        if outbox.work.swap(false, Ordering::AcqRel) {
            channels.push(WORK);
        }
        if outbox.state.swap(false, Ordering::AcqRel) {
            channels.push(STATE);
        }
        if channels.is_empty() {
            continue;
        }
        let sql: Vec<String> = channels.iter().map(|c| format!("NOTIFY {c}")).collect();
        let sent = match pool.get().await {
            Ok(client) => client
                .batch_execute(&sql.join("; "))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            // Polling covers it; say so once per failure.
            tracing::debug!(error = %e, "sending a wakeup to other nodes");
        }
    }
}

/// Listens for other nodes' notifications on a connection of its own,
/// reconnecting after a drop, until `wakeups` is the last reference.
pub(crate) async fn run_listener(config: tokio_postgres::Config, wakeups: Arc<Wakeups>) {
    loop {
        if Arc::strong_count(&wakeups) == 1 {
            return;
        }
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                let sql = format!("LISTEN {WORK}; LISTEN {STATE}");
                let listening = {
                    // The connection must be polled for LISTEN to complete.
                    let mut listen = std::pin::pin!(client.batch_execute(&sql));
                    loop {
                        tokio::select! {
                            done = &mut listen => break done.is_ok(),
                            message = messages.next() => if message.is_none() { break false },
                        }
                    }
                };
                if listening {
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(n) = message {
                            match n.channel() {
                                WORK => Wakeups::bump(&wakeups.work),
                                STATE => Wakeups::bump(&wakeups.state),
                                _ => {}
                            }
                        }
                    }
                }
                drop(client);
            }
            Err(e) => tracing::debug!(error = %e, "listening for other nodes' wakeups"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
