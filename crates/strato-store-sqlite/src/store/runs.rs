//! [`strato_store::RunStore`] on SQLite: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::RunStore for SqliteStore {
    async fn record_runs(&self, runs: Arc<[FinishedRun]>) -> Result<(), StoreError> {
        self.background(move |db| db.record_runs(&runs)).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let filter = filter.to_owned();
        self.blocking(move |db| db.list_runs(&filter)).await
    }

    async fn runs_in_trace(
        &self,
        trace_id: &str,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let trace_id = trace_id.to_owned();
        self.blocking(move |db| db.runs_in_trace(&trace_id, limit))
            .await
    }

    async fn usage(
        &self,
        filter: &strato_store::UsageFilter,
    ) -> Result<Vec<strato_store::UsageRow>, StoreError> {
        let filter = filter.to_owned();
        self.blocking(move |db| db.usage(&filter)).await
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| db.get_run(&id)).await
    }

    async fn run_payload(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let run_id = run_id.to_owned();
        self.blocking(move |db| db.run_payload(&run_id)).await
    }

    async fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        let filter = filter.to_owned();
        self.blocking(move |db| db.read_logs(&filter)).await
    }

    async fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError> {
        let run = run.to_owned();
        let lines = lines.to_owned();
        self.background(move |db| db.append_logs(&run, &lines))
            .await
    }
}
