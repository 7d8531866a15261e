//! Concurrency slots for async work, handed out by priority.
//!
//! Requests wait for a function's permits first come, first served (the
//! semaphore is fair). Async attempts that find the function busy wait
//! here instead, ordered by rank (due time + the priority's head start,
//! see `strato_core::invocation::Priority`): one pump per function takes
//! each permit as it frees up and gives it to the best-ranked waiter, so a
//! high-priority invocation queued behind low ones runs first, and a low
//! one waits at most its head start longer than a high one queued with it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

struct Waiter {
    rank: i64,
    seq: u64,
    give: oneshot::Sender<OwnedSemaphorePermit>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.rank, self.seq) == (other.rank, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    /// Reversed: the heap's top is the lowest (best) rank, oldest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.rank, other.seq).cmp(&(self.rank, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    waiters: BinaryHeap<Waiter>,
    seq: u64,
    pumping: bool,
}

/// The async waiting line of one function's permits.
#[derive(Default)]
pub struct AsyncSlots {
    queue: Mutex<Queue>,
}

impl AsyncSlots {
    /// A permit of `permits` for async work of `rank`: at once if one is
    /// free and nobody waits, else in rank order.
    pub async fn acquire(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        rank: i64,
    ) -> Option<OwnedSemaphorePermit> {
        let rx = {
            let mut q = self.queue.lock().unwrap();
            if q.waiters.is_empty()
                && let Ok(p) = permits.clone().try_acquire_owned()
            {
                return Some(p);
            }
            let (give, rx) = oneshot::channel();
            q.seq += 1;
            let seq = q.seq;
            q.waiters.push(Waiter { rank, seq, give });
            if !q.pumping {
                q.pumping = true;
                tokio::spawn(pump(self.clone(), permits.clone()));
            }
            rx
        };
        rx.await.ok()
    }
}

/// Hands each freed permit to the best waiter until none is left.
async fn pump(slots: Arc<AsyncSlots>, permits: Arc<Semaphore>) {
    loop {
        {
            let mut q = slots.queue.lock().unwrap();
            if q.waiters.is_empty() {
                q.pumping = false;
                return;
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let waiter = slots.queue.lock().unwrap().waiters.pop();
        if let Some(w) = waiter {
            // A waiter that went away drops the permit back.
            let _ = w.give.send(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_permits_go_to_the_best_rank_first() {
        let permits = Arc::new(Semaphore::new(1));
        let slots = Arc::new(AsyncSlots::default());
        let held = slots.acquire(&permits, 0).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (name, rank) in [
            ("low", 10_000),
            ("normal", 1_000),
            ("high", 0),
            ("low2", 10_000),
        ] {
            let (slots, permits, order) = (slots.clone(), permits.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let p = slots.acquire(&permits, rank).await.unwrap();
                order.lock().unwrap().push(name);
                drop(p);
            }));
            tokio::task::yield_now().await;
        }
        drop(held);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["high", "normal", "low", "low2"]);
    }
}
