//! The cluster store: PostgreSQL behind the [`strato_store::Store`] trait,
//! for several Strato nodes sharing one database.
//!
//! [`PostgresStore::connect`] opens a pool of connections (tokio-postgres
//! through deadpool; every statement prepared once per connection) and
//! applies the numbered migrations of `schema.rs` under an advisory lock.
//! The SQL lives in one module per domain, mirroring the SQLite backend:
//! `apps.rs` (apps, revisions, components, settings), `buckets.rs`
//! (buckets, access keys), `objects.rs` and `versions.rs` (objects,
//! uploads, the event outbox), `record.rs` (batches of finished runs), `runs.rs` (runs, logs, task runs), `work.rs`
//! (invocations, leases, completion effects), `queues.rs` (messages,
//! schedule slots). Claims take rows with `FOR UPDATE SKIP LOCKED`, so
//! nodes claiming at once neither wait for each other nor take the same
//! row; writes to one object key serialize on an advisory lock of the key.
//!
//! ```no_run
//! # async fn demo() -> Result<(), strato_store::StoreError> {
//! use std::sync::Arc;
//! use strato_store::Store;
//! let store: Arc<dyn Store> = Arc::new(
//!     strato_store_postgres::PostgresStore::connect("postgres://strato@127.0.0.1/strato").await?,
//! );
//! let apps = store.list_apps().await?;
//! # Ok(()) }
//! ```

mod apps;
mod buckets;
mod cleanup;
mod db;
mod images;
mod import;
mod nodes;
mod notify;
mod objects;
mod queues;
mod record;
mod runs;
mod schema;
mod tasks;
pub mod testkit;
mod versions;
mod work;
mod workflows;

use db::{client, execute, pg, query_opt};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Transaction};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use strato_core::{LogLine, RevisionSpec, RunRecord};
use strato_store::{
    AccessKey, AppSummary, BucketDeletion, BucketEvent, BucketInfo, BucketUsage, Conditional,
    Effect, FinishedRun, Invocation, LiveRevision, LogEntry, LogFilter, Message, MultipartUpload,
    NewBucketEvent, NewInvocation, NewMessage, NodeId, ObjectMeta, ObjectRemoval, ObjectVersion,
    ObjectWrite, QueueStats, ReceivePolicy, Removal, RunFilter, SlotOutcome, SlotRecord, Store,
    StoreError, TaskRoom, TaskRunRequest, UploadPart, VersionCursor, Versioning, WorkRef,
    WriteCondition,
};
use strato_store::{
    Execution, ExecutionEnd, ExecutionFilter, HistoryEvent, NewHistoryEvent, WorkflowAdvance,
    WorkflowStep,
};
use strato_store::{Fence, ImageRecord, NodeInfo, NodeState};

/// Connections a node keeps open at most.
const POOL_SIZE: usize = 16;

/// The PostgreSQL backend of [`Store`].
pub struct PostgresStore {
    pool: Pool,
    /// Changes to tell other nodes about (see `notify.rs`).
    outbox: std::sync::Arc<notify::Outbox>,
    /// Other nodes' changes.
    wakeups: std::sync::Arc<strato_store::Wakeups>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`
    /// or a key=value string) and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(pg("reading the PostgreSQL connection string"))?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(pg("setting up the PostgreSQL pool"))?;
        let mut first = client(&pool).await?;
        schema::migrate(&mut first).await?;
        drop(first);
        let outbox = std::sync::Arc::new(notify::Outbox::default());
        let wakeups = std::sync::Arc::new(strato_store::Wakeups::default());
        tokio::spawn(notify::run_sender(pool.clone(), outbox.clone()));
        tokio::spawn(notify::run_listener(config, wakeups.clone()));
        Ok(PostgresStore {
            pool,
            outbox,
            wakeups,
        })
    }

    async fn client(&self) -> Result<Object, StoreError> {
        client(&self.pool).await
    }
}

async fn begin<'a>(
    client: &'a mut Object,
    doing: &'static str,
) -> Result<Transaction<'a>, StoreError> {
    client.transaction().await.map_err(pg(doing))
}

async fn commit(tx: Transaction<'_>, doing: &'static str) -> Result<(), StoreError> {
    tx.commit().await.map_err(pg(doing))
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn wakeups(&self) -> Option<std::sync::Arc<strato_store::Wakeups>> {
        Some(self.wakeups.clone())
    }

    async fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        apps::put_component(self, digest, size).await
    }

    async fn has_component(&self, digest: &str) -> Result<bool, StoreError> {
        apps::has_component(self, digest).await
    }

    async fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError> {
        apps::deploy_revision(self, spec, now_ms).await
    }

    async fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError> {
        apps::live_revisions(self).await
    }

    async fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError> {
        apps::live_revision(self, app).await
    }

    async fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError> {
        apps::get_revision(self, app, number).await
    }

    async fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError> {
        apps::list_apps(self).await
    }

    async fn destroy_app(&self, app: &str) -> Result<bool, StoreError> {
        apps::destroy_app(self, app).await
    }

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

    async fn create_bucket(
        &self,
        name: &str,
        app: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        buckets::create_bucket(self, name, app, now_ms).await
    }

    async fn set_bucket_app(&self, name: &str, app: Option<&str>) -> Result<bool, StoreError> {
        buckets::set_bucket_app(self, name, app).await
    }

    async fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError> {
        buckets::delete_bucket(self, name).await
    }

    async fn empty_bucket(&self, name: &str) -> Result<Vec<String>, StoreError> {
        buckets::empty_bucket(self, name).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError> {
        buckets::list_buckets(self).await
    }

    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<bool, StoreError> {
        buckets::set_bucket_versioning(self, name, versioning).await
    }

    async fn set_bucket_config(
        &self,
        name: &str,
        kind: &str,
        value: Option<&Value>,
    ) -> Result<bool, StoreError> {
        buckets::set_bucket_config(self, name, kind, value).await
    }

    async fn set_object_headers(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        headers: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "changing an object's headers").await?;
        let changed = objects::set_headers(&tx, bucket, key, version_id, headers).await?;
        commit(tx, "changing an object's headers").await?;
        Ok(changed)
    }

    async fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError> {
        versions::usage(&self.client().await?, name).await
    }

    async fn put_object(
        &self,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<ObjectWrite>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "starting an object write").await?;
        let write = objects::put_object(&tx, meta, condition, events).await?;
        if write.is_ok() {
            commit(tx, "committing an object").await?;
        }
        Ok(write)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        objects::get_object(&self.client().await?, bucket, key).await
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>, StoreError> {
        // One snapshot for the visible object and the history.
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg("reading a version"))?;
        versions::get_version(&tx, bucket, key, version_id).await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        removal: Removal,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<Option<ObjectRemoval>>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "starting a delete").await?;
        let removal = objects::delete_object(&tx, bucket, key, removal, condition, events).await?;
        if removal.is_ok() {
            commit(tx, "committing a delete").await?;
        }
        Ok(removal)
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &VersionCursor,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>, StoreError> {
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg("listing object versions"))?;
        versions::list_versions(&tx, bucket, prefix, after, limit).await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError> {
        objects::list_objects(&self.client().await?, bucket, prefix, start_after, limit).await
    }

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError> {
        objects::create_upload(&self.client().await?, upload).await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<MultipartUpload>, StoreError> {
        objects::get_upload(&self.client().await?, id).await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>, StoreError> {
        objects::list_uploads(&self.client().await?, bucket, prefix).await
    }

    async fn put_part(&self, part: &UploadPart) -> Result<Option<String>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "storing an upload part").await?;
        let replaced = objects::put_part(&tx, part).await?;
        commit(tx, "storing an upload part").await?;
        Ok(replaced)
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<UploadPart>, StoreError> {
        objects::list_parts(&self.client().await?, upload_id, after, limit).await
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<(ObjectWrite, Vec<String>)>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "completing a multipart upload").await?;
        // The condition is checked first: a refused completion leaves the
        // upload in progress, as S3 does.
        let write = match objects::put_object(&tx, meta, condition, events).await? {
            Ok(write) => write,
            Err(failure) => return Ok(Err(failure)),
        };
        let parts = objects::drop_upload(&tx, upload_id)
            .await?
            .ok_or(StoreError::conflict(
                "multipart upload",
                format!("{upload_id} is no longer in progress"),
            ))?;
        commit(tx, "completing a multipart upload").await?;
        Ok(Ok((write, parts)))
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "aborting a multipart upload").await?;
        let parts = objects::drop_upload(&tx, upload_id).await?;
        commit(tx, "aborting a multipart upload").await?;
        Ok(parts)
    }

    async fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError> {
        objects::referenced_blobs(&self.client().await?).await
    }

    async fn put_access_key(&self, key: &AccessKey) -> Result<(), StoreError> {
        buckets::put_access_key(self, key).await
    }

    async fn revoke_access_key(&self, id: &str) -> Result<bool, StoreError> {
        buckets::revoke_access_key(self, id).await
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKey>, StoreError> {
        buckets::list_access_keys(self).await
    }

    async fn claim_bucket_events(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError> {
        let c = self.client().await?;
        objects::claim_bucket_events(&c, owner.as_str(), now_ms, lease_ms, limit).await
    }

    async fn finish_bucket_events(&self, ids: &[i64]) -> Result<(), StoreError> {
        let c = self.client().await?;
        execute(
            &c,
            "finishing bucket events",
            "UPDATE bucket_events SET done = TRUE, done_ms = $2 WHERE id = ANY($1)",
            &[&ids, &now_ms()],
        )
        .await
        .map(drop)
    }

    async fn retry_bucket_event(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError> {
        let WorkRef::BucketEvent(id) = fence.work else {
            return Ok(false);
        };
        let mut c = self.client().await?;
        let tx = begin(&mut c, "scheduling a bucket event retry").await?;
        if !work::fence_holds(&tx, fence).await? {
            return Ok(false);
        }
        execute(
            &tx,
            "scheduling a bucket event retry",
            "UPDATE bucket_events SET due_ms = $2, lease_until_ms = 0 WHERE id = $1 AND NOT done",
            &[&id, &due_ms],
        )
        .await?;
        commit(tx, "scheduling a bucket event retry").await?;
        Ok(true)
    }

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

    async fn pending_bucket_events(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        work::count(&c, "SELECT COUNT(*) FROM bucket_events WHERE NOT done").await
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

    async fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "starting to append log lines").await?;
        runs::insert_logs(&tx, run, lines).await?;
        commit(tx, "committing log lines").await
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

    async fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        apps::get_setting(self, key).await
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        apps::put_setting(self, key, value).await
    }

    async fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError> {
        apps::init_setting(self, key, value).await
    }

    async fn heartbeat_node(&self, node: &NodeInfo) -> Result<NodeState, StoreError> {
        nodes::heartbeat(&self.client().await?, node).await
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        nodes::list(&self.client().await?).await
    }

    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let changed = execute(
            &c,
            "changing a node's state",
            "UPDATE nodes SET state = $2 WHERE id = $1",
            &[&id.as_str(), &state.as_str()],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn clean_up(
        &self,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<strato_store::Cleanup, StoreError> {
        cleanup::clean_up(&self.client().await?, before_ms, now_ms).await
    }

    async fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        apps::live_revision_numbers(self).await
    }

    async fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError> {
        images::put(&self.client().await?, image).await
    }

    async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        images::get(&self.client().await?, name).await
    }

    async fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        images::list(&self.client().await?).await
    }

    async fn delete_image(&self, name: &str) -> Result<bool, StoreError> {
        images::delete(&self.client().await?, name).await
    }

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

impl PostgresStore {
    async fn write_slot(
        &self,
        write: queues::SlotWrite,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = begin(&mut c, "recording a schedule slot").await?;
        let wrote = queues::write_slot(&tx, write, app, schedule, slot_ms, effects, now_ms).await?;
        commit(tx, "recording a schedule slot").await?;
        if wrote && effects.iter().any(queues_work) {
            self.outbox.work();
        }
        Ok(wrote)
    }
}

/// Whether an effect leaves work for any node to claim.
fn queues_work(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::Enqueue(_)
            | Effect::QueueTaskRun(_)
            | Effect::SendMessage { .. }
            | Effect::ResumeWorkflowStep { .. }
            | Effect::EndWorkflowBranch(_)
            | Effect::StartExecution(_)
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
