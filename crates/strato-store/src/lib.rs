//! Strato's state: apps, immutable revisions, component metadata, runs and
//! their logs, behind a domain-level [`Store`] trait.
//!
//! The trait speaks of the domain ("deploy this revision", "record these
//! runs"), never of SQL, so a PostgreSQL backend can implement it later and
//! prove itself with the same [`conformance`] suite the embedded
//! [`SqliteStore`] runs. [`RunRecorder`] batches finished runs and writes them
//! off the request path.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use strato_store::{SqliteStore, Store, RunRecorder};
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::open("data/strato.db".as_ref()).unwrap());
//! let recorder = RunRecorder::spawn(store.clone());
//! // recorder.record(finished_run);
//! recorder.flush_and_stop();
//! ```

pub mod conformance;
mod objects;
mod recorder;
mod sqlite;

pub use objects::{BucketDeletion, BucketEvent, BucketInfo, NewBucketEvent, ObjectMeta};
pub use recorder::RunRecorder;
pub use sqlite::SqliteStore;

use serde_json::Value;
use strato_core::{LogLine, RevisionSpec, RunRecord, RunStatus};

/// A storage failure. Messages carry what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {doing}: {source}")]
    Database {
        doing: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

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
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub app: Option<String>,
    pub function: Option<String>,
    pub status: Option<RunStatus>,
    pub limit: usize,
}

/// Which log lines to read, oldest first.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub app: Option<String>,
    pub function: Option<String>,
    pub run_id: Option<String>,
    /// Only lines with a sequence number above this (for following).
    pub after: i64,
    pub limit: usize,
    /// Return the newest `limit` matching lines (still oldest first)
    /// instead of the oldest ones.
    pub tail: bool,
}

/// A stored log line with the run it belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogEntry {
    /// Increasing sequence number; pass the last one seen as `after`.
    pub seq: i64,
    pub run_id: String,
    pub app: String,
    pub function: String,
    #[serde(flatten)]
    pub line: LogLine,
}

/// Domain-level storage. Every backend passes [`conformance::run_all`].
pub trait Store: Send + Sync + 'static {
    /// Records that a component's bytes are stored under `digest`.
    fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError>;
    fn has_component(&self, digest: &str) -> Result<bool, StoreError>;
    /// Stores `spec` as the next immutable revision of its app and makes it
    /// live, creating the app if needed. Returns the revision number.
    fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError>;
    /// The live revision of every app.
    fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError>;
    fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError>;
    fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError>;
    /// Removes an app and its revisions (runs and logs stay as history).
    /// Returns false if there was no such app.
    fn destroy_app(&self, app: &str) -> Result<bool, StoreError>;
    /// Writes finished runs and their logs in one transaction.
    fn record_runs(&self, runs: &[FinishedRun]) -> Result<(), StoreError>;
    /// Runs newest first. Run ids sort in start order (the engine makes
    /// them so), so backends order by id.
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;
    fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;
    fn read_logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError>;
    /// Creates a bucket; false if it already existed.
    fn create_bucket(&self, name: &str, app: Option<&str>, now_ms: i64)
    -> Result<bool, StoreError>;
    /// Deletes an empty bucket.
    fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError>;
    fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError>;
    /// Makes `meta` the visible version of its key and, in the same
    /// transaction, records `event`. Returns the blob of the object it
    /// replaced, for the caller to delete.
    fn put_object(
        &self,
        meta: &ObjectMeta,
        event: Option<&NewBucketEvent>,
    ) -> Result<Option<String>, StoreError>;
    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// Removes a key and, in the same transaction, records `event` (only if
    /// something was removed). Returns what was removed.
    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        event: Option<&NewBucketEvent>,
    ) -> Result<Option<ObjectMeta>, StoreError>;
    /// Objects of `bucket` whose keys start with `prefix` and sort after
    /// `start_after`, in key order.
    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError>;
    /// Claims up to `limit` undelivered events that are due and not leased,
    /// leasing them for `lease_ms` and counting an attempt.
    fn claim_bucket_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError>;
    /// Marks an event delivered (or given up on).
    fn finish_bucket_event(&self, id: i64) -> Result<(), StoreError>;
    /// Releases an event to be claimed again at `due_ms`.
    fn retry_bucket_event(&self, id: i64, due_ms: i64) -> Result<(), StoreError>;
    /// Small key/value settings (e.g. ids of generated credentials).
    fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError>;
    fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError>;
}
