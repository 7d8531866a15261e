//! Strato's state: apps, immutable revisions, component metadata, runs and
//! their logs, behind a domain-level [`Store`] trait.
//!
//! The trait speaks of the domain ("deploy this revision", "record these
//! runs"), never of SQL, and its error ([`StoreError`]) names no backend's
//! library. Backends live in sibling crates (`strato-store-sqlite`) and
//! prove themselves with the [`conformance`] suite, one test per check.
//! [`RunRecorder`] batches finished runs and writes them off the request
//! path.
//!
//! The trait is async: every call may wait on a database (a PostgreSQL
//! server over the network, or SQLite's fsync), and none may block an async
//! worker thread. A synchronous backend runs its calls on threads of its
//! own (SQLite does: its reader, commit and background threads, and tokio's
//! blocking pool).
//!
//! ```ignore
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open("data/strato.db".as_ref())?);
//! let recorder = RunRecorder::spawn(store.clone());
//! recorder.record(finished_run);
//! recorder.flush_and_stop().await;
//! ```

pub mod conformance;
mod error;
mod images;
mod invocations;
mod nodes;
mod objects;
mod queues;
mod recorder;
mod runs;
mod store;
mod workflows;

pub use error::{StoreError, StoreErrorKind};
pub use images::ImageRecord;
pub use invocations::{Invocation, NewInvocation};
pub use nodes::{NodeInfo, NodeState};
pub use objects::{
    AccessKey, BucketDeletion, BucketEvent, BucketInfo, BucketUsage, ConditionFailure,
    MultipartUpload, NULL_VERSION, NewBucketEvent, ObjectMeta, ObjectRemoval, ObjectVersion,
    ObjectWrite, Removal, UploadPart, VersionCursor, Versioning, WriteCondition, noncurrent_since,
};

/// The outcome of a conditional change: done, or refused because its
/// [`WriteCondition`] did not hold (nothing changed).
pub type Conditional<T> = Result<T, ConditionFailure>;
pub use queues::{Message, NewMessage, QueueStats, ReceivePolicy, SlotOutcome, SlotRecord};
pub use recorder::RunRecorder;
pub use store::{AppStore, ObjectStore, RunStore, Store, WorkStore, WorkflowStore};

/// The store's traits, for calling a `dyn Store`'s methods:
/// `use strato_store::prelude::*;`.
pub mod prelude {
    pub use crate::{AppStore, ObjectStore, RunStore, Store, WorkStore, WorkflowStore};
}
pub use runs::{
    APP_FUNCTIONS_SQL, LogEntry, LogFilter, RunFilter, USAGE_SQL, UsageFilter, UsageRow,
    column_count, runs_in_trace_sql,
};
pub use workflows::{
    BranchEnd, Execution, ExecutionEnd, ExecutionFilter, ExecutionStatus, HistoryEvent,
    NewExecution, NewHistoryEvent, WorkflowAdvance, WorkflowStep,
};

use serde_json::Value;
use strato_core::{LogLine, RevisionSpec, RunRecord};

/// A revision that is live for its app.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRevision {
    pub app: String,
    pub number: i64,
    pub spec: RevisionSpec,
    pub deployed_at_ms: i64,
}

/// One line of `strato apps`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppSummary {
    pub name: String,
    pub live_revision: i64,
    pub functions: usize,
    pub deployed_at_ms: i64,
}

/// A run that has finished, with everything it printed.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRun {
    pub record: RunRecord,
    pub logs: Vec<LogLine>,
    /// What commits with the record, in the same transaction: a crash
    /// never separates a run from what it settled or queued.
    pub effects: Vec<Effect>,
    /// The lease the run held on the work it completes. If the fence no
    /// longer holds at commit (the lease ran out and another node took
    /// the work over), the run is recorded as failed, superseded, and
    /// none of its effects apply: two nodes never both complete one piece
    /// of work.
    pub fence: Option<Fence>,
}

/// A node's lease on a piece of work as it was when the node took it: the
/// work is still this node's to complete only while its row names this
/// owner and this attempt. Claiming counts an attempt, so a takeover by
/// another node (or a later claim by the same one) moves the fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub work: WorkRef,
    pub owner: NodeId,
    /// The attempt the lease was taken for (ignored for task runs, whose
    /// lease row names only its owner).
    pub attempt: u32,
}

/// What a fenced run's record says instead of its own outcome.
pub const SUPERSEDED: &str = "superseded: this node's lease on the work ran out and another node took it over; this result was discarded";

/// A change that commits in the same transaction as a run's record (or a
/// task run's queueing or end, or a schedule slot): how durable work is
/// settled and how new work follows from it. One list, not a parameter
/// per feature; a new kind of durable work adds a variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A bucket event is delivered (or given up on): marked done.
    SettleEvent(i64),
    /// An async invocation is settled (success, or its last attempt):
    /// removed from the queue.
    SettleInvocation(String),
    /// New work (a destination, a scheduled firing), due at once,
    /// unleased.
    Enqueue(NewInvocation),
    /// A task run queued, unleased, for a claimer: its record (status
    /// `queued`), request and due time (a retry after its backoff).
    QueueTaskRun(TaskRunRequest),
    /// A message sent to a queue of `app`.
    SendMessage {
        app: String,
        queue: String,
        message: NewMessage,
    },
    /// A parked workflow step gets its answer (a function's result): it
    /// becomes due at once with `outcome` (see
    /// [`WorkflowStore::resume_workflow_step`]).
    ResumeWorkflowStep { id: String, outcome: Value },
    /// A Parallel branch or Map item ended (see [`BranchEnd`]); recorded
    /// once per child, however often its last step is repeated.
    EndWorkflowBranch(BranchEnd),
    /// A run's event (the start of its payload, at most
    /// [`MAX_KEPT_PAYLOAD`] bytes), kept for its page (see
    /// [`RunStore::run_payload`]); cleaned up with old runs.
    KeepPayload { run_id: String, body: Vec<u8> },
    /// An execution started with the step that starts it (a nested
    /// `states:startExecution`): its row, first events and steps, as
    /// [`WorkflowStore::start_execution`]; nothing if the name is taken.
    StartExecution(Box<NewExecution>),
}

/// The most of a run's payload that is kept.
pub const MAX_KEPT_PAYLOAD: usize = 64 << 10;

/// The id of a node (one `strato server` process and its successors on
/// the same data dir). Leases on durable work name their owner, so a node
/// starting up releases its own leases and never another node's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task run that has not ended: its record (queued or running) and
/// what to run (the engine's request, opaque to the store).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRunRequest {
    pub record: RunRecord,
    pub request: Value,
    /// When a queued run may start (a retry waits out its backoff); 0 =
    /// at once.
    pub due_ms: i64,
    /// CPUs it asks for, in thousandths (0: none reserved). Its memory is
    /// the record's `memory_limit_bytes`.
    pub cpus_milli: u32,
}

impl TaskRunRequest {
    /// The memory and CPUs the run needs.
    pub fn room(&self) -> TaskRoom {
        TaskRoom {
            memory_bytes: self.record.memory_limit_bytes,
            cpus_milli: self.cpus_milli,
        }
    }
}

/// What a node has free for task runs: a claim takes only runs that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRoom {
    pub memory_bytes: u64,
    /// Thousandths of a CPU.
    pub cpus_milli: u32,
}

impl TaskRoom {
    /// Room for any run.
    pub const ANY: TaskRoom = TaskRoom {
        memory_bytes: u64::MAX,
        cpus_milli: u32::MAX,
    };
}

/// A piece of leased durable work, named for a heartbeat: every kind of
/// work a node holds is renewed the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkRef {
    BucketEvent(i64),
    Invocation(String),
    TaskRun(String),
    WorkflowStep(String),
}

/// Wakeups a shared store sends when other nodes change it: work became
/// claimable (queued, retried, released; messages sent), or state changed
/// (deploys, buckets, keys). Each is a counter that goes up; a loop
/// subscribes and wakes on a change instead of waiting for its next poll
/// (polling stays, as the fallback).
#[derive(Debug)]
pub struct Wakeups {
    pub work: tokio::sync::watch::Sender<u64>,
    pub state: tokio::sync::watch::Sender<u64>,
}

impl Default for Wakeups {
    fn default() -> Wakeups {
        Wakeups {
            work: tokio::sync::watch::Sender::new(0),
            state: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Wakeups {
    /// Bumps a counter, waking its subscribers.
    pub fn bump(counter: &tokio::sync::watch::Sender<u64>) {
        counter.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// What [`AppStore::clean_up`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleanup {
    pub runs: u64,
    pub log_lines: u64,
    pub events: u64,
    pub messages: u64,
    /// Ended workflow executions, with their history.
    pub executions: u64,
}

/// Rows one cleanup statement deletes at most.
pub const CLEANUP_BATCH: i64 = 5_000;

/// The smallest run id of a run started at `ms` or later (run ids are `r`
/// and the start time in hex, then a counter): runs below it started
/// earlier.
pub fn run_id_bound(ms: i64) -> String {
    format!("r{:012x}", ms.max(0))
}

/// The same bound for executions (ids `x` and their start time in hex).
pub fn execution_id_bound(ms: i64) -> String {
    format!("x{:012x}", ms.max(0))
}
