//! [`strato_store::WorkStore`] on PostgreSQL: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::WorkStore for PostgresStore {
    async fn release_leases(&self, owner: &NodeId) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "releasing leases").await?;
        work::release_leases(&tx, owner.as_str()).await?;
        commit(tx, "releasing leases").await?;
        self.outbox.work();
        Ok(())
    }

    async fn renew_leases(
        &self,
        owner: &NodeId,
        work: &[WorkRef],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        work::renew_leases(&self.client().await?, owner.as_str(), work, until_ms).await
    }

    async fn enqueue_task_run(
        &self,
        run: &TaskRunRequest,
        effects: &[Effect],
        owner: &NodeId,
        lease_until_ms: i64,
    ) -> Result<(), StoreError> {
        tasks::enqueue(self, run, effects, owner, lease_until_ms).await
    }

    async fn claim_task_runs(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        room: TaskRoom,
    ) -> Result<Vec<TaskRunRequest>, StoreError> {
        tasks::claim(self, owner, now_ms, lease_ms, limit, room).await
    }

    async fn start_task_run(&self, id: &str, started_at_ms: i64) -> Result<(), StoreError> {
        tasks::start(self, id, started_at_ms).await
    }

    async fn finish_task_run(
        &self,
        finished: &RunRecord,
        logs: &[LogLine],
        effects: &[Effect],
    ) -> Result<(), StoreError> {
        tasks::finish(self, finished, logs, effects).await
    }

    async fn cancel_task_run(
        &self,
        finished: &RunRecord,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        tasks::cancel(self, finished, effects, now_ms).await
    }

    async fn unfinished_task_runs(&self) -> Result<Vec<TaskRunRequest>, StoreError> {
        tasks::select_task_runs(&self.client().await?, "ORDER BY r.id", &[]).await
    }

    async fn enqueue_invocations(
        &self,
        new: &[NewInvocation],
        now_ms: i64,
        lease_ms: i64,
        owner: &NodeId,
    ) -> Result<(), StoreError> {
        work::insert(&self.client().await?, new, now_ms, lease_ms, owner.as_str()).await?;
        if lease_ms == 0 || new.iter().any(|n| n.due_ms > now_ms) {
            self.outbox.work();
        }
        Ok(())
    }

    async fn claim_invocations(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Invocation>, StoreError> {
        work::claim(
            &self.client().await?,
            owner.as_str(),
            now_ms,
            lease_ms,
            limit,
        )
        .await
    }

    async fn finish_invocation(&self, fence: &Fence) -> Result<bool, StoreError> {
        let WorkRef::Invocation(id) = &fence.work else {
            return Ok(false);
        };
        let mut c = self.client().await?;
        let tx = begin(&mut c, "settling an invocation").await?;
        if !work::fence_holds(&tx, fence).await? {
            return Ok(false);
        }
        work::settle(&tx, id).await?;
        commit(tx, "settling an invocation").await?;
        Ok(true)
    }

    async fn retry_invocation(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError> {
        let WorkRef::Invocation(id) = &fence.work else {
            return Ok(false);
        };
        let mut c = self.client().await?;
        let tx = begin(&mut c, "scheduling an invocation retry").await?;
        if !work::fence_holds(&tx, fence).await? {
            return Ok(false);
        }
        work::retry(&tx, id, due_ms).await?;
        commit(tx, "scheduling an invocation retry").await?;
        Ok(true)
    }

    async fn pending_invocations(&self) -> Result<u64, StoreError> {
        work::count(&self.client().await?, "SELECT COUNT(*) FROM invocations").await
    }

    async fn invocation_pending(&self, id: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            "looking up an invocation",
            "SELECT 1 FROM invocations WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(row.is_some())
    }

    async fn send_messages(
        &self,
        app: &str,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        queues::insert_messages(&self.client().await?, app, queue, messages, now_ms).await?;
        self.outbox.work();
        Ok(())
    }

    async fn receive_messages(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
        max: usize,
        policy: &ReceivePolicy,
    ) -> Result<Vec<Message>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "receiving messages").await?;
        let messages = queues::receive(&tx, app, queue, now_ms, max, policy).await?;
        commit(tx, "receiving messages").await?;
        Ok(messages)
    }

    async fn delete_messages(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        queues::by_receipt(&self.client().await?, app, queue, receipts, None).await
    }

    async fn change_message_visibility(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
        visible_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        queues::by_receipt(
            &self.client().await?,
            app,
            queue,
            receipts,
            Some(visible_ms),
        )
        .await
    }

    async fn purge_queue(&self, app: &str, queue: &str) -> Result<u64, StoreError> {
        queues::purge(&self.client().await?, app, queue).await
    }

    async fn queue_stats(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
    ) -> Result<QueueStats, StoreError> {
        queues::stats(&self.client().await?, app, queue, now_ms).await
    }

    async fn redrive_messages(
        &self,
        app: &str,
        dead_letter: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        queues::redrive(&self.client().await?, app, dead_letter, now_ms).await
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
        let write = queues::SlotWrite::Record(outcome);
        self.write_slot(write, app, schedule, slot_ms, effects, now_ms)
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
        let write = queues::SlotWrite::FireWaiting;
        self.write_slot(write, app, schedule, slot_ms, effects, now_ms)
            .await
    }

    async fn latest_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
    ) -> Result<Option<SlotRecord>, StoreError> {
        queues::latest_slot(&self.client().await?, app, schedule).await
    }
}
