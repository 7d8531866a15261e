//! One lifecycle for durable work. Every piece of work that is retried
//! (bucket-event deliveries, async invocations and their destinations,
//! task runs) is held the same way and decides "is this the last attempt,
//! and if not, when is the next one" the same way:
//!
//! - it is leased to this node for the lease (`PlatformConfig::lease`, 30 s
//!   by default) when it is written or claimed, and while this node holds
//!   it ([`InHand`]) the heartbeat renews the lease every third of it, so
//!   work a dead node held is claimable by any node within one lease;
//! - [`Attempt::next_due`] gives the backoff with jitter and the max-age
//!   rule;
//! - what settles it commits with the run's record as `strato_store::Effect`s;
//! - the sweeper (`crate::sweep`) claims due work of every kind.

use crate::platform::Platform;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use strato_store::WorkRef;

/// Durable work this node holds (waiting for a slot or running), whose
/// leases the heartbeat renews.
#[derive(Default)]
pub(crate) struct InHand {
    work: Mutex<HashSet<WorkRef>>,
}

impl InHand {
    /// Holds `work` until the guard drops.
    pub(crate) fn hold(self: &Arc<Self>, work: WorkRef) -> HandGuard {
        self.lock().insert(work.clone());
        HandGuard(self.clone(), work)
    }

    /// How many pieces of work are in hand.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether this node holds `work`.
    pub(crate) fn holds(&self, work: &WorkRef) -> bool {
        self.lock().contains(work)
    }

    pub(crate) fn all(&self) -> Vec<WorkRef> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<WorkRef>> {
        self.work.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Work held in hand; dropping it lets the lease run out.
pub(crate) struct HandGuard(Arc<InHand>, WorkRef);

impl Drop for HandGuard {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
    }
}

/// Runs until the platform is dropped: renews the leases of the work in
/// hand every third of the lease.
pub(crate) async fn run_heartbeat(platform: Weak<Platform>, lease: Duration) {
    let mut beat = tokio::time::interval(lease / 3);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        beat.tick().await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        let work = platform.in_hand.all();
        if work.is_empty() {
            continue;
        }
        let until = crate::util::now_ms() + platform.lease_ms();
        let renewed = platform
            .store
            .renew_leases(&platform.config.node_id, &work, until)
            .await;
        if let Err(e) = renewed {
            tracing::error!(error = %e, "renewing leases failed; work may run twice");
        }
    }
}

/// One attempt of a piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// This attempt, from 1.
    pub number: u32,
    /// First try plus retries.
    pub max: u32,
    /// No attempt starts after this (`max_age`), if the work has one.
    pub expires_ms: Option<i64>,
}

impl Attempt {
    /// When the next attempt is due if this one fails, or `None` if this
    /// is the last (out of retries, or the next could not start within
    /// `max_age`). Decided before the attempt runs, so the run's record
    /// can settle the work when it is the last.
    pub(crate) fn next_due(&self, base: Duration, now_ms: i64) -> Option<i64> {
        if self.number >= self.max {
            return None;
        }
        let due = now_ms + backoff(base, self.number).as_millis() as i64;
        match self.expires_ms {
            Some(expires) if due > expires => None,
            _ => Some(due),
        }
    }
}

/// The wait before the attempt after `attempt`: `base * 2^(attempt-1)`,
/// with jitter (50% to 100% of it) so retries of many failures spread out.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base * 2u32.pow(attempt.saturating_sub(1).min(16));
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// How often history past retention is cleaned up.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Runs until the platform is dropped: every [`CLEANUP_EVERY`] (the first
/// time a minute after start), removes runs, log lines and delivered
/// events older than `retention`, and expired messages. On a cluster every
/// node does it; the deletes are idempotent and batched.
pub(crate) async fn run_cleanup(platform: Weak<Platform>, retention: Duration) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut tick = tokio::time::interval(CLEANUP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        let now = crate::util::now_ms();
        match platform
            .store
            .clean_up(now - retention.as_millis() as i64, now)
            .await
        {
            Ok(done) if done != strato_store::Cleanup::default() => {
                tracing::info!(
                    runs = done.runs,
                    log_lines = done.log_lines,
                    events = done.events,
                    messages = done.messages,
                    executions = done.executions,
                    "removed history past retention"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cleaning up history past retention"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_in_hand_until_its_guard_drops() {
        let hand = Arc::new(InHand::default());
        let a = hand.hold(WorkRef::TaskRun("r1".into()));
        let b = hand.hold(WorkRef::BucketEvent(7));
        assert_eq!(hand.len(), 2);
        drop(a);
        assert_eq!(hand.all(), [WorkRef::BucketEvent(7)]);
        drop(b);
        assert_eq!(hand.len(), 0);
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let full = base * 2u32.pow(attempt - 1);
            for _ in 0..50 {
                let b = backoff(base, attempt);
                assert!(b >= full / 2 && b <= full, "attempt {attempt}: {b:?}");
            }
        }
    }

    #[test]
    fn the_last_attempt_is_known_before_it_runs() {
        let base = Duration::from_secs(1);
        let first = Attempt {
            number: 1,
            max: 3,
            expires_ms: None,
        };
        let due = first.next_due(base, 10_000).unwrap();
        assert!((10_500..=11_000).contains(&due), "{due}");
        // Out of retries.
        let third = Attempt { number: 3, ..first };
        assert_eq!(third.next_due(base, 10_000), None);
        // The next attempt would start after max_age: this one is last.
        let aging = Attempt {
            number: 2,
            max: 5,
            expires_ms: Some(10_500),
        };
        assert_eq!(aging.next_due(base, 10_000), None);
        let young = Attempt {
            expires_ms: Some(60_000),
            ..aging
        };
        assert!(young.next_due(base, 10_000).is_some());
    }
}
