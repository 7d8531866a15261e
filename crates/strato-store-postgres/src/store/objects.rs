//! [`strato_store::ObjectStore`] on PostgreSQL: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::ObjectStore for PostgresStore {
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

    async fn pending_bucket_events(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        work::count(&c, "SELECT COUNT(*) FROM bucket_events WHERE NOT done").await
    }
}
