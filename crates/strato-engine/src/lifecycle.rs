//! One lifecycle for durable work: every piece of work that is retried
//! (bucket-event deliveries, async invocations and their destinations,
//! task runs) decides "is this the last attempt, and if not, when is the
//! next one" here, with the same backoff and jitter and the same max-age
//! rule; leases, heartbeats and the sweeper that claims due work are in
//! `async_invoke.rs` and `events.rs`, the effects that commit with a run
//! in `strato_store::Effect`.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
