//! Runs and their logs: recording, listing, traces, usage, kept payloads.

use crate::*;

/// Runs and their logs: recording, listing, traces, usage, kept payloads. Part of [`crate::Store`].
#[async_trait::async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Writes finished runs and their logs in one transaction.
    /// (Shared, so a writer can retry a batch without copying it.)
    async fn record_runs(&self, runs: std::sync::Arc<[FinishedRun]>) -> Result<(), StoreError>;
    /// Runs newest first. Run ids sort in start order (the engine makes
    /// them so), so backends order by id.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;
    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;
    /// The runs of one trace (32 hex digits), at most `limit`, in no order.
    async fn runs_in_trace(
        &self,
        trace_id: &str,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError>;
    /// What each function, task and service used, summed over the runs
    /// `filter` names.
    async fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError>;
    async fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError>;
    /// Adds output lines of a run still going.
    async fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError>;
    /// The payload a run's record kept ([`Effect::KeepPayload`]): the
    /// event of an event-driven run, a task run's overrides.
    async fn run_payload(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
}
