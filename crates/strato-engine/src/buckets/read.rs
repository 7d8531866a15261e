//! Reading objects: their metadata, their bytes (ranges, sealed blobs
//! opened as they stream), and copies.

use super::*;

impl Buckets {
    /// An object's metadata.
    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        scope: &Scope,
    ) -> Result<ObjectMeta, BucketError> {
        let info = self.bucket(bucket, scope)?;
        if let Some(object) = self.store.get_object(bucket, key).await? {
            return Ok(object);
        }
        // In a versioned bucket, S3 says when a delete marker hides the key.
        if info.versioning != strato_store::Versioning::Unversioned {
            let newest = self
                .store
                .list_object_versions(bucket, key, &Default::default(), 1)
                .await?
                .into_iter()
                .find(|v| v.meta.key == key && v.delete_marker && v.latest);
            if let Some(marker) = newest {
                return Err(BucketError::HiddenByMarker {
                    key: key.to_string(),
                    version_id: marker.meta.version_id,
                });
            }
        }
        Err(BucketError::NoSuchKey {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The bytes of an object (a byte range of them), opened if it is
    /// encrypted with SSE-S3. An SSE-C object needs
    /// [`Buckets::read_object_with_key`].
    pub async fn read_object(
        &self,
        meta: &ObjectMeta,
        range: Option<Range<u64>>,
    ) -> Result<ObjectStream, BucketError> {
        self.read_object_with_key(meta, range, None).await
    }

    /// [`Buckets::read_object`] with the customer's key of an SSE-C object.
    pub async fn read_object_with_key(
        &self,
        meta: &ObjectMeta,
        range: Option<Range<u64>>,
        customer: Option<&sse::CustomerKey>,
    ) -> Result<ObjectStream, BucketError> {
        use futures::TryStreamExt;
        let cipher = sse::cipher_for_read(&self.master, &meta.headers, customer)?;
        if meta.size == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        if let Some(cipher) = cipher {
            return self.read_sealed(meta, range, cipher).await;
        }
        if let Some(data) = &meta.inline {
            let bytes = Bytes::copy_from_slice(match &range {
                Some(r) => &data[r.start as usize..(r.end as usize).min(data.len())],
                None => data,
            });
            return Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })));
        }
        if meta.size <= SMALL_OBJECT_BYTES as u64 && self.blobs.has_fast_path() {
            let (blobs, id) = (self.blobs.clone(), meta.blob.clone());
            let bytes = tokio::task::spawn_blocking(move || blobs.read_small(&id, range))
                .await
                .map_err(|e| BucketError::Storage(e.to_string()))??;
            return Ok(Box::pin(futures::stream::once(async move { Ok(bytes) })));
        }
        let stream = self.blobs.get(&meta.blob, range).await?;
        Ok(Box::pin(stream.map_err(BucketError::from)))
    }

    /// Checks that a request may read an object: with the right customer
    /// key for an SSE-C object, with none for any other (HEAD, which
    /// reads no bytes).
    pub fn check_customer_key(
        &self,
        meta: &ObjectMeta,
        customer: Option<&sse::CustomerKey>,
    ) -> Result<(), BucketError> {
        sse::cipher_for_read(&self.master, &meta.headers, customer).map(|_| ())
    }

    /// Opens the chunks of a sealed object that cover `range`.
    pub(super) async fn read_sealed(
        &self,
        meta: &ObjectMeta,
        range: Option<Range<u64>>,
        cipher: sse::BlobCipher,
    ) -> Result<ObjectStream, BucketError> {
        use futures::StreamExt;
        let range = range.unwrap_or(0..meta.size);
        let Some(data) = &meta.inline else {
            return open_sealed_blob(
                self.blobs.clone(),
                meta.blob.clone(),
                meta.size,
                range,
                cipher,
            )
            .await;
        };
        let (blob_range, first) = sse::BlobCipher::blob_range(&range, meta.size);
        let part = data
            .get(blob_range.start as usize..blob_range.end as usize)
            .map(Bytes::copy_from_slice)
            .ok_or_else(|| BucketError::Storage("an encrypted object is short".into()))?;
        let sealed = futures::stream::once(async move { Ok(part) });
        let opened = cipher
            .open_stream(sse::BlobCipher::prefix_of(data)?, sealed, range, first)
            .map(|c| c.map_err(BucketError::Storage));
        Ok(Box::pin(opened))
    }

    /// Copies an object (`src`, as read with [`Buckets::head_version`]);
    /// `headers` replaces the metadata (REPLACE) or, when `None`, the
    /// source's is kept (COPY). The bytes stream from blob to blob.
    #[allow(clippy::too_many_arguments)]
    pub async fn copy_object(
        &self,
        src: &ObjectMeta,
        source_key: Option<&sse::CustomerKey>,
        target: (&str, &str),
        scope: &Scope,
        headers: Option<ObjectHeaders>,
        condition: &WriteCondition,
        encryption: &sse::Encryption,
    ) -> Result<ObjectMeta, BucketError> {
        let info = self.bucket(target.0, scope)?;
        validate_object_key(target.1).map_err(BucketError::from)?;
        self.precheck(target.0, target.1, condition).await?;
        let body = self.read_object_with_key(src, None, source_key).await?;
        let sealing = self.sealing(&info, encryption);
        let (stored, _) = self
            .store_checked_blob(
                body,
                &UploadChecks {
                    length: Some(src.size),
                    ..Default::default()
                },
                sealing.cipher.as_ref(),
            )
            .await?;
        let mut headers = headers.unwrap_or(ObjectHeaders {
            content_type: src.content_type.clone(),
            headers: src.headers.clone(),
        });
        // The copy is sealed as its own request says, not as its source.
        sse::strip(&mut headers.headers);
        headers.headers.extend(sealing.headers);
        let meta = ObjectMeta {
            bucket: target.0.to_string(),
            key: target.1.to_string(),
            size: stored.size,
            // A multipart source keeps its ETag, as S3 does for a copy of
            // unchanged bytes; otherwise it is the MD5.
            etag: if src.etag.contains('-') {
                src.etag.clone()
            } else {
                format!("\"{}\"", hex::encode(stored.md5))
            },
            content_type: headers.content_type,
            headers: headers.headers,
            blob: stored.id,
            modified_ms: now_ms(),
            version_id: versions::new_version_id(&info),
            inline: None,
        };
        self.commit_object(meta, "ObjectCreated:Copy", condition)
            .await
    }
}

/// The plaintext `range` of a sealed blob holding `size` bytes.
pub(super) async fn open_sealed_blob(
    blobs: BlobStore,
    blob: String,
    size: u64,
    range: Range<u64>,
    cipher: sse::BlobCipher,
) -> Result<ObjectStream, BucketError> {
    use futures::{StreamExt, TryStreamExt};
    let (blob_range, first) = sse::BlobCipher::blob_range(&range, size);
    let head = blobs.read_all(&blob, Some(0..8)).await?;
    let sealed = blobs
        .get(&blob, Some(blob_range))
        .await?
        .map_err(|e| e.to_string());
    let opened = cipher
        .open_stream(sse::BlobCipher::prefix_of(&head)?, sealed, range, first)
        .map(|c| c.map_err(BucketError::Storage));
    Ok(Box::pin(opened))
}
