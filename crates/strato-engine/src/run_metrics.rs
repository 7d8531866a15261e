//! Per-function and per-task figures for `/metrics`: run duration and init
//! time histograms (OpenTelemetry's default bucket boundaries, in
//! seconds), runs by status, cold starts, throttles and billed
//! milliseconds. Counted on this node since it started, as Prometheus
//! counters are; a scraper sums the nodes of a cluster.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use strato_core::{RunRecord, RunStatus};

/// OpenTelemetry's default explicit bucket boundaries for durations
/// (0 to 10 s), in seconds.
pub(crate) const BOUNDS_S: [f64; 15] = [
    0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A cumulative-on-write histogram: a count per bucket (the last one past
/// every bound), the sum and the count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BOUNDS_S.len() + 1],
    sum_s: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BOUNDS_S
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS_S.len());
        self.counts[i] += 1;
        self.sum_s += seconds;
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BOUNDS_S.iter().enumerate() {
            cumulative += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
            self.count()
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_s);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count());
    }
}

/// What a function or task has done so far.
#[derive(Debug, Clone, Default)]
struct TargetFigures {
    kind: &'static str,
    duration: Histogram,
    init: Histogram,
    by_status: BTreeMap<&'static str, u64>,
    cold_starts: u64,
    billed_ms: u64,
}

/// Figures by app, then by function or task name.
#[derive(Default)]
pub(crate) struct RunMetrics {
    targets: Mutex<HashMap<String, HashMap<String, TargetFigures>>>,
}

impl RunMetrics {
    /// Counts a finished run of a function or task (`kind`).
    pub(crate) fn observe(&self, kind: &'static str, run: &RunRecord) {
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up by reference: no allocation once a target is known.
        let app = match targets.get_mut(run.app.as_str()) {
            Some(app) => app,
            None => targets.entry(run.app.clone()).or_default(),
        };
        let figures = match app.get_mut(run.function.as_str()) {
            Some(f) => f,
            None => app.entry(run.function.clone()).or_default(),
        };
        figures.kind = kind;
        *figures.by_status.entry(run.status.as_str()).or_default() += 1;
        if run.status == RunStatus::Throttled {
            return;
        }
        figures.duration.observe(run.duration_us as f64 / 1e6);
        if run.cold_start {
            figures.cold_starts += 1;
        }
        if let Some(init) = run.init_us {
            figures.init.observe(init as f64 / 1e6);
        }
        figures.billed_ms += run.billed_ms.max(0) as u64;
    }

    /// Appends every family in Prometheus text form.
    pub(crate) fn write(&self, out: &mut String) {
        let targets: Vec<(String, String, TargetFigures)> = {
            let targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
            let mut all: Vec<_> = targets
                .iter()
                .flat_map(|(app, names)| {
                    names
                        .iter()
                        .map(move |(name, f)| (app.clone(), name.clone(), f.clone()))
                })
                .collect();
            all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            all
        };
        let labels = |app: &str, name: &str, kind: &str| {
            format!("app=\"{app}\",function=\"{name}\",kind=\"{kind}\"")
        };
        out.push_str("# HELP strato_invocations_total Runs of a function or task that ended, by status.\n# TYPE strato_invocations_total counter\n");
        for (app, name, f) in &targets {
            for (status, n) in &f.by_status {
                let _ = writeln!(
                    out,
                    "strato_invocations_total{{{},status=\"{status}\"}} {n}",
                    labels(app, name, f.kind)
                );
            }
        }
        out.push_str("# HELP strato_run_duration_seconds How long runs took, start to end.\n# TYPE strato_run_duration_seconds histogram\n");
        for (app, name, f) in &targets {
            f.duration.write(
                out,
                "strato_run_duration_seconds",
                &labels(app, name, f.kind),
            );
        }
        out.push_str("# HELP strato_init_duration_seconds Time cold starts spent getting an instance or environment ready.\n# TYPE strato_init_duration_seconds histogram\n");
        for (app, name, f) in targets.iter().filter(|t| t.2.init.count() > 0) {
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
                (|f: &TargetFigures| f.cold_starts) as fn(&TargetFigures) -> u64,
            ),
            (
                "strato_throttles_total",
                "Runs refused at the concurrency limit.",
                |f: &TargetFigures| f.by_status.get("throttled").copied().unwrap_or(0),
            ),
            (
                "strato_billed_milliseconds_total",
                "Billed time of finished runs (each rounded up to a millisecond).",
                |f: &TargetFigures| f.billed_ms,
            ),
        ] {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            for (app, name, f) in &targets {
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
        }
    }

    #[test]
    fn histograms_and_counters_in_prometheus_form() {
        let metrics = RunMetrics::default();
        metrics.observe("function", &run(RunStatus::Succeeded, 3_000, Some(40_000)));
        metrics.observe("function", &run(RunStatus::Succeeded, 60_000, None));
        metrics.observe("function", &run(RunStatus::Failed, 20_000_000, None));
        metrics.observe("function", &run(RunStatus::Throttled, 0, None));
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
