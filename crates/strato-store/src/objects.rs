//! Bucket and object metadata, and the bucket-event outbox.
//!
//! Object bytes live in blobs; the store holds what makes an object visible
//! (its metadata row) and, in the same transaction, the event announcing it
//! (design invariant 4: no object without its event, no event without its
//! object). Deliverers claim due events with a lease, then finish or retry
//! them, so a crash between claim and finish redelivers (at least once).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    /// The app that declared it, if it came from a manifest.
    pub app: Option<String>,
    pub created_at_ms: i64,
}

/// What deleting a bucket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketDeletion {
    Deleted,
    NotFound,
    NotEmpty,
}

/// An object's metadata; its bytes are the blob named `blob`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// As S3 computes it, with quotes.
    pub etag: String,
    pub content_type: Option<String>,
    /// Stored headers (`cache-control`, `expires`, …) and `x-amz-meta-*`.
    pub headers: BTreeMap<String, String>,
    /// Name of the blob holding the bytes.
    pub blob: String,
    pub modified_ms: i64,
}

/// An event to write with an object change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBucketEvent {
    /// S3's event name, e.g. `ObjectCreated:Put`, `ObjectRemoved:Delete`.
    pub name: String,
    pub at_ms: i64,
}

/// A stored bucket event, as claimed by a deliverer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEvent {
    pub id: i64,
    pub bucket: String,
    pub key: String,
    pub name: String,
    pub size: u64,
    pub etag: String,
    pub at_ms: i64,
    /// Deliveries started so far, this one included.
    pub attempts: u32,
}
