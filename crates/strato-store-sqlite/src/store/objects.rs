//! [`strato_store::ObjectStore`] on SQLite: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::ObjectStore for SqliteStore {
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

    async fn pending_bucket_events(&self) -> Result<u64, StoreError> {
        self.blocking(move |db| db.pending_bucket_events()).await
    }
}
