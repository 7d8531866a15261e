//! A low-priority thread for background writes (run records and task
//! output): recording is not on any request's path, so when a request and
//! the writer both want a core on a small machine, the request wins.

use crate::db::Db;
use std::sync::{Arc, Mutex, mpsc};
use strato_store::StoreError;

type Job = Box<dyn FnOnce(&Db) + Send>;

pub(crate) struct Background {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Background {
    pub(crate) fn spawn(db: Arc<Db>) -> Background {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("strato-sqlite-bg".into())
            .spawn(move || {
                lower_priority();
                while let Ok(job) = rx.recv() {
                    job(&db);
                }
            })
            .expect("spawning the background writer thread");
        Background {
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `call` on the background thread and waits for its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tell, told) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |db| {
            let _ = tell.send(call(db));
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| StoreError::closed())?;
        told.await.map_err(|_| StoreError::closed())?
    }
}

fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread's own id.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
    if result != 0 {
        tracing::debug!("could not lower the background writer's priority");
    }
}
