//! Batched, off-request-path recording of finished runs.
//!
//! Request handlers hand a [`FinishedRun`] to [`RunRecorder::record`], which
//! only pushes onto a channel. One writer task drains whatever has queued
//! up within a 10 ms window and writes it in a single store call, so under
//! load thousands of runs share one commit, and an idle server commits a run
//! within 10 ms of its end.

use crate::{FinishedRun, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// Most runs written per transaction.
const MAX_BATCH: usize = 4096;
/// How long the writer gathers runs before committing them together.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// What the writer task receives.
// Runs are the hot path and `Stop` is sent once: boxing the run to shrink
// the enum would cost an allocation per run for nothing.
#[allow(clippy::large_enum_variant)]
enum Message {
    /// A run, and who to tell once it is written.
    Run(FinishedRun, Option<tokio::sync::oneshot::Sender<()>>),
    /// Write what came before, then exit.
    Stop,
}

pub struct RunRecorder {
    // An unbounded sender takes `&self`: recording a run takes no lock.
    sender: UnboundedSender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RunRecorder {
    /// Starts the writer task (on the current tokio runtime).
    pub fn spawn(store: Arc<dyn Store>) -> Arc<RunRecorder> {
        let (tx, rx) = unbounded_channel();
        let writer = tokio::spawn(write_batches(store, rx));
        Arc::new(RunRecorder {
            sender: tx,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues a finished run for writing. Never waits on the database.
    pub fn record(&self, run: FinishedRun) {
        if let Err(tokio::sync::mpsc::error::SendError(Message::Run(run, _))) =
            self.sender.send(Message::Run(run, None))
        {
            tracing::warn!(run = %run.record.id, "run finished after shutdown; not recorded");
        }
    }

    /// Queues a finished run; the answer comes once its batch is written
    /// (or given up on), for work that must follow the record, never
    /// precede it (deleting the queue messages a run handled).
    pub fn record_acked(&self, run: FinishedRun) -> tokio::sync::oneshot::Receiver<()> {
        let (tell, written) = tokio::sync::oneshot::channel();
        if let Err(tokio::sync::mpsc::error::SendError(Message::Run(run, _))) =
            self.sender.send(Message::Run(run, Some(tell)))
        {
            tracing::warn!(run = %run.record.id, "run finished after shutdown; not recorded");
        }
        written
    }

    /// Writes everything queued so far and stops the writer.
    pub async fn flush_and_stop(&self) {
        let _ = self.sender.send(Message::Stop);
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = writer {
            let _ = handle.await;
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: UnboundedReceiver<Message>) {
    let mut batch = Vec::new();
    let mut acks = Vec::new();
    loop {
        let Some(Message::Run(first, ack)) = rx.recv().await else {
            break;
        };
        acks.extend(ack);
        // Group commit: let the window pass, then take everything that
        // arrived in it, so one transaction (and one set of WAL page
        // writes) covers many runs and the task wakes once per window, not
        // once per run.
        tokio::time::sleep(BATCH_WINDOW).await;
        batch.push(first);
        let mut stopping = false;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Message::Run(run, ack)) => {
                    batch.push(run);
                    acks.extend(ack);
                }
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        write_with_retries(&*store, std::mem::take(&mut batch).into()).await;
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if stopping {
            break;
        }
    }
}

/// How long a batch is retried while the database is unreachable (a
/// cluster's PostgreSQL restarting, a network cut) before it is dropped.
const RETRY_FOR: Duration = Duration::from_secs(120);

/// Writes a batch, retrying with backoff while the database fails: the
/// runs' work is fenced by its lease, so a record written late can never
/// complete work another node took over meanwhile.
async fn write_with_retries(store: &dyn Store, batch: Arc<[FinishedRun]>) {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        let error = match store.record_runs(Arc::clone(&batch)).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let retryable = error.kind() == crate::StoreErrorKind::Backend;
        if !retryable || started.elapsed() > RETRY_FOR {
            tracing::error!(error = %error, runs = batch.len(), "recording runs failed; dropped");
            return;
        }
        tracing::warn!(error = %error, runs = batch.len(), retry_in = ?wait, "recording runs failed; retrying");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
