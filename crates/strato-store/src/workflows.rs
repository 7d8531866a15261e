//! Workflow executions as the store keeps them: the execution row, its
//! history (AWS's event types, numbered from 1 per execution), and its
//! pending steps as durable work: claimed with a lease, completed fenced,
//! each completion appending its events, queueing the next steps and
//! maybe ending the execution in one transaction, so a crash repeats a
//! step's work but never its transition.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An execution's status, with AWS's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    pub fn parse(text: &str) -> Option<ExecutionStatus> {
        use ExecutionStatus::*;
        [Running, Succeeded, Failed, TimedOut, Aborted]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One execution of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub id: String,
    pub app: String,
    pub workflow: String,
    /// The revision whose definition it runs, start to end.
    pub revision: i64,
    /// Unique per workflow (AWS's execution name).
    pub name: String,
    pub status: ExecutionStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started_ms: i64,
    pub stopped_ms: Option<i64>,
    /// The step of another execution waiting for its end (a nested
    /// `states:startExecution.sync`), resumed with it.
    pub parent: Option<String>,
    /// Its span, as a run's record keeps one (32 and 16 hex digits): the
    /// runs its Task states make hang from it, and it from whatever
    /// started it.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
}

impl Execution {
    /// Its own trace context: the parent of the runs its states make.
    pub fn trace_context(&self) -> Option<strato_core::TraceContext> {
        strato_core::trace::context_of(self.trace_id.as_deref()?, self.span_id.as_deref()?)
    }
}

/// An execution to start, with its first events and steps.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    pub execution: Execution,
    pub events: Vec<NewHistoryEvent>,
    pub steps: Vec<WorkflowStep>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEnd {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stopped_ms: i64,
}

/// A history event to append (its id is the next of its execution).
#[derive(Debug, Clone, PartialEq)]
pub struct NewHistoryEvent {
    pub ts_ms: i64,
    /// AWS's event type: `ExecutionStarted`, `TaskStateEntered`, ...
    pub kind: String,
    /// The event's details object, as AWS shapes it.
    pub details: Value,
}

/// A recorded history event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// 1, 2, ... per execution.
    pub id: i64,
    pub ts_ms: i64,
    pub kind: String,
    pub details: Value,
}

/// A pending step of an execution: what the engine is to do next (its
/// `step`, opaque to the store), due at `due_ms`. A step parked until an
/// outside answer (a task token, a function's result) is due at its
/// deadline and resumed earlier by [`crate::WorkflowStore::resume_workflow_step`].
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStep {
    pub id: String,
    pub execution: String,
    pub due_ms: i64,
    pub step: Value,
    /// Claims so far (a claim's fence names it).
    pub attempts: u32,
    /// A new step the node queueing it runs at once: stored leased to it
    /// until then, its first attempt counted (empty: unleased).
    pub lease_owner: String,
    pub lease_until_ms: i64,
}

/// What completing a claimed step commits, all at once: the step is
/// gone, the events appended, the next steps queued, the execution maybe
/// ended. With a fence that no longer holds nothing changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkflowAdvance {
    pub execution: String,
    pub events: Vec<NewHistoryEvent>,
    pub next: Vec<WorkflowStep>,
    /// Work started with the step, in its transaction (a message sent, a
    /// function queued with its task token).
    pub effects: Vec<crate::Effect>,
    /// Ends the execution (its other pending steps are dropped).
    pub end: Option<ExecutionEnd>,
    /// The step was a Parallel or Map state's join: its recorded results
    /// and its children's pending steps (ids under `{id}/`) go with it.
    pub drops_children: bool,
}

/// A child of a Parallel or Map state (a branch, an item) ended: its
/// outcome recorded once for the state's join step, which waits parked
/// (due never) and is woken, under its row's lock, when the last child's
/// outcome arrives or `wake` asks. Child `i`'s first step has the id
/// `{join}/{i}`; with a `max_concurrency` the children past it wait
/// parked and each recorded outcome wakes the next (the `n`-th outcome
/// starts child `max_concurrency + n - 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct BranchEnd {
    /// The join step's id.
    pub join: String,
    pub execution: String,
    pub index: u32,
    /// `{"ok": output}` or `{"error": ..., "cause": ...}`.
    pub outcome: Value,
    /// How many children the join waits for.
    pub total: u32,
    /// A Map's MaxConcurrency (0: every child started at once).
    pub max_concurrency: u32,
    /// Wake the join now (a failure that fails the whole state).
    pub wake: bool,
}

/// Which executions to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub app: Option<String>,
    pub workflow: Option<String>,
    pub status: Option<ExecutionStatus>,
    /// Only executions with ids below this (paging).
    pub before: Option<String>,
    /// Only the executions of this trace (32 hex digits); the other
    /// fields are then ignored.
    pub trace_id: Option<String>,
    pub limit: usize,
}
