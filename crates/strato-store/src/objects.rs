//! Bucket and object metadata, multipart uploads, access keys, and the
//! bucket-event outbox.
//!
//! Object bytes live in blobs; the store holds what makes an object visible
//! (its metadata row) and, in the same transaction, the events announcing it
//! (design invariant 4: no object without its event, no event without its
//! object). One event row is written per subscribed function, so each
//! delivery is retried on its own. Deliverers claim due events with a lease,
//! then finish or retry them, so a crash between claim and finish redelivers
//! (at least once).

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketDeletion {
    /// Gone, with its unfinished multipart uploads, whose parts' blobs
    /// these are (as S3 aborts a bucket's pending uploads with it).
    Deleted {
        blobs: Vec<String>,
    },
    NotFound,
    /// It still has objects.
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
    /// Name of the blob holding the bytes; empty when they are inline.
    pub blob: String,
    pub modified_ms: i64,
    /// The bytes themselves, for small objects kept in the store (one
    /// commit makes them durable, no blob file and no second fsync).
    #[serde(skip, default)]
    pub inline: Option<Vec<u8>>,
}

/// An event to write with an object change, for one subscribed function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBucketEvent {
    /// S3's event name, e.g. `ObjectCreated:Put`, `ObjectRemoved:Delete`.
    pub name: String,
    pub at_ms: i64,
    /// The function to deliver it to.
    pub app: String,
    pub function: String,
    /// When non-zero, the writer delivers it at once (its first attempt is
    /// counted) and nobody else may claim it before this time.
    pub leased_until_ms: i64,
    /// The node holding that lease.
    pub lease_owner: String,
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
    pub app: String,
    pub function: String,
    /// Deliveries started so far, this one included.
    pub attempts: u32,
}

/// What a put made happen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectWrite {
    /// The blob of the object it replaced, for the caller to delete.
    pub replaced_blob: Option<String>,
    /// The events written with it, ids assigned.
    pub events: Vec<BucketEvent>,
}

/// What a delete removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRemoval {
    pub object: ObjectMeta,
    pub events: Vec<BucketEvent>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub created_ms: i64,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPart {
    pub upload_id: String,
    pub number: u32,
    pub size: u64,
    /// MD5 of the part, quoted.
    pub etag: String,
    pub blob: String,
    pub modified_ms: i64,
    /// The part's additional checksum (base64), in the algorithm its
    /// upload was created with.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// An S3 access key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    /// Scoped to this app's buckets; `None` for an admin key.
    pub app: Option<String>,
    pub created_at_ms: i64,
}
