//! Batched, off-request-path recording of finished runs.
//!
//! Request handlers hand a [`FinishedRun`] to [`RunRecorder::record`], which
//! only pushes onto a channel. One writer thread drains whatever has queued
//! up and writes it in a single transaction, so under load thousands of runs
//! share one commit, and an idle server commits each run at once.

use crate::{FinishedRun, Store};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Most runs written per transaction.
const MAX_BATCH: usize = 2048;

pub struct RunRecorder {
    sender: Mutex<Option<Sender<FinishedRun>>>,
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
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues a finished run for writing. Never blocks on the database.
    pub fn record(&self, run: FinishedRun) {
        let sender = self.sender.lock().expect("recorder lock");
        match sender.as_ref() {
            Some(tx) => {
                let _ = tx.send(run);
            }
            None => {
                tracing::warn!(run = %run.record.id, "run finished after shutdown; not recorded")
            }
        }
    }

    /// Writes everything queued so far and stops the writer.
    pub fn flush_and_stop(&self) {
        drop(self.sender.lock().expect("recorder lock").take());
        if let Some(handle) = self.writer.lock().expect("recorder lock").take() {
            let _ = handle.join();
        }
    }
}

fn write_batches(store: Arc<dyn Store>, rx: Receiver<FinishedRun>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(run) => batch.push(run),
                Err(_) => break,
            }
        }
        if let Err(e) = store.record_runs(&batch) {
            tracing::error!(error = %e, runs = batch.len(), "recording runs failed");
        }
    }
}
