//! Batched, off-request-path recording of finished runs.
//!
//! Request handlers hand a [`FinishedRun`] to [`RunRecorder::record`], which
//! only pushes onto a channel. One writer thread drains whatever has queued
//! up within a 10 ms window and writes it in a single transaction, so under
//! load thousands of runs share one commit, and an idle server commits a run
//! within 10 ms of its end.

use crate::{FinishedRun, Store};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most runs written per transaction.
const MAX_BATCH: usize = 4096;
/// How long the writer gathers runs before committing them together.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// What the writer thread receives.
// Runs are the hot path and `Stop` is sent once: boxing the run to shrink
// the enum would cost an allocation per run for nothing.
#[allow(clippy::large_enum_variant)]
enum Message {
    Run(FinishedRun),
    /// Write what came before, then exit.
    Stop,
}

pub struct RunRecorder {
    // A plain `Sender` (it is `Sync`): recording a run takes no lock.
    sender: Sender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RunRecorder {
    pub fn spawn(store: Arc<dyn Store>) -> Arc<RunRecorder> {
        let (tx, rx) = channel();
        let writer = std::thread::Builder::new()
            .name("strato-run-recorder".into())
            .spawn(move || write_batches(store, rx))
            .expect("spawning the run recorder thread");
        Arc::new(RunRecorder {
            sender: tx,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues a finished run for writing. Never blocks on the database.
    pub fn record(&self, run: FinishedRun) {
        if let Err(std::sync::mpsc::SendError(Message::Run(run))) =
            self.sender.send(Message::Run(run))
        {
            tracing::warn!(run = %run.record.id, "run finished after shutdown; not recorded");
        }
    }

    /// Writes everything queued so far and stops the writer.
    pub fn flush_and_stop(&self) {
        let _ = self.sender.send(Message::Stop);
        if let Some(handle) = self.writer.lock().expect("recorder lock").take() {
            let _ = handle.join();
        }
    }
}

fn write_batches(store: Arc<dyn Store>, rx: Receiver<Message>) {
    lower_priority();
    let mut stopping = false;
    while !stopping {
        let Ok(Message::Run(first)) = rx.recv() else {
            break;
        };
        // Group commit: gather what arrives within a short window so one
        // transaction (and one set of WAL page writes) covers many runs.
        let deadline = Instant::now() + BATCH_WINDOW;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Message::Run(run)) => batch.push(run),
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if let Err(e) = store.record_runs(&batch) {
            tracing::error!(error = %e, runs = batch.len(), "recording runs failed");
        }
    }
}

/// Recording is background work: let request threads win the CPU when
/// both want it (on small machines the writer otherwise adds latency tails).
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread's own id.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
    if result != 0 {
        tracing::debug!("could not lower the run recorder's priority");
    }
}
