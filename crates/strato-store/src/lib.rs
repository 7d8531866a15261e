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
    /// [`Store::resume_workflow_step`]).
    ResumeWorkflowStep { id: String, outcome: Value },
    /// A Parallel branch or Map item ended (see [`BranchEnd`]); recorded
    /// once per child, however often its last step is repeated.
    EndWorkflowBranch(BranchEnd),
    /// A run's event (the start of its payload, at most
    /// [`MAX_KEPT_PAYLOAD`] bytes), kept for its page (see
    /// [`Store::run_payload`]); cleaned up with old runs.
    KeepPayload { run_id: String, body: Vec<u8> },
    /// An execution started with the step that starts it (a nested
    /// `states:startExecution`): its row, first events and steps, as
    /// [`Store::start_execution`]; nothing if the name is taken.
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

/// Domain-level storage. Every backend passes the [`conformance`] suite.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Other nodes' changes, if others share this store (none for an
    /// embedded store: this node makes every change itself).
    fn wakeups(&self) -> Option<std::sync::Arc<Wakeups>> {
        None
    }
    /// Records that a component's bytes are stored under `digest`.
    async fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError>;
    async fn has_component(&self, digest: &str) -> Result<bool, StoreError>;
    /// Stores `spec` as the next immutable revision of its app and makes it
    /// live, creating the app if needed. Returns the revision number.
    async fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError>;
    /// The live revision of every app.
    async fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError>;
    async fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError>;
    /// Revision `number` of `app`, live or not (what an execution started
    /// on it keeps running); None once the app is destroyed.
    async fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError>;
    async fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError>;
    /// Removes an app and its revisions (runs and logs stay as history).
    /// Returns false if there was no such app.
    async fn destroy_app(&self, app: &str) -> Result<bool, StoreError>;
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
    /// Creates a bucket owned by `app`; false if it already existed.
    async fn create_bucket(
        &self,
        name: &str,
        app: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Sets (or clears) the app owning a bucket; false if there is none.
    async fn set_bucket_app(&self, name: &str, app: Option<&str>) -> Result<bool, StoreError>;
    /// Deletes a bucket with no objects, aborting its unfinished uploads
    /// in the same transaction.
    async fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError>;
    /// Removes every object of a bucket (no events: the bucket is going
    /// away) and returns their blobs and those of its unfinished uploads.
    async fn empty_bucket(&self, name: &str) -> Result<Vec<String>, StoreError>;
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError>;
    /// Sets a bucket's versioning; false if there is no such bucket.
    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<bool, StoreError>;
    /// Sets (or, with `None`, removes) one of a bucket's configuration
    /// documents; false if there is no such bucket.
    async fn set_bucket_config(
        &self,
        name: &str,
        kind: &str,
        value: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError>;
    /// Replaces the stored headers of an object: the visible one, or one
    /// version by id. False if there is no such object (or it is a delete
    /// marker).
    async fn set_object_headers(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        headers: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, StoreError>;
    /// What a bucket holds: objects, versions and their bytes.
    async fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError>;
    /// Makes `meta` the visible version of its key and, in the same
    /// transaction, records `events`, if `condition` holds for the key's
    /// visible object then. With a version id, the object it replaces is
    /// kept as an older version; without (the `null` version), the key's
    /// `null` version is replaced. Durable when it returns.
    async fn put_object(
        &self,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<ObjectWrite>, StoreError>;
    /// The key's visible object (none when a delete marker hides it).
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// One version of a key by id ([`NULL_VERSION`] for the null one).
    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>, StoreError>;
    /// Does `removal` to a key and, in the same transaction, records
    /// `events` (only if something changed), if `condition` holds for the
    /// visible object. `None` when there was nothing to remove. Durable
    /// when it returns.
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        removal: Removal,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<Option<ObjectRemoval>>, StoreError>;
    /// Every version and delete marker of keys under `prefix` after
    /// `after`: keys in byte order, each key's versions newest first.
    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &VersionCursor,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>, StoreError>;
    /// Objects of `bucket` whose keys start with `prefix` and sort after
    /// `start_after`, in key (byte) order.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError>;
    async fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError>;
    async fn get_upload(&self, id: &str) -> Result<Option<MultipartUpload>, StoreError>;
    /// Unfinished uploads of a bucket under `prefix`, by key then start.
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>, StoreError>;
    /// Stores a part, returning the blob of the part it replaced.
    async fn put_part(&self, part: &UploadPart) -> Result<Option<String>, StoreError>;
    /// Parts numbered above `after`, in order.
    async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<UploadPart>, StoreError>;
    /// Ends an upload: makes `meta` visible with `events` and forgets the
    /// upload, in one transaction. Returns the write and the parts' blobs.
    async fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<(ObjectWrite, Vec<String>)>, StoreError>;
    /// Forgets an upload; returns its parts' blobs, or `None` if unknown.
    async fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Every blob an object or an upload part refers to.
    async fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError>;
    async fn put_access_key(&self, key: &AccessKey) -> Result<(), StoreError>;
    /// Removes a key; false if there was none.
    async fn revoke_access_key(&self, id: &str) -> Result<bool, StoreError>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKey>, StoreError>;
    /// Claims up to `limit` undelivered events that are due and not leased
    /// (or whose lease ran out), leasing them to `owner` until
    /// `now_ms + lease_ms` and counting an attempt.
    async fn claim_bucket_events(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError>;
    /// Marks events delivered (or given up on).
    async fn finish_bucket_events(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Releases an event to be claimed again at `due_ms`, if `fence`
    /// (naming it) still holds; whether it did.
    async fn retry_bucket_event(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError>;
    /// Voids the leases `owner` holds on bucket events, invocations and
    /// task runs, so that work is claimed again at once (at start: a
    /// node's leases from before a crash or restart; other nodes' leases
    /// are left alone).
    async fn release_leases(&self, owner: &NodeId) -> Result<(), StoreError>;
    /// Extends the leases `owner` holds on `work` still in hand (its
    /// heartbeat) to `until_ms`. Work whose lease another node took is
    /// left alone.
    async fn renew_leases(
        &self,
        owner: &NodeId,
        work: &[WorkRef],
        until_ms: i64,
    ) -> Result<(), StoreError>;
    /// Events not yet finished (for stats and tests).
    async fn pending_bucket_events(&self) -> Result<u64, StoreError>;
    /// Makes a task run durable as queued (its record and its request)
    /// with `effects` (the bucket event it answers settled, say), in one
    /// transaction, leased to `owner` (who runs it at once) until
    /// `lease_until_ms`.
    async fn enqueue_task_run(
        &self,
        run: &TaskRunRequest,
        effects: &[Effect],
        owner: &NodeId,
        lease_until_ms: i64,
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` unfinished task runs that are due and not
    /// leased (or whose lease ran out: the node running them is gone),
    /// leasing them to `owner` until `now_ms + lease_ms`. A claimed run
    /// still marked running was interrupted. Queued runs needing more
    /// memory or CPUs than `room` (what the claimer has free) are left for
    /// a node with room.
    async fn claim_task_runs(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        room: TaskRoom,
    ) -> Result<Vec<TaskRunRequest>, StoreError>;
    /// Marks a queued task run running.
    async fn start_task_run(&self, id: &str, started_at_ms: i64) -> Result<(), StoreError>;
    /// Adds output lines of a run still going.
    async fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError>;
    /// Records a task run's end with its last lines and forgets its
    /// request, with `effects` (its retry, its destination) in the same
    /// transaction.
    async fn finish_task_run(
        &self,
        finished: &RunRecord,
        logs: &[LogLine],
        effects: &[Effect],
    ) -> Result<(), StoreError>;
    /// Ends a task run no node holds (queued, its lease free: a retry
    /// waiting for its time, a run waiting for room) as `finished`, with
    /// `effects`, in one transaction; false, with nothing written, if a
    /// node holds it at `now_ms` or it has ended. What cancelling a queued
    /// run does: it and a claim never both take the run.
    async fn cancel_task_run(
        &self,
        finished: &RunRecord,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The payload a run's record kept ([`Effect::KeepPayload`]): the
    /// event of an event-driven run, a task run's overrides.
    async fn run_payload(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Task runs queued or running, oldest first, whoever holds them.
    async fn unfinished_task_runs(&self) -> Result<Vec<TaskRunRequest>, StoreError>;
    /// Queues async invocations durably. Those due now are stored leased
    /// to `owner` for `lease_ms` with their first attempt counted (the
    /// caller runs them at once); 0 stores them unleased for a claimer.
    async fn enqueue_invocations(
        &self,
        new: &[NewInvocation],
        now_ms: i64,
        lease_ms: i64,
        owner: &NodeId,
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` due invocations, unleased or with an expired
    /// lease, best rank first (due time + priority head start), leasing
    /// them to `owner` and counting an attempt.
    async fn claim_invocations(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Invocation>, StoreError>;
    /// Removes an invocation settled without a run (a webhook delivered,
    /// a task queued), if `fence` (naming it) still holds; whether it did.
    async fn finish_invocation(&self, fence: &Fence) -> Result<bool, StoreError>;
    /// Releases an invocation to be claimed again at `due_ms`, if `fence`
    /// (naming it) still holds; whether it did.
    async fn retry_invocation(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError>;

    /// Invocations not yet settled.
    async fn pending_invocations(&self) -> Result<u64, StoreError>;
    /// Whether an invocation is still queued or running.
    async fn invocation_pending(&self, id: &str) -> Result<bool, StoreError>;
    /// Adds messages to a queue, durable when it returns.
    async fn send_messages(
        &self,
        app: &str,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Claims up to `max` visible messages, oldest first: each gets a new
    /// receipt and stays hidden for the visibility timeout. In the same
    /// transaction, expired messages are dropped and those received
    /// `max_receives` times move to the dead-letter queue.
    async fn receive_messages(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
        max: usize,
        policy: &ReceivePolicy,
    ) -> Result<Vec<Message>, StoreError>;
    /// Deletes messages by receipt; false for a receipt that is not the
    /// message's current one (or no message).
    async fn delete_messages(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
    ) -> Result<Vec<bool>, StoreError>;
    /// Makes received messages visible again at `visible_ms` (also the
    /// heartbeat that keeps a long delivery's messages hidden).
    async fn change_message_visibility(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
        visible_ms: i64,
    ) -> Result<Vec<bool>, StoreError>;
    /// Deletes every message of a queue; returns how many.
    async fn purge_queue(&self, app: &str, queue: &str) -> Result<u64, StoreError>;
    async fn queue_stats(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
    ) -> Result<QueueStats, StoreError>;
    /// Moves the messages of a dead-letter queue back to the queues they
    /// came from, visible at once with their receive counts reset.
    async fn redrive_messages(
        &self,
        app: &str,
        dead_letter: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Records a schedule's slot with `outcome` and, only if the slot was
    /// not recorded before, applies `effects` (the work the firing queues)
    /// in the same transaction. Returns whether this call recorded it
    /// (exactly once per slot).
    async fn record_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        outcome: SlotOutcome,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Fires a slot recorded as waiting, applying `effects`; false if it
    /// was not waiting (already fired).
    async fn fire_waiting_slot(
        &self,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The latest recorded slot of a schedule.
    async fn latest_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
    ) -> Result<Option<SlotRecord>, StoreError>;
    /// Small key/value settings (e.g. ids of generated credentials).
    async fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError>;
    async fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError>;
    /// Stores `value` under `key` unless the key has a value already, and
    /// returns the value kept: the first writer wins, however many race
    /// (nodes of a cluster agreeing on a shared secret at start).
    async fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError>;
    /// Writes a node's row (its heartbeat). The stored state is kept
    /// unless the row is new, or is another process's (`started_ms`
    /// differs: the node restarted), or `node.state` is `Left` (a node
    /// leaving says so itself): then it becomes `node.state`. Returns the
    /// stored state, so a node learns it was asked to drain.
    async fn heartbeat_node(&self, node: &NodeInfo) -> Result<NodeState, StoreError>;
    /// Every node that has a row, by id.
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError>;
    /// Sets a node's state; false if there is no such node.
    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError>;
    /// The live revision number of every app (cheap: what a node compares
    /// with what it runs to notice other nodes' deploys).
    async fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Points `image.name` at `image.id` (replacing what it pointed at):
    /// called once the image's blobs are stored where every node reads.
    async fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError>;
    /// The catalog entry of a (normalized) name.
    async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError>;
    /// Every catalog entry, by name.
    async fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError>;
    /// Removes a name; false if there was none.
    async fn delete_image(&self, name: &str) -> Result<bool, StoreError>;
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
    /// Removes history older than `before_ms` (finished runs, log lines,
    /// delivered bucket events) and queue messages past their retention
    /// as of `now_ms`. Deletes in small batches, oldest first through the
    /// primary keys (or a partial index), so it neither holds locks long
    /// nor scans whole tables; deleting at the old end of an index leaves
    /// whole pages for reuse rather than half-empty ones.
    async fn clean_up(&self, before_ms: i64, now_ms: i64) -> Result<Cleanup, StoreError>;
}

/// What [`Store::clean_up`] removed.
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
