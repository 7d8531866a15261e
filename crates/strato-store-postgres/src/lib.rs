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
mod store;
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

impl Store for PostgresStore {
    fn wakeups(&self) -> Option<std::sync::Arc<strato_store::Wakeups>> {
        Some(self.wakeups.clone())
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
