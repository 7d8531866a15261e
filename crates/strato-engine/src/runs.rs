//! The runs component: run ids, runs in flight (for a graceful drain),
//! counters for `/metrics`, and the recorder every finished run goes
//! through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use strato_core::RunStatus;
use strato_store::{FinishedRun, RunRecorder, Store};
use tokio::sync::Notify;

/// Counters exported at `/metrics`.
#[derive(Default)]
pub(crate) struct Counters {
    pub runs_succeeded: AtomicU64,
    pub runs_failed: AtomicU64,
    pub runs_timed_out: AtomicU64,
    pub runs_throttled: AtomicU64,
    pub deploys: AtomicU64,
}

impl Counters {
    /// Counts a run that ended with `status`.
    pub(crate) fn count(&self, status: RunStatus) {
        let counter = match status {
            RunStatus::Succeeded => &self.runs_succeeded,
            RunStatus::TimedOut => &self.runs_timed_out,
            RunStatus::Throttled => &self.runs_throttled,
            _ => &self.runs_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) struct Runs {
    recorder: Arc<RunRecorder>,
    /// Where finished runs go as spans, with `--otlp-endpoint`.
    pub otlp: Option<crate::otlp::OtlpExporter>,
    /// Figures by function and task for `/metrics`.
    pub metrics: crate::run_metrics::RunMetrics,
    pub counters: Counters,
    in_flight: AtomicUsize,
    drained: Notify,
    seq: AtomicU64,
}

impl Runs {
    /// Starts the recorder writing to `store`.
    pub(crate) fn start(store: Arc<dyn Store>, otlp: Option<crate::otlp::OtlpConfig>) -> Runs {
        Runs {
            recorder: RunRecorder::spawn(store),
            otlp: otlp.map(crate::otlp::OtlpExporter::spawn),
            metrics: Default::default(),
            counters: Counters::default(),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            seq: AtomicU64::new(rand::random::<u32>() as u64),
        }
    }

    /// A new, time-ordered id: `r` (runs), `i` (invocations) or `m`
    /// (messages), then milliseconds and a counter in hex.
    pub(crate) fn next_id(&self, prefix: char) -> String {
        let ms = strato_core::time::now_ms() as u64;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{ms:012x}{:08x}", seq as u32)
    }

    /// Queues a finished run for the recorder (never waits on the store).
    pub(crate) fn record(&self, run: FinishedRun) {
        self.recorder.record(run);
    }

    /// Queues a finished run; the answer comes once it is written.
    pub(crate) fn record_acked(&self, run: FinishedRun) -> tokio::sync::oneshot::Receiver<()> {
        self.recorder.record_acked(run)
    }

    /// Counts a finished run in its function's or task's `figures` and
    /// sends it (linked to `links` besides its parent) to the OTLP
    /// receiver, if there is one.
    pub(crate) fn observe(
        &self,
        figures: &crate::run_metrics::Figures,
        record: &strato_core::RunRecord,
        logs: &[strato_core::LogLine],
        links: Vec<strato_core::TraceContext>,
    ) {
        figures.observe(record);
        if let Some(otlp) = &self.otlp {
            otlp.export(record, logs, links);
        }
    }

    /// A request a service answered, as a span with `--otlp-endpoint`.
    pub(crate) fn request_served(&self, request: &crate::otlp::ServedRequest<'_>) {
        if let Some(otlp) = &self.otlp {
            otlp.export_request(request);
        }
    }

    /// Whether spans are exported at all.
    pub(crate) fn exports_spans(&self) -> bool {
        self.otlp.is_some()
    }

    /// An ended workflow execution, as a span with `--otlp-endpoint`.
    pub(crate) fn execution_ended(
        &self,
        execution: &strato_store::Execution,
        end: &strato_store::ExecutionEnd,
    ) {
        if let Some(otlp) = &self.otlp {
            otlp.export_execution(execution, end);
        }
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drained.notify_waiters();
        }
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Waits (up to `limit`) until no run is in flight, then writes every
    /// recorded run.
    pub(crate) async fn drain(&self, limit: Duration) {
        let wait = async {
            loop {
                let notified = self.drained.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            tracing::warn!(
                in_flight = self.in_flight.load(Ordering::SeqCst),
                "runs still in flight at shutdown"
            );
        }
        self.recorder.flush_and_stop().await;
    }
}
