//! [`strato_store::WorkflowStore`] on PostgreSQL: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::WorkflowStore for PostgresStore {
    async fn start_execution(
        &self,
        execution: &Execution,
        events: &[NewHistoryEvent],
        steps: &[WorkflowStep],
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "starting an execution").await?;
        let started = workflows::start(&tx, execution, events, steps).await?;
        commit(tx, "committing an execution's start").await?;
        if started && !steps.is_empty() {
            self.outbox.work();
        }
        Ok(started)
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        workflows::get(&self.client().await?, id).await
    }

    async fn find_execution(
        &self,
        app: &str,
        workflow: &str,
        name: &str,
    ) -> Result<Option<Execution>, StoreError> {
        workflows::find(&self.client().await?, app, workflow, name).await
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<Execution>, StoreError> {
        workflows::list(&self.client().await?, filter).await
    }

    async fn execution_history(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        workflows::history(&self.client().await?, id, after, limit).await
    }

    async fn claim_workflow_steps(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WorkflowStep>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "claiming workflow steps").await?;
        let claimed = workflows::claim(&tx, owner.as_str(), now_ms, lease_ms, limit).await?;
        commit(tx, "committing claimed workflow steps").await?;
        Ok(claimed)
    }

    async fn advance_workflow(
        &self,
        fence: &Fence,
        advance: &WorkflowAdvance,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "advancing a workflow").await?;
        let advanced = workflows::advance(&tx, fence, advance).await?;
        // A fence that no longer holds: what was sent with it is dropped
        // (the transaction rolls back as it goes).
        if !advanced {
            return Ok(false);
        }
        commit(tx, "committing a workflow's advance").await?;
        if advanced && (!advance.next.is_empty() || advance.effects.iter().any(queues_work)) {
            self.outbox.work();
        }
        Ok(advanced)
    }

    async fn resume_workflow_step(&self, id: &str, outcome: &Value) -> Result<bool, StoreError> {
        let resumed = workflows::resume(&self.client().await?, id, outcome).await?;
        if resumed {
            self.outbox.work();
        }
        Ok(resumed)
    }

    async fn workflow_results(&self, join: &str) -> Result<Vec<(u32, Value)>, StoreError> {
        workflows::results(&self.client().await?, join).await
    }

    async fn delay_workflow_step(&self, id: &str, due_ms: i64) -> Result<bool, StoreError> {
        workflows::delay(&self.client().await?, id, due_ms).await
    }

    async fn end_execution(
        &self,
        id: &str,
        end: &ExecutionEnd,
        events: &[NewHistoryEvent],
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "ending an execution").await?;
        let ended = workflows::end(&tx, id, end, events).await?;
        commit(tx, "committing an execution's end").await?;
        Ok(ended)
    }
}
