//! Group commit for durable object writes.
//!
//! An S3 PUT is acknowledged only once its metadata is on disk, and an
//! fsync costs ~0.3 ms here. Taken one at a time behind the writer lock,
//! sixteen concurrent PUTs would queue for their fsyncs; instead one thread
//! runs every write waiting at that moment in one transaction, each in its
//! own savepoint (one failing write does not undo the others), and pays one
//! fsync for all of them.

use crate::db;
use rusqlite::{Connection, Transaction};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use strato_store::StoreError;

/// Runs a write inside the shared transaction; returns what to do once the
/// transaction's fate is known.
type Job = Box<dyn FnOnce(&mut Transaction<'_>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// The most writes one transaction takes.
const MAX_BATCH: usize = 256;

pub(super) struct GroupCommit {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl GroupCommit {
    pub(super) fn spawn(conn: Arc<Mutex<Connection>>) -> GroupCommit {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("strato-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                    run_batch(&mut conn, jobs);
                }
            })
            .expect("spawning the commit thread");
        GroupCommit {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Runs `write` in the next group transaction and waits until that
    /// transaction has committed (or failed), blocking the calling thread.
    pub(super) fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done_tx, done_rx) = mpsc::sync_channel::<Result<T, StoreError>>(1);
        self.submit(write, move |result| {
            let _ = done_tx.send(result);
        })?;
        done_rx.recv().map_err(|_| StoreError::closed())?
    }

    /// Like [`GroupCommit::write`], awaited: the caller's task is told when
    /// the transaction has committed, with no thread of its own waiting.
    pub(super) async fn write_async<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.submit(write, move |result| {
            let _ = done_tx.send(result);
        })?;
        done_rx.await.map_err(|_| StoreError::closed())?
    }

    /// Queues `write` for the next group transaction; `reply` gets its
    /// result once that transaction's fate is known.
    fn submit<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        reply: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let job: Job = Box::new(move |tx: &mut Transaction<'_>| {
            let outcome = match tx.savepoint() {
                Ok(mut sp) => match write(&sp) {
                    Ok(value) => sp
                        .commit()
                        .map(|_| value)
                        .map_err(db("releasing a savepoint")),
                    Err(e) => {
                        let _ = sp.rollback();
                        Err(e)
                    }
                },
                Err(e) => Err(db("opening a savepoint")(e)),
            };
            Box::new(move |committed: Result<(), &StoreError>| {
                reply(match (outcome, committed) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(StoreError::corrupt("group commit", e.to_string())),
                });
            })
        });
        let sender = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(StoreError::closed())?;
        sender.send(job).map_err(|_| StoreError::closed())
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn run_batch(conn: &mut Connection, jobs: Vec<Job>) {
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            // Dropping the jobs unblocks their callers with `Closed`.
            tracing::error!("{}", db("starting a group commit")(e));
            drop(jobs);
            return;
        }
    };
    let replies: Vec<Reply> = jobs.into_iter().map(|job| job(&mut tx)).collect();
    let committed = tx.commit().map_err(db("committing object writes"));
    for reply in replies {
        reply(committed.as_ref().map(|_| ()));
    }
}
