//! Threads of the store's own that run calls sent to them: a low-priority
//! one for background writes (run records and task output: recording is not
//! on any request's path, so when a request and the writer both want a core
//! on a small machine, the request wins), and a few for the hot reads
//! (object lookups), which a channel hands over more cheaply than tokio's
//! blocking pool.

use crate::db::Db;
use std::sync::{Arc, Mutex, mpsc};
use strato_store::StoreError;

type Job = Box<dyn FnOnce(&Db) + Send>;

pub(crate) struct Background {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Background {
    /// `threads` threads named `name`, at a lower priority if `low`.
    pub(crate) fn spawn(db: Arc<Db>, name: &str, threads: usize, low: bool) -> Background {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let (db, rx) = (db.clone(), rx.clone());
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    if low {
                        lower_priority();
                    }
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(&db),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawning a store thread");
        }
        Background {
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `call` on one of the threads and waits for its result.
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
