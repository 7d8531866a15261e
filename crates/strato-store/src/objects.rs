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
    /// Whether writes keep the versions they replace.
    #[serde(default)]
    pub versioning: Versioning,
    /// Configuration documents by kind (`tagging`, `cors`, `lifecycle`,
    /// `encryption`, `policy`, `acl`), as the engine writes them.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// A bucket's versioning state, as S3 has it. A bucket once versioned
/// never goes back to `Unversioned`, only to `Suspended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Versioning {
    /// Never versioned: a write replaces the key's object.
    #[default]
    Unversioned,
    /// Every write makes a new version; a delete hides the key behind a
    /// delete marker.
    Enabled,
    /// Writes and deletes replace the key's `null` version; other versions
    /// are kept.
    Suspended,
}

impl Versioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Unversioned => "unversioned",
            Versioning::Enabled => "enabled",
            Versioning::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Versioning> {
        [
            Versioning::Unversioned,
            Versioning::Enabled,
            Versioning::Suspended,
        ]
        .into_iter()
        .find(|v| v.as_str() == text)
    }
}

/// The version id S3 gives objects written while a bucket is not
/// versioning (before it ever was, or while suspended).
pub const NULL_VERSION: &str = "null";

/// A condition a write or delete holds to, checked in the transaction
/// that makes the change (so two racing writers can never both pass):
/// S3's `If-None-Match: *`, `If-Match`, and DeleteObject's size and
/// last-modified forms. All given parts must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteCondition {
    /// The key must have no visible object.
    pub absent: bool,
    /// The visible object's ETag must be this one (quotes optional; `*`
    /// means any object).
    pub etag: Option<String>,
    /// The visible object's size must be this.
    pub size: Option<u64>,
    /// The visible object must have been modified in this second (S3
    /// compares whole seconds).
    pub modified_ms: Option<i64>,
}

/// Why a [`WriteCondition`] did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionFailure {
    /// It asked for an object and there is none (S3: 404 NoSuchKey).
    Missing,
    /// The object is there and not as asked (S3: 412 PreconditionFailed).
    Mismatch,
}

impl WriteCondition {
    pub fn is_empty(&self) -> bool {
        *self == WriteCondition::default()
    }

    /// Checks the condition against the key's visible object.
    pub fn check(&self, current: Option<&ObjectMeta>) -> Result<(), ConditionFailure> {
        let wants_object = self.etag.is_some() || self.size.is_some() || self.modified_ms.is_some();
        let Some(object) = current else {
            return if wants_object {
                Err(ConditionFailure::Missing)
            } else {
                Ok(())
            };
        };
        let etag_ok = self.etag.as_deref().is_none_or(|want| {
            let want = want.trim().trim_matches('"');
            want == "*" || want == object.etag.trim_matches('"')
        });
        let size_ok = self.size.is_none_or(|n| n == object.size);
        let time_ok = self
            .modified_ms
            .is_none_or(|t| t.div_euclid(1000) == object.modified_ms.div_euclid(1000));
        if self.absent || !(etag_ok && size_ok && time_ok) {
            Err(ConditionFailure::Mismatch)
        } else {
            Ok(())
        }
    }
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
    /// The version this is; `None` for the `null` version (every object
    /// of a bucket never versioned).
    #[serde(default)]
    pub version_id: Option<String>,
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
    /// The span that wrote the object (a W3C `traceparent`), if known:
    /// the delivering run's parent.
    pub traceparent: Option<String>,
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
    /// The version the event is about (`None`: the `null` version).
    #[serde(default)]
    pub version_id: Option<String>,
    /// The span that wrote the object, if known.
    #[serde(default)]
    pub traceparent: Option<String>,
}

/// What a put made happen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectWrite {
    /// The blob of the object it replaced, for the caller to delete (none
    /// when the replaced object was kept as an older version).
    pub replaced_blob: Option<String>,
    /// The events written with it, ids assigned.
    pub events: Vec<BucketEvent>,
}

/// What a delete is to do to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Remove the visible object (a bucket never versioned).
    Object,
    /// Remove one version (or delete marker) for good; when it was the
    /// newest, the next newest becomes visible.
    Version(String),
    /// Hide the key behind a new delete marker, made at `at_ms`, keeping
    /// the visible object as an older version. Without an id the marker is
    /// the `null` version, replacing the one there was (a suspended
    /// bucket).
    Marker { id: Option<String>, at_ms: i64 },
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRemoval {
    /// The object (version) gone for good, whose blob the caller deletes.
    pub object: Option<ObjectMeta>,
    /// The version removed or the marker made (`None`: the null version).
    pub version_id: Option<String>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
    pub events: Vec<BucketEvent>,
}

/// One version of a key, as read by id or listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// For a delete marker, only bucket, key, version id and time count.
    pub meta: ObjectMeta,
    pub delete_marker: bool,
    /// The key's newest version.
    pub latest: bool,
    /// When a newer version replaced it (for lifecycle rules counting
    /// noncurrent days); `None` for the newest.
    pub noncurrent_since_ms: Option<i64>,
}

/// Where a versions listing resumes: after this key's version (or after
/// the whole key, without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionCursor {
    pub key: String,
    pub version_id: Option<String>,
}

/// What a bucket holds, for `strato buckets`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketUsage {
    /// Visible objects and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// Older versions and delete markers, and the bytes of those versions.
    pub versions: u64,
    pub version_bytes: u64,
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

impl ObjectMeta {
    /// What a delete marker looks like as an object: no bytes, no ETag.
    pub fn delete_marker(
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        at_ms: i64,
    ) -> ObjectMeta {
        ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: 0,
            etag: String::new(),
            content_type: None,
            headers: Default::default(),
            blob: String::new(),
            modified_ms: at_ms,
            version_id,
            inline: None,
        }
    }

    /// Whether this is the version `wanted` names ([`NULL_VERSION`] for
    /// one stored without an id).
    pub fn is_version(&self, wanted: &str) -> bool {
        self.version_id.as_deref().unwrap_or(NULL_VERSION) == wanted
    }
}

/// When a listed version stopped being the newest: known for older
/// versions archived with a time, never for the newest.
pub fn noncurrent_since(latest: bool, archived_ms: i64) -> Option<i64> {
    (!latest && archived_ms > 0).then_some(archived_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(etag: &str, size: u64, modified_ms: i64) -> ObjectMeta {
        ObjectMeta {
            bucket: "b".into(),
            key: "k".into(),
            size,
            etag: format!("\"{etag}\""),
            content_type: None,
            headers: BTreeMap::new(),
            blob: String::new(),
            modified_ms,
            version_id: None,
            inline: None,
        }
    }

    #[test]
    fn write_conditions_hold_as_s3_checks_them() {
        let o = object("abc", 3, 10_500);
        let absent = WriteCondition {
            absent: true,
            ..Default::default()
        };
        assert_eq!(absent.check(None), Ok(()));
        assert_eq!(absent.check(Some(&o)), Err(ConditionFailure::Mismatch));
        let etag = |e: &str| WriteCondition {
            etag: Some(e.into()),
            ..Default::default()
        };
        assert_eq!(etag("abc").check(Some(&o)), Ok(()));
        assert_eq!(etag("\"abc\"").check(Some(&o)), Ok(()));
        assert_eq!(etag("*").check(Some(&o)), Ok(()));
        assert_eq!(etag("xyz").check(Some(&o)), Err(ConditionFailure::Mismatch));
        assert_eq!(etag("abc").check(None), Err(ConditionFailure::Missing));
        let sized = WriteCondition {
            etag: Some("abc".into()),
            size: Some(4),
            ..Default::default()
        };
        assert_eq!(sized.check(Some(&o)), Err(ConditionFailure::Mismatch));
        // Last-modified times compare in whole seconds.
        let at = |ms| WriteCondition {
            modified_ms: Some(ms),
            ..Default::default()
        };
        assert_eq!(at(10_000).check(Some(&o)), Ok(()));
        assert_eq!(at(11_000).check(Some(&o)), Err(ConditionFailure::Mismatch));
        assert!(WriteCondition::default().is_empty());
        assert_eq!(WriteCondition::default().check(None), Ok(()));
    }
}
