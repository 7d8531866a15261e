//! Durable work and its leases: task runs, async invocations, queue messages, schedule slots.

use crate::*;

/// Durable work and its leases: task runs, async invocations, queue messages, schedule slots. Part of [`crate::Store`].
#[async_trait::async_trait]
pub trait WorkStore: Send + Sync + 'static {
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
}
