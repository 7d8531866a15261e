//! [`strato_store::WorkflowStore`] on SQLite: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::WorkflowStore for SqliteStore {
    async fn start_execution(
        &self,
        execution: &Execution,
        events: &[NewHistoryEvent],
        steps: &[WorkflowStep],
    ) -> Result<bool, StoreError> {
        let (e, events, steps) = (execution.clone(), events.to_vec(), steps.to_vec());
        self.db
            .group
            .write_async(move |tx| workflows::start(tx, &e, &events, &steps))
            .await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        let id = id.to_string();
        self.blocking(move |db| db.get_execution(&id)).await
    }

    async fn find_execution(
        &self,
        app: &str,
        workflow: &str,
        name: &str,
    ) -> Result<Option<Execution>, StoreError> {
        let (app, workflow, name) = (app.to_string(), workflow.to_string(), name.to_string());
        self.blocking(move |db| db.find_execution(&app, &workflow, &name))
            .await
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<Execution>, StoreError> {
        let filter = filter.clone();
        self.blocking(move |db| db.list_executions(&filter)).await
    }

    async fn execution_history(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let id = id.to_string();
        self.blocking(move |db| db.execution_history(&id, after, limit))
            .await
    }

    async fn claim_workflow_steps(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WorkflowStep>, StoreError> {
        // Asked often, rarely with anything due: a reader answers that.
        let db = self.db.clone();
        if !tokio::task::spawn_blocking(move || db.any_workflow_step_due(now_ms))
            .await
            .map_err(|_| StoreError::closed())??
        {
            return Ok(Vec::new());
        }
        let owner = owner.0.clone();
        self.db
            .group
            .write_async(move |tx| workflows::claim(tx, &owner, now_ms, lease_ms, limit))
            .await
    }

    async fn advance_workflow(
        &self,
        fence: &Fence,
        advance: &WorkflowAdvance,
    ) -> Result<bool, StoreError> {
        let (fence, advance) = (fence.clone(), advance.clone());
        self.db
            .group
            .write_async(move |tx| workflows::advance(tx, &fence, &advance))
            .await
    }

    async fn resume_workflow_step(&self, id: &str, outcome: &Value) -> Result<bool, StoreError> {
        let (id, outcome) = (id.to_string(), outcome.clone());
        self.db
            .group
            .write_async(move |tx| workflows::resume(tx, &id, &outcome))
            .await
    }

    async fn workflow_results(&self, join: &str) -> Result<Vec<(u32, Value)>, StoreError> {
        let join = join.to_string();
        self.blocking(move |db| db.workflow_results(&join)).await
    }

    async fn delay_workflow_step(&self, id: &str, due_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.db
            .group
            .write_async(move |tx| workflows::delay(tx, &id, due_ms))
            .await
    }

    async fn end_execution(
        &self,
        id: &str,
        end: &ExecutionEnd,
        events: &[NewHistoryEvent],
    ) -> Result<bool, StoreError> {
        let (id, end, events) = (id.to_string(), end.clone(), events.to_vec());
        self.db
            .group
            .write_async(move |tx| workflows::end(tx, &id, &end, &events))
            .await
    }
}
