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
mod store;
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

impl Store for SqliteStore {}

#[cfg(test)]
mod tests;
