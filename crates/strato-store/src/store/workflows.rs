//! Workflow executions, their history and their steps.

use crate::*;

/// Workflow executions, their history and their steps. Part of [`crate::Store`].
#[async_trait::async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Starts an execution with its first events and steps (due at once,
    /// unleased). False, changing nothing, if its workflow has an
    /// execution of that name already.
    async fn start_execution(
        &self,
        execution: &Execution,
        events: &[NewHistoryEvent],
        steps: &[WorkflowStep],
    ) -> Result<bool, StoreError>;
    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, StoreError>;
    /// The execution of `app`'s workflow named `name`.
    async fn find_execution(
        &self,
        app: &str,
        workflow: &str,
        name: &str,
    ) -> Result<Option<Execution>, StoreError>;
    async fn list_executions(&self, filter: &ExecutionFilter)
    -> Result<Vec<Execution>, StoreError>;
    /// An execution's events with ids above `after`, oldest first.
    async fn execution_history(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError>;
    /// Claims up to `limit` due steps of running executions that are not
    /// leased (or whose lease ran out), leasing them to `owner` until
    /// `now_ms + lease_ms` and counting the attempt.
    async fn claim_workflow_steps(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WorkflowStep>, StoreError>;
    /// Completes the claimed step `fence` names with `advance`, in one
    /// transaction. False (nothing changed) if the fence no longer holds
    /// or the execution is no longer running.
    async fn advance_workflow(
        &self,
        fence: &Fence,
        advance: &WorkflowAdvance,
    ) -> Result<bool, StoreError>;
    /// Gives a parked step its answer: it becomes due now, unleased, with
    /// `outcome` stored under its step's `"outcome"`. False if there is no
    /// such step (answered already, timed out, or its execution ended).
    async fn resume_workflow_step(&self, id: &str, outcome: &Value) -> Result<bool, StoreError>;
    /// The outcomes recorded for a join step (see [`BranchEnd`]), by
    /// child index.
    async fn workflow_results(&self, join: &str) -> Result<Vec<(u32, Value)>, StoreError>;
    /// Moves a pending step's deadline (a task's heartbeat). False if
    /// there is no such step.
    async fn delay_workflow_step(&self, id: &str, due_ms: i64) -> Result<bool, StoreError>;
    /// Ends a running execution from outside (StopExecution: `ABORTED`;
    /// or its timeout), dropping its pending steps and appending `events`.
    /// False if it was not running.
    async fn end_execution(
        &self,
        id: &str,
        end: &ExecutionEnd,
        events: &[NewHistoryEvent],
    ) -> Result<bool, StoreError>;
}
