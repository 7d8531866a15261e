//! Per-service request counters: requests by status class, a latency
//! histogram (time to the response's head) for p50/p99, and requests per
//! second over the last ten seconds. They outlive revisions: a deploy
//! keeps counting where the last one stopped.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets of a quarter of a power of two of microseconds each, up to
/// 2^24 µs (16.8 s): within 19% of the true value.
const BUCKETS: usize = 96;
/// Seconds the request rate is averaged over.
const WINDOW_S: u64 = 10;

#[derive(Debug)]
pub(crate) struct ServiceStats {
    /// Answers by class: 1xx to 5xx.
    by_class: [AtomicU64; 5],
    latency: [AtomicU64; BUCKETS],
    /// Sum of the latencies, in microseconds (a histogram's `_sum`).
    latency_sum_us: AtomicU64,
    /// (second, requests in it), the newest last.
    recent: Mutex<VecDeque<(u64, u64)>>,
}

impl Default for ServiceStats {
    fn default() -> Self {
        ServiceStats {
            by_class: Default::default(),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_us: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

/// A service's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RequestFigures {
    pub requests: u64,
    /// Answers by class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub by_class: [u64; 5],
    pub requests_per_second: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

fn bucket(latency: Duration) -> usize {
    let us = latency.as_micros().max(1) as f64;
    ((us.log2() * 4.0) as usize).min(BUCKETS - 1)
}

fn bucket_upper_ms(index: usize) -> f64 {
    2f64.powf((index + 1) as f64 / 4.0) / 1000.0
}

impl ServiceStats {
    /// Counts one answered request.
    pub fn record(&self, status: u16, latency: Duration, now_s: u64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        self.latency[bucket(latency)].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        match recent.back_mut() {
            Some((s, n)) if *s == now_s => *n += 1,
            _ => recent.push_back((now_s, 1)),
        }
        while recent.front().is_some_and(|(s, _)| *s + WINDOW_S < now_s) {
            recent.pop_front();
        }
    }

    pub fn figures(&self, now_s: u64) -> RequestFigures {
        let by_class = std::array::from_fn(|i| self.by_class[i].load(Ordering::Relaxed));
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            counts.iter().enumerate().find_map(|(i, c)| {
                seen += c;
                (seen >= rank).then(|| bucket_upper_ms(i))
            })
        };
        // The last WINDOW_S whole seconds (the current one is partial).
        let windowed: u64 = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(s, _)| *s < now_s && *s + WINDOW_S >= now_s)
            .map(|(_, n)| n)
            .sum();
        RequestFigures {
            requests: by_class.iter().sum(),
            by_class,
            requests_per_second: windowed as f64 / WINDOW_S as f64,
            p50_ms: (total > 0).then(|| quantile(0.5)).flatten(),
            p99_ms: (total > 0).then(|| quantile(0.99)).flatten(),
        }
    }
}

/// Names of the Prometheus families [`ServiceStats::write_metrics`] adds to.
pub(crate) const METRIC_HELP: &str = "\
# HELP strato_service_requests_total Requests a service answered, by status class.
# TYPE strato_service_requests_total counter
# HELP strato_service_request_duration_seconds Time to a service's response head, through the gateway.
# TYPE strato_service_request_duration_seconds histogram
";

impl ServiceStats {
    /// Appends this service's samples in Prometheus text form: requests by
    /// class, and the latency histogram with one bucket per power of two
    /// of microseconds from 128 µs (the finer buckets summed into them).
    pub fn write_metrics(&self, out: &mut String, app: &str, service: &str) {
        use std::fmt::Write;
        let labels = format!("app=\"{app}\",service=\"{service}\"");
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let n = self.by_class[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "strato_service_requests_total{{{labels},class=\"{class}\"}} {n}"
            );
        }
        let mut cumulative = 0;
        for (i, count) in self.latency.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            // Bucket i ends at 2^((i+1)/4) µs: a power of two when i+1 is a
            // multiple of 4.
            if (i + 1) % 4 == 0 && i + 1 >= 28 {
                let le = bucket_upper_ms(i) / 1000.0;
                let _ = writeln!(
                    out,
                    "strato_service_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
        }
        let _ = writeln!(
            out,
            "strato_service_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "strato_service_request_duration_seconds_sum{{{labels}}} {sum}"
        );
        let _ = writeln!(
            out,
            "strato_service_request_duration_seconds_count{{{labels}}} {cumulative}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_quantiles_and_rate() {
        let stats = ServiceStats::default();
        assert_eq!(stats.figures(100).p50_ms, None);
        for i in 0..99 {
            stats.record(200, Duration::from_millis(2), 100 + i % 10);
        }
        stats.record(503, Duration::from_millis(400), 109);
        let f = stats.figures(110);
        assert_eq!(f.requests, 100);
        assert_eq!(f.by_class, [0, 99, 0, 0, 1]);
        // Within a bucket's width (19%) above the true value.
        let p50 = f.p50_ms.unwrap();
        assert!((2.0..2.4).contains(&p50), "{p50}");
        let p99 = f.p99_ms.unwrap();
        assert!((2.0..2.4).contains(&p99), "{p99}");
        assert_eq!(f.requests_per_second, 10.0);
        // A minute later nothing is recent.
        assert_eq!(stats.figures(200).requests_per_second, 0.0);

        let mut text = String::new();
        stats.write_metrics(&mut text, "a", "web");
        assert!(
            text.contains(
                "strato_service_requests_total{app=\"a\",service=\"web\",class=\"5xx\"} 1\n"
            ),
            "{text}"
        );
        // 2 ms falls under the 2.048 ms bucket, 400 ms only under 524 ms.
        assert!(text.contains("le=\"0.002048\"} 99\n"), "{text}");
        assert!(text.contains("le=\"0.524288\"} 100\n"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 100\n"), "{text}");
        assert!(
            text.contains("_count{app=\"a\",service=\"web\"} 100\n"),
            "{text}"
        );
    }
}
