//! A service's scaling rules, pure: which replica takes a request, when
//! another one starts, which one stops for idleness, how long a crashed
//! one waits before its replacement starts. The pool (`super`) applies
//! them under its lock; the IO is elsewhere.

use std::time::Duration;

/// What the rules see of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    /// Requests it serves now.
    pub in_flight: u32,
    /// Time since its last request ended (or since it became ready).
    pub idle_for: Duration,
    /// Taken out of routing: it finishes what it serves, then stops.
    pub draining: bool,
}

/// The replica that takes the next request: the least busy one under
/// `concurrency`, the first of equals (requests pack onto the oldest
/// replicas, so the newest go idle and scale in first).
pub(crate) fn pick(loads: &[Load], concurrency: u32) -> Option<usize> {
    loads
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.draining && l.in_flight < concurrency)
        .min_by_key(|(i, l)| (l.in_flight, *i))
        .map(|(i, _)| i)
}

/// Whether another replica starts for the requests waiting: more wait
/// than the replicas already starting will take, and there is room under
/// `max`.
pub(crate) fn should_start(
    waiting: u32,
    starting: u32,
    serving: u32,
    concurrency: u32,
    max: u32,
) -> bool {
    serving + starting < max && waiting > starting.saturating_mul(concurrency)
}

/// The replica to stop for idleness, if any: the one idle longest past
/// `idle`, while more than `floor` replicas serve.
pub(crate) fn idle_victim(loads: &[Load], floor: u32, idle: Duration) -> Option<usize> {
    let serving = loads.iter().filter(|l| !l.draining).count() as u32;
    if serving <= floor {
        return None;
    }
    loads
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.draining && l.in_flight == 0 && l.idle_for >= idle)
        .max_by_key(|(_, l)| l.idle_for)
        .map(|(i, _)| i)
}

/// Longest wait before a crashed replica's replacement starts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The wait before the next start after `failures` starts or replicas in
/// a row failed: 200 ms, doubling, capped at [`MAX_BACKOFF`] (Kubernetes'
/// crash-loop backoff, shorter).
pub(crate) fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = (failures - 1).min(16);
    (Duration::from_millis(200) * (1u32 << doublings)).min(MAX_BACKOFF)
}

/// How many failed starts a deploy's new replicas may have before the
/// revision is rolled back: `max(3, half the replicas)`.
pub(crate) fn deploy_failure_limit(replicas: u32) -> u32 {
    3.max(replicas.div_ceil(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(in_flight: u32, idle_s: u64) -> Load {
        Load {
            in_flight,
            idle_for: Duration::from_secs(idle_s),
            draining: false,
        }
    }

    #[test]
    fn requests_go_to_the_least_busy_replica_under_the_limit() {
        assert_eq!(pick(&[], 80), None);
        assert_eq!(pick(&[load(3, 0), load(1, 0), load(1, 0)], 4), Some(1));
        assert_eq!(pick(&[load(4, 0), load(4, 0)], 4), None);
        let mut draining = load(0, 0);
        draining.draining = true;
        assert_eq!(pick(&[draining, load(2, 0)], 4), Some(1));
        assert_eq!(pick(&[draining], 4), None);
    }

    #[test]
    fn another_replica_starts_only_for_requests_the_starting_ones_cannot_take() {
        // Scale from zero: one request, nothing starting.
        assert!(should_start(1, 0, 0, 80, 10));
        // One starting takes up to `concurrency` waiting requests.
        assert!(!should_start(80, 1, 0, 80, 10));
        assert!(should_start(81, 1, 0, 80, 10));
        // Never past max.
        assert!(!should_start(500, 0, 10, 80, 10));
        assert!(!should_start(500, 2, 8, 80, 10));
        assert!(!should_start(0, 0, 0, 80, 10));
    }

    #[test]
    fn idle_replicas_stop_one_at_a_time_down_to_the_floor() {
        let idle = Duration::from_secs(300);
        // Busy or recently used replicas stay.
        assert_eq!(idle_victim(&[load(1, 900), load(0, 10)], 0, idle), None);
        // The one idle longest goes first.
        assert_eq!(
            idle_victim(&[load(0, 400), load(0, 900), load(2, 0)], 0, idle),
            Some(1)
        );
        // Never below the floor (min_replicas, or a pinned count).
        assert_eq!(idle_victim(&[load(0, 900)], 1, idle), None);
        assert_eq!(idle_victim(&[load(0, 900)], 0, idle), Some(0));
        // Draining ones do not count as serving.
        let mut draining = load(0, 900);
        draining.draining = true;
        assert_eq!(idle_victim(&[draining, load(0, 900)], 1, idle), None);
    }

    #[test]
    fn crashed_replicas_come_back_with_capped_backoff() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(5), Duration::from_millis(3200));
        assert_eq!(backoff(9), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_deploy_tolerates_max_of_three_and_half_its_replicas_failures() {
        assert_eq!(deploy_failure_limit(1), 3);
        assert_eq!(deploy_failure_limit(6), 3);
        assert_eq!(deploy_failure_limit(7), 4);
        assert_eq!(deploy_failure_limit(20), 10);
    }
}
