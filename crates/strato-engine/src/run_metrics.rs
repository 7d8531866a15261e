//! Per-function and per-task figures for `/metrics`: run duration and init
//! time histograms (OpenTelemetry's default bucket boundaries, in
//! seconds), runs by status, cold starts, throttles and billed
//! milliseconds. Counted on this node since it started, as Prometheus
//! counters are; a scraper sums the nodes of a cluster.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use strato_core::{RunRecord, RunStatus};

/// OpenTelemetry's default explicit bucket boundaries for durations
/// (0 to 10 s), in seconds.
pub(crate) const BOUNDS_S: [f64; 15] = [
    0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A histogram of seconds: a count per bucket (the last one past every
/// bound) and the sum in microseconds, each an atomic.
#[derive(Debug, Default)]
struct Histogram {
    counts: [AtomicU64; BOUNDS_S.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: i64) {
        let seconds = us as f64 / 1e6;
        let i = BOUNDS_S
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS_S.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us.max(0) as u64, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BOUNDS_S.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// What one function or task has done so far. A live function holds its
/// own, so counting a run takes no lock and no lookup.
#[derive(Debug)]
pub(crate) struct Figures {
    kind: &'static str,
    duration: Histogram,
    init: Histogram,
    /// Runs by status, in [`RunStatus::ALL`]'s order.
    by_status: [AtomicU64; RunStatus::ALL.len()],
    cold_starts: AtomicU64,
    billed_ms: AtomicU64,
}

impl Figures {
    fn new(kind: &'static str) -> Figures {
        Figures {
            kind,
            duration: Histogram::default(),
            init: Histogram::default(),
            by_status: Default::default(),
            cold_starts: AtomicU64::new(0),
            billed_ms: AtomicU64::new(0),
        }
    }

    /// Counts a finished run.
    pub(crate) fn observe(&self, run: &RunRecord) {
        let status = RunStatus::ALL
            .iter()
            .position(|s| *s == run.status)
            .expect("every status is in ALL");
        self.by_status[status].fetch_add(1, Ordering::Relaxed);
        if run.status == RunStatus::Throttled {
            return;
        }
        self.duration.observe(run.duration_us);
        if run.cold_start {
            self.cold_starts.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(init) = run.init_us {
            self.init.observe(init);
        }
        self.billed_ms
            .fetch_add(run.billed_ms.max(0) as u64, Ordering::Relaxed);
    }

    fn status_count(&self, status: RunStatus) -> u64 {
        let i = RunStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or(0);
        self.by_status[i].load(Ordering::Relaxed)
    }
}

/// Every function's and task's [`Figures`], by (app, name).
#[derive(Default)]
pub(crate) struct RunMetrics {
    targets: Mutex<BTreeMap<(String, String), Arc<Figures>>>,
}

impl RunMetrics {
    /// The figures of `app`'s function or task (`kind`) `name`, made on
    /// first use and kept across revisions.
    pub(crate) fn figures(&self, kind: &'static str, app: &str, name: &str) -> Arc<Figures> {
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        targets
            .entry((app.to_string(), name.to_string()))
            .or_insert_with(|| Arc::new(Figures::new(kind)))
            .clone()
    }

    /// Appends every family in Prometheus text form.
    pub(crate) fn write(&self, out: &mut String) {
        let targets: Vec<((String, String), Arc<Figures>)> = self
            .targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let labels = |app: &str, name: &str, kind: &str| {
            format!("app=\"{app}\",function=\"{name}\",kind=\"{kind}\"")
        };
        out.push_str("# HELP strato_invocations_total Runs of a function or task that ended, by status.\n# TYPE strato_invocations_total counter\n");
        for ((app, name), f) in &targets {
            for status in RunStatus::ALL {
                let n = f.status_count(status);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "strato_invocations_total{{{},status=\"{status}\"}} {n}",
                        labels(app, name, f.kind)
                    );
                }
            }
        }
        out.push_str("# HELP strato_run_duration_seconds How long runs took, start to end.\n# TYPE strato_run_duration_seconds histogram\n");
        for ((app, name), f) in &targets {
            f.duration.write(
                out,
                "strato_run_duration_seconds",
                &labels(app, name, f.kind),
            );
        }
        out.push_str("# HELP strato_init_duration_seconds Time cold starts spent getting an instance or environment ready.\n# TYPE strato_init_duration_seconds histogram\n");
        for ((app, name), f) in targets.iter().filter(|t| t.1.init.count() > 0) {
            f.init.write(
                out,
                "strato_init_duration_seconds",
                &labels(app, name, f.kind),
            );
        }
        for (family, help, value) in [
            (
                "strato_cold_starts_total",
                "Runs that started cold.",
                (|f: &Figures| f.cold_starts.load(Ordering::Relaxed)) as fn(&Figures) -> u64,
            ),
            (
                "strato_throttles_total",
                "Runs refused at the concurrency limit.",
                |f: &Figures| f.status_count(RunStatus::Throttled),
            ),
            (
                "strato_billed_milliseconds_total",
                "Billed time of finished runs (each rounded up to a millisecond).",
                |f: &Figures| f.billed_ms.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            for ((app, name), f) in &targets {
                let _ = writeln!(
                    out,
                    "{family}{{{}}} {}",
                    labels(app, name, f.kind),
                    value(f)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strato_core::Trigger;

    fn run(status: RunStatus, duration_us: i64, init_us: Option<i64>) -> RunRecord {
        RunRecord {
            id: "r".into(),
            app: "shop".into(),
            function: "checkout".into(),
            revision: 1,
            trigger: Trigger::Http,
            status,
            started_at_ms: 0,
            duration_us,
            cold_start: init_us.is_some(),
            memory_limit_bytes: 128 << 20,
            billed_ms: RunRecord::billed_ms_for(duration_us),
            http_status: None,
            error: None,
            event_id: None,
            attempt: 1,
            exit_code: None,
            init_us,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            cpu_us: None,
            queued_us: None,
        }
    }

    #[test]
    fn histograms_and_counters_in_prometheus_form() {
        let metrics = RunMetrics::default();
        let figures = metrics.figures("function", "shop", "checkout");
        figures.observe(&run(RunStatus::Succeeded, 3_000, Some(40_000)));
        figures.observe(&run(RunStatus::Succeeded, 60_000, None));
        // A later revision counts on in the same figures.
        let again = metrics.figures("function", "shop", "checkout");
        again.observe(&run(RunStatus::Failed, 20_000_000, None));
        again.observe(&run(RunStatus::Throttled, 0, None));
        let mut out = String::new();
        metrics.write(&mut out);
        let l = "app=\"shop\",function=\"checkout\",kind=\"function\"";
        for line in [
            format!("strato_invocations_total{{{l},status=\"succeeded\"}} 2"),
            format!("strato_invocations_total{{{l},status=\"failed\"}} 1"),
            format!("strato_invocations_total{{{l},status=\"throttled\"}} 1"),
            // 3 ms falls in (0, 5 ms]; 60 ms in (50, 75]; 20 s past 10 s.
            format!("strato_run_duration_seconds_bucket{{{l},le=\"0.005\"}} 1"),
            format!("strato_run_duration_seconds_bucket{{{l},le=\"0.05\"}} 1"),
            format!("strato_run_duration_seconds_bucket{{{l},le=\"0.075\"}} 2"),
            format!("strato_run_duration_seconds_bucket{{{l},le=\"10\"}} 2"),
            format!("strato_run_duration_seconds_bucket{{{l},le=\"+Inf\"}} 3"),
            format!("strato_run_duration_seconds_count{{{l}}} 3"),
            format!("strato_init_duration_seconds_bucket{{{l},le=\"0.05\"}} 1"),
            format!("strato_cold_starts_total{{{l}}} 1"),
            format!("strato_throttles_total{{{l}}} 1"),
            format!(
                "strato_billed_milliseconds_total{{{l}}} {}",
                3 + 60 + 20_000
            ),
        ] {
            assert!(out.lines().any(|o| o == line), "missing {line} in\n{out}");
        }
    }
}
