//! Buckets, objects and their versions, multipart uploads, S3 keys, and the bucket events writes make.

use crate::*;

/// Buckets, objects and their versions, multipart uploads, S3 keys, and the bucket events writes make. Part of [`crate::Store`].
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Creates a bucket owned by `app`; false if it already existed.
    async fn create_bucket(
        &self,
        name: &str,
        app: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Sets (or clears) the app owning a bucket; false if there is none.
    async fn set_bucket_app(&self, name: &str, app: Option<&str>) -> Result<bool, StoreError>;
    /// Deletes a bucket with no objects, aborting its unfinished uploads
    /// in the same transaction.
    async fn delete_bucket(&self, name: &str) -> Result<BucketDeletion, StoreError>;
    /// Removes every object of a bucket (no events: the bucket is going
    /// away) and returns their blobs and those of its unfinished uploads.
    async fn empty_bucket(&self, name: &str) -> Result<Vec<String>, StoreError>;
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StoreError>;
    /// Sets a bucket's versioning; false if there is no such bucket.
    async fn set_bucket_versioning(
        &self,
        name: &str,
        versioning: Versioning,
    ) -> Result<bool, StoreError>;
    /// Sets (or, with `None`, removes) one of a bucket's configuration
    /// documents; false if there is no such bucket.
    async fn set_bucket_config(
        &self,
        name: &str,
        kind: &str,
        value: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError>;
    /// Replaces the stored headers of an object: the visible one, or one
    /// version by id. False if there is no such object (or it is a delete
    /// marker).
    async fn set_object_headers(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        headers: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, StoreError>;
    /// What a bucket holds: objects, versions and their bytes.
    async fn bucket_usage(&self, name: &str) -> Result<BucketUsage, StoreError>;
    /// Makes `meta` the visible version of its key and, in the same
    /// transaction, records `events`, if `condition` holds for the key's
    /// visible object then. With a version id, the object it replaces is
    /// kept as an older version; without (the `null` version), the key's
    /// `null` version is replaced. Durable when it returns.
    async fn put_object(
        &self,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<ObjectWrite>, StoreError>;
    /// The key's visible object (none when a delete marker hides it).
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// One version of a key by id ([`NULL_VERSION`] for the null one).
    async fn get_object_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectVersion>, StoreError>;
    /// Does `removal` to a key and, in the same transaction, records
    /// `events` (only if something changed), if `condition` holds for the
    /// visible object. `None` when there was nothing to remove. Durable
    /// when it returns.
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        removal: Removal,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<Option<ObjectRemoval>>, StoreError>;
    /// Every version and delete marker of keys under `prefix` after
    /// `after`: keys in byte order, each key's versions newest first.
    async fn list_object_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &VersionCursor,
        limit: usize,
    ) -> Result<Vec<ObjectVersion>, StoreError>;
    /// Objects of `bucket` whose keys start with `prefix` and sort after
    /// `start_after`, in key (byte) order.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectMeta>, StoreError>;
    async fn create_upload(&self, upload: &MultipartUpload) -> Result<(), StoreError>;
    async fn get_upload(&self, id: &str) -> Result<Option<MultipartUpload>, StoreError>;
    /// Unfinished uploads of a bucket under `prefix`, by key then start.
    async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<MultipartUpload>, StoreError>;
    /// Stores a part, returning the blob of the part it replaced.
    async fn put_part(&self, part: &UploadPart) -> Result<Option<String>, StoreError>;
    /// Parts numbered above `after`, in order.
    async fn list_parts(
        &self,
        upload_id: &str,
        after: u32,
        limit: usize,
    ) -> Result<Vec<UploadPart>, StoreError>;
    /// Ends an upload: makes `meta` visible with `events` and forgets the
    /// upload, in one transaction. Returns the write and the parts' blobs.
    async fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        events: &[NewBucketEvent],
    ) -> Result<Conditional<(ObjectWrite, Vec<String>)>, StoreError>;
    /// Forgets an upload; returns its parts' blobs, or `None` if unknown.
    async fn abort_upload(&self, upload_id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Every blob an object or an upload part refers to.
    async fn referenced_blobs(&self) -> Result<std::collections::HashSet<String>, StoreError>;
    async fn put_access_key(&self, key: &AccessKey) -> Result<(), StoreError>;
    /// Removes a key; false if there was none.
    async fn revoke_access_key(&self, id: &str) -> Result<bool, StoreError>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKey>, StoreError>;
    /// Claims up to `limit` undelivered events that are due and not leased
    /// (or whose lease ran out), leasing them to `owner` until
    /// `now_ms + lease_ms` and counting an attempt.
    async fn claim_bucket_events(
        &self,
        owner: &NodeId,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<BucketEvent>, StoreError>;
    /// Marks events delivered (or given up on).
    async fn finish_bucket_events(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Releases an event to be claimed again at `due_ms`, if `fence`
    /// (naming it) still holds; whether it did.
    async fn retry_bucket_event(&self, fence: &Fence, due_ms: i64) -> Result<bool, StoreError>;
    /// Events not yet finished (for stats and tests).
    async fn pending_bucket_events(&self) -> Result<u64, StoreError>;
}
