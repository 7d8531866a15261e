//! The embedded store: one SQLite file in WAL mode behind the
//! [`strato_store::Store`] trait.
//!
//! SQLite is synchronous, so [`SqliteStore`] runs every call off the async
//! threads: object lookups (the S3 GET path) on two reader threads of its
//! own, fed by a channel (cheaper than a hop to tokio's blocking pool);
//! object writes straight to a group-commit thread that shares one fsync
//! among concurrent writers (`commit.rs`), awaited, so no thread waits for
//! the commit; run records on a background thread of lower priority, so
//! recording never competes with requests for a core; everything else on
//! tokio's blocking pool. The SQL
//! lives in one module per domain: `objects.rs` (buckets, objects, events,
//! uploads, keys), `runs.rs`, `tasks.rs`, `invocations.rs`, `queues.rs`
//! (messages, schedule slots); `schema.rs` migrates old databases.
//!
//! ```no_run
//! # async fn demo() -> Result<(), strato_store::StoreError> {
//! use std::sync::Arc;
//! use strato_store::Store;
//! let store: Arc<dyn Store> = Arc::new(strato_store_sqlite::SqliteStore::open("data/strato.db".as_ref())?);
//! let apps = store.list_apps().await?;
//! # Ok(()) }
//! ```

mod background;
mod cleanup;
mod commit;
mod db;
mod effects;
pub mod export;
mod images;
mod invocations;
mod leases;
mod nodes;
mod objects;
mod queues;
mod runs;
mod schema;
mod tasks;
mod versions;
mod workflows;

use db::{Db, db};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
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

/// The SQLite backend of [`Store`].
pub struct SqliteStore {
    db: Arc<Db>,
    background: background::Background,
    readers: background::Background,
}

impl SqliteStore {
    /// Opens (creating or migrating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let db = Arc::new(Db::open(path)?);
        Ok(SqliteStore {
            background: background::Background::spawn(db.clone(), "strato-sqlite-bg", 1, true),
            readers: background::Background::spawn(db.clone(), "strato-sqlite-read", 2, false),
            db,
        })
    }

    /// Runs `call` on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || call(&db))
            .await
            .map_err(|_| StoreError::closed())?
    }

    /// Runs `call` on the low-priority background thread.
    async fn background<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.background.run(call).await
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        let digest = digest.to_owned();
        self.blocking(move |db| db.put_component(&digest, size))
            .await
    }

    async fn has_component(&self, digest: &str) -> Result<bool, StoreError> {
        let digest = digest.to_owned();
        self.blocking(move |db| db.has_component(&digest)).await
    }

    async fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError> {
        let spec = spec.to_owned();
        self.blocking(move |db| db.deploy_revision(&spec, now_ms))
            .await
    }

    async fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError> {
        self.blocking(move |db| db.live_revisions()).await
    }

    async fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError> {
        let app = app.to_owned();
        self.blocking(move |db| db.live_revision(&app)).await
    }

    async fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError> {
        let app = app.to_owned();
        self.blocking(move |db| db.get_revision(&app, number)).await
    }

    async fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError> {
        self.blocking(move |db| db.list_apps()).await
    }

    async fn destroy_app(&self, app: &str) -> Result<bool, StoreError> {
        let app = app.to_owned();
        self.blocking(move |db| db.destroy_app(&app)).await
    }

    async fn record_runs(&self, runs: Arc<[FinishedRun]>) -> Result<(), StoreError> {
        self.background(move |db| db.record_runs(&runs)).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let filter = filter.to_owned();
        self.blocking(move |db| db.list_runs(&filter)).await
    }

    async fn runs_in_trace(
        &self,
        trace_id: &str,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let trace_id = trace_id.to_owned();
        self.blocking(move |db| db.runs_in_trace(&trace_id, limit))
            .await
    }

    async fn usage(
        &self,
        filter: &strato_store::UsageFilter,
    ) -> Result<Vec<strato_store::UsageRow>, StoreError> {
        let filter = filter.to_owned();
        self.blocking(move |db| db.usage(&filter)).await
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| db.get_run(&id)).await
    }

    async fn run_payload(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let run_id = run_id.to_owned();
        self.blocking(move |db| db.run_payload(&run_id)).await
    }

    async fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        let filter = filter.to_owned();
        self.blocking(move |db| db.read_logs(&filter)).await
    }

    async fn create_bucket(
        &self,
        name: &str,
        app: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let app = app.map(str::to_owned);
        self.blocking(move |db| db.create_bucket(&name, app.as_deref(), now_ms))
            .await
    }

    async fn set_bucket_app(&self, name: &str, app: Option<&str>) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let app = app.map(str::to_owned);
        self.blocking(move |db| db.set_bucket_app(&name, app.as_deref()))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError> {
        let name = name.to_owned();
        self.blocking(move |db| db.delete_bucket(&name)).await
    }

    async fn empty_bucket(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let name = name.to_owned();
        self.blocking(move |db| db.empty_bucket(&name)).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError> {
        self.blocking(move |db| db.list_buckets()).await
    }

    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.blocking(move |db| db.set_bucket_versioning(&name, versioning))
            .await
    }

    async fn set_bucket_config(
        &self,
        name: &str,
        kind: &str,
        value: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let (name, kind, value) = (name.to_owned(), kind.to_owned(), value.cloned());
        self.blocking(move |db| db.set_bucket_config(&name, &kind, value.as_ref()))
            .await
    }

    async fn set_object_headers(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        headers: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let (version_id, headers) = (version_id.map(str::to_owned), headers.clone());
        self.blocking(move |db| {
            db.set_object_headers(&bucket, &key, version_id.as_deref(), &headers)
        })
        .await
    }

    async fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError> {
        let name = name.to_owned();
        self.blocking(move |db| db.bucket_usage(&name)).await
    }

    async fn put_object(
        &self,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<ObjectWrite>, StoreError> {
        // Straight to the group-commit thread: no blocking-pool thread
        // waits for the commit.
        let (meta, condition, events) = (meta.clone(), condition.clone(), events.to_vec());
        self.db
            .group
            .write_async(move |tx| objects::put_object(tx, &meta, &condition, &events))
            .await
    }

    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>, StoreError> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), version_id.to_owned());
        self.readers
            .run(move |db| db.get_object_version(&bucket, &key, &id))
            .await
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &VersionCursor,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>, StoreError> {
        let (bucket, prefix, after) = (bucket.to_owned(), prefix.to_owned(), after.clone());
        self.blocking(move |db| db.list_object_versions(&bucket, &prefix, &after, limit))
            .await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.readers
            .run(move |db| db.get_object(&bucket, &key))
            .await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        removal: Removal,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<Option<ObjectRemoval>>, StoreError> {
        let (bucket, key, events) = (bucket.to_string(), key.to_string(), events.to_vec());
        let condition = condition.clone();
        self.db
            .group
            .write_async(move |tx| {
                objects::delete_object(tx, &bucket, &key, removal, &condition, &events)
            })
            .await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError> {
        let bucket = bucket.to_owned();
        let prefix = prefix.to_owned();
        let start_after = start_after.to_owned();
        self.blocking(move |db| db.list_objects(&bucket, &prefix, &start_after, limit))
            .await
    }

    async fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError> {
        let upload = upload.to_owned();
        self.blocking(move |db| db.create_upload(&upload)).await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<MultipartUpload>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| db.get_upload(&id)).await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>, StoreError> {
        let bucket = bucket.to_owned();
        let prefix = prefix.to_owned();
        self.blocking(move |db| db.list_uploads(&bucket, &prefix))
            .await
    }

    async fn put_part(&self, part: &UploadPart) -> Result<Option<String>, StoreError> {
        let part = part.to_owned();
        self.blocking(move |db| db.put_part(&part)).await
    }

    async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<UploadPart>, StoreError> {
        let upload_id = upload_id.to_owned();
        self.blocking(move |db| db.list_parts(&upload_id, after, limit))
            .await
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<(ObjectWrite, Vec<String>)>, StoreError> {
        let upload_id = upload_id.to_owned();
        let meta = meta.to_owned();
        let (condition, events) = (condition.clone(), events.to_owned());
        self.blocking(move |db| db.complete_upload(&upload_id, &meta, &condition, &events))
            .await
    }

    async fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let upload_id = upload_id.to_owned();
        self.blocking(move |db| db.abort_upload(&upload_id)).await
    }

    async fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        self.blocking(move |db| db.referenced_blobs()).await
    }

    async fn put_access_key(&self, key: &AccessKey) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| db.put_access_key(&key)).await
    }

    async fn revoke_access_key(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db| db.revoke_access_key(&id)).await
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKey>, StoreError> {
        self.blocking(move |db| db.list_access_keys()).await
    }

    async fn claim_bucket_events(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.claim_bucket_events(&owner, now_ms, lease_ms, limit))
            .await
    }

    async fn finish_bucket_events(&self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = ids.to_owned();
        self.blocking(move |db| db.finish_bucket_events(&ids)).await
    }

    async fn retry_bucket_event(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError> {
        let fence = fence.clone();
        self.blocking(move |db| db.retry_bucket_event(&fence, due_ms))
            .await
    }

    async fn release_leases(&self, owner: &NodeId) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.release_leases(&owner)).await
    }

    async fn pending_bucket_events(&self) -> Result<u64, StoreError> {
        self.blocking(move |db| db.pending_bucket_events()).await
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

    async fn append_logs(&self, run: &RunRecord, lines: &[LogLine]) -> Result<(), StoreError> {
        let run = run.to_owned();
        let lines = lines.to_owned();
        self.background(move |db| db.append_logs(&run, &lines))
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

    async fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| db.get_setting(&key)).await
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        let key = key.to_owned();
        let value = value.to_owned();
        self.blocking(move |db| db.put_setting(&key, &value)).await
    }

    async fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError> {
        let (key, value) = (key.to_owned(), value.clone());
        self.blocking(move |db| db.init_setting(&key, &value)).await
    }

    async fn heartbeat_node(&self, node: &NodeInfo) -> Result<NodeState, StoreError> {
        let node = node.clone();
        self.blocking(move |db| db.heartbeat_node(&node)).await
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        self.blocking(move |db| db.list_nodes()).await
    }

    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError> {
        let id = id.clone();
        self.blocking(move |db| db.set_node_state(&id, state)).await
    }

    async fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.blocking(move |db| db.live_revision_numbers()).await
    }

    async fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError> {
        let image = image.clone();
        self.blocking(move |db| db.put_image(&image)).await
    }

    async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        let name = name.to_string();
        self.blocking(move |db| db.get_image(&name)).await
    }

    async fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.blocking(move |db| db.list_images()).await
    }

    async fn delete_image(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.blocking(move |db| db.delete_image(&name)).await
    }

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

    async fn clean_up(
        &self,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<strato_store::Cleanup, StoreError> {
        self.background(move |db| db.clean_up(before_ms, now_ms))
            .await
    }
}

#[cfg(test)]
mod tests;
