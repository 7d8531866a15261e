//! [`strato_store::RunStore`] on PostgreSQL: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::RunStore for PostgresStore {
    async fn record_runs(&self, finished: std::sync::Arc<[FinishedRun]>) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "starting to record runs").await?;
        record::record_runs(&tx, &finished).await?;
        let queues_work = finished.iter().flat_map(|r| &r.effects).any(queues_work);
        commit(tx, "committing runs").await?;
        if queues_work {
            self.outbox.work();
        }
        Ok(())
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        runs::list_runs(&self.client().await?, filter).await
    }

    async fn runs_in_trace(
        &self,
        trace_id: &str,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        runs::runs_in_trace(&self.client().await?, trace_id, limit).await
    }

    async fn usage(
        &self,
        filter: &strato_store::UsageFilter,
    ) -> Result<Vec<strato_store::UsageRow>, StoreError> {
        runs::usage(&self.client().await?, filter).await
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let c = self.client().await?;
        let sql = format!("SELECT {} FROM runs WHERE id = $1", runs::RUN_COLUMNS);
        let row = query_opt(&c, "reading a run", &sql, &[&id]).await?;
        row.as_ref().map(runs::run_from_row).transpose()
    }

    async fn run_payload(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "reading a run's payload",
            "SELECT body FROM run_payloads WHERE run_id = $1",
            &[&run_id],
        )
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        runs::read_logs(&self.client().await?, filter).await
    }

    async fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "starting to append log lines").await?;
        runs::insert_logs(&tx, run, lines).await?;
        commit(tx, "committing log lines").await
    }
}
