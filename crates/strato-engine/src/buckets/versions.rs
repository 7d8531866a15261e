//! Versioning: a bucket's versioning state, reads of one version, and
//! deletes, which in a versioned bucket hide a key behind a delete marker
//! instead of removing it.

use super::lifecycle::Cause;
use super::{BucketError, Buckets, Scope};
use crate::util::now_ms;
use strato_store::{BucketInfo, BucketUsage, ObjectMeta, Removal, Versioning, WriteCondition};

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed, or the delete marker made (`None`: the null
    /// version, or nothing was there).
    pub version_id: Option<String>,
    /// Whether that is a delete marker.
    pub delete_marker: bool,
}

/// The id of a new version written to `bucket`: a fresh one while it
/// keeps versions, else none (the `null` version). Ids sort by time of
/// creation, then at random.
pub(super) fn new_version_id(bucket: &BucketInfo) -> Option<String> {
    (bucket.versioning == Versioning::Enabled).then(|| {
        format!(
            "{:012x}{}",
            now_ms(),
            hex::encode(rand::random::<[u8; 10]>())
        )
    })
}

impl Buckets {
    /// Turns versioning on (`Enabled`) or off (`Suspended`). A bucket never
    /// goes back to unversioned, as on S3.
    pub async fn set_versioning(
        &self,
        bucket: &str,
        scope: &Scope,
        versioning: Versioning,
    ) -> Result<(), BucketError> {
        self.bucket(bucket, scope)?;
        if !self.store.set_bucket_versioning(bucket, versioning).await? {
            return Err(BucketError::NoSuchBucket(bucket.to_string()));
        }
        self.reload_buckets().await
    }

    /// What a bucket holds: objects, older versions and their bytes.
    pub async fn usage(&self, bucket: &str, scope: &Scope) -> Result<BucketUsage, BucketError> {
        self.bucket(bucket, scope)?;
        Ok(self.store.bucket_usage(bucket).await?)
    }

    /// An object's metadata: the visible one, or one version by id (a
    /// delete marker asked for by id is [`BucketError::DeleteMarker`]).
    pub async fn head_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        scope: &Scope,
    ) -> Result<ObjectMeta, BucketError> {
        let Some(id) = version_id else {
            return self.head_object(bucket, key, scope).await;
        };
        self.bucket(bucket, scope)?;
        match self.store.get_object_version(bucket, key, id).await? {
            None => Err(BucketError::NoSuchVersion {
                key: key.to_string(),
                version_id: id.to_string(),
            }),
            Some(v) if v.delete_marker => Err(BucketError::DeleteMarker {
                key: key.to_string(),
                version_id: id.to_string(),
            }),
            Some(v) => Ok(v.meta),
        }
    }

    /// Deletes an object, as S3 does: in a bucket never versioned the key
    /// is removed (deleting a missing key succeeds); in a versioned one a
    /// delete marker hides it; with a version id, that version is removed
    /// for good.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        scope: &Scope,
        condition: &WriteCondition,
    ) -> Result<Deleted, BucketError> {
        self.bucket(bucket, scope)?;
        self.remove(bucket, key, version_id, condition, Cause::Request)
            .await
    }

    /// [`Buckets::delete_object`] for a cause (a request, a lifecycle
    /// rule), once the caller may.
    pub(super) async fn remove(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        condition: &WriteCondition,
        cause: Cause,
    ) -> Result<Deleted, BucketError> {
        let info = self.bucket(bucket, &Scope::Admin)?;
        let (removal, event) = match (version_id, info.versioning) {
            (Some(id), _) => (Removal::Version(id.to_string()), cause.event(false)),
            (None, Versioning::Unversioned) => (Removal::Object, cause.event(false)),
            (None, _) => (
                Removal::Marker {
                    id: new_version_id(&info),
                    at_ms: now_ms(),
                },
                cause.event(true),
            ),
        };
        let events = self.events_for(bucket, key, event);
        let removed = self
            .store
            .delete_object(bucket, key, removal, condition, &events)
            .await?
            .map_err(|f| BucketError::unmet(f, bucket, key))?;
        let Some(removed) = removed else {
            return Ok(Deleted::default());
        };
        self.announce(removed.events);
        if let Some(object) = removed.object.filter(|o| !o.blob.is_empty()) {
            self.delete_blobs(vec![object.blob]).await;
        }
        Ok(Deleted {
            version_id: removed.version_id,
            delete_marker: removed.delete_marker,
        })
    }
}
