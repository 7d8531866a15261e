//! [`strato_store::WorkStore`] on SQLite: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::WorkStore for SqliteStore {
    async fn release_leases(&self, owner: &NodeId) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.release_leases(&owner)).await
    }

    async fn renew_leases(
        &self,
        owner: &NodeId,
        work: &[WorkRef],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        let work = work.to_owned();
        self.blocking(move |db| db.renew_leases(&owner, &work, until_ms))
            .await
    }

    async fn enqueue_task_run(
        &self,
        run: &TaskRunRequest,
        effects: &[Effect],
        owner: &NodeId,
        lease_until_ms: i64,
    ) -> Result<(), StoreError> {
        let run = run.to_owned();
        let effects = effects.to_owned();
        let owner = owner.to_owned();
        self.blocking(move |db| db.enqueue_task_run(&run, &effects, &owner, lease_until_ms))
            .await
    }

    async fn claim_task_runs(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        room: TaskRoom,
    ) -> Result<Vec<TaskRunRequest>, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.claim_task_runs(&owner, now_ms, lease_ms, limit, room))
            .await
    }

    async fn start_task_run(&self, id: &str, started_at_ms: i64) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| db.start_task_run(&id, started_at_ms))
            .await
    }

    async fn finish_task_run(
        &self,
        finished: &RunRecord,
        logs: &[LogLine],
        effects: &[Effect],
    ) -> Result<(), StoreError> {
        let finished = finished.to_owned();
        let logs = logs.to_owned();
        let effects = effects.to_owned();
        self.blocking(move |db| db.finish_task_run(&finished, &logs, &effects))
            .await
    }

    async fn cancel_task_run(
        &self,
        finished: &RunRecord,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let finished = finished.to_owned();
        let effects = effects.to_owned();
        self.blocking(move |db| db.cancel_task_run(&finished, &effects, now_ms))
            .await
    }

    async fn unfinished_task_runs(&self) -> Result<Vec<TaskRunRequest>, StoreError> {
        self.blocking(move |db| db.unfinished_task_runs()).await
    }

    async fn enqueue_invocations(
        &self,
        new: &[NewInvocation],
        now_ms: i64,
        lease_ms: i64,
        owner: &NodeId,
    ) -> Result<(), StoreError> {
        let new = new.to_owned();
        let owner = owner.to_owned();
        self.blocking(move |db| db.enqueue_invocations(&new, now_ms, lease_ms, &owner))
            .await
    }

    async fn claim_invocations(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Invocation>, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.claim_invocations(&owner, now_ms, lease_ms, limit))
            .await
    }

    async fn finish_invocation(&self, fence: &Fence) -> Result<bool, StoreError> {
        let fence = fence.clone();
        self.blocking(move |db| db.finish_invocation(&fence)).await
    }

    async fn retry_invocation(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError> {
        let fence = fence.clone();
        self.blocking(move |db| db.retry_invocation(&fence, due_ms))
            .await
    }

    async fn pending_invocations(&self) -> Result<u64, StoreError> {
        self.blocking(move |db| db.pending_invocations()).await
    }

    async fn invocation_pending(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| db.invocation_pending(&id)).await
    }

    async fn send_messages(
        &self,
        app: &str,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let app = app.to_owned();
        let queue = queue.to_owned();
        let messages = messages.to_owned();
        self.blocking(move |db| db.send_messages(&app, &queue, &messages, now_ms))
            .await
    }

    async fn receive_messages(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
        max: usize,
        policy: &ReceivePolicy,
    ) -> Result<Vec<Message>, StoreError> {
        let app = app.to_owned();
        let queue = queue.to_owned();
        let policy = policy.to_owned();
        self.blocking(move |db| db.receive_messages(&app, &queue, now_ms, max, &policy))
            .await
    }

    async fn delete_messages(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        let app = app.to_owned();
        let queue = queue.to_owned();
        let receipts = receipts.to_owned();
        self.blocking(move |db| db.delete_messages(&app, &queue, &receipts))
            .await
    }

    async fn change_message_visibility(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
        visible_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let app = app.to_owned();
        let queue = queue.to_owned();
        let receipts = receipts.to_owned();
        self.blocking(move |db| db.change_message_visibility(&app, &queue, &receipts, visible_ms))
            .await
    }

    async fn purge_queue(&self, app: &str, queue: &str) -> Result<u64, StoreError> {
        let app = app.to_owned();
        let queue = queue.to_owned();
        self.blocking(move |db| db.purge_queue(&app, &queue)).await
    }

    async fn queue_stats(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
    ) -> Result<QueueStats, StoreError> {
        let app = app.to_owned();
        let queue = queue.to_owned();
        self.blocking(move |db| db.queue_stats(&app, &queue, now_ms))
            .await
    }

    async fn redrive_messages(
        &self,
        app: &str,
        dead_letter: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let app = app.to_owned();
        let dead_letter = dead_letter.to_owned();
        self.blocking(move |db| db.redrive_messages(&app, &dead_letter, now_ms))
            .await
    }

    async fn record_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        outcome: SlotOutcome,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let app = app.to_owned();
        let schedule = schedule.to_owned();
        let effects = effects.to_owned();
        self.blocking(move |db| {
            db.record_schedule_slot(&app, &schedule, slot_ms, outcome, &effects, now_ms)
        })
        .await
    }

    async fn fire_waiting_slot(
        &self,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let app = app.to_owned();
        let schedule = schedule.to_owned();
        let effects = effects.to_owned();
        self.blocking(move |db| db.fire_waiting_slot(&app, &schedule, slot_ms, &effects, now_ms))
            .await
    }

    async fn latest_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
    ) -> Result<Option<SlotRecord>, StoreError> {
        let app = app.to_owned();
        let schedule = schedule.to_owned();
        self.blocking(move |db| db.latest_schedule_slot(&app, &schedule))
            .await
    }
}
