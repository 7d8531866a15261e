//! Multipart uploads: parts are blobs of their own; completing streams the
//! chosen parts, in order, into one new blob and makes it visible in the
//! same transaction that forgets the upload.

use super::checksum::keep_checksum;
use super::sse::{self, Encryption};
use super::{
    BucketError, Buckets, ChecksumAlgorithm, ChecksumCheck, Expected, ObjectHeaders, Scope,
    UploadChecks, UploadChecksum,
};
use crate::util::now_ms;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use std::ops::Range;
use strato_core::s3names::validate_object_key;
use strato_store::{MultipartUpload, ObjectMeta, UploadPart, WriteCondition};

/// S3's smallest part, except for the last one.
const MIN_PART_BYTES: u64 = 5 << 20;

/// The stored header keeping a multipart object's part sizes (for GET and
/// HEAD with `partNumber`).
pub const PART_SIZES_HEADER: &str = "x-strato-part-sizes";

fn encode_part_sizes(sizes: &[u64]) -> String {
    sizes
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The byte range of part `number` (from 1) of an object with these
/// stored headers and size, and its part count: an object not uploaded
/// in parts is one part.
pub fn part_range(
    headers: &std::collections::BTreeMap<String, String>,
    size: u64,
    number: u32,
) -> Option<(Range<u64>, usize)> {
    let sizes: Vec<u64> = match headers.get(PART_SIZES_HEADER) {
        Some(text) => text.split(',').filter_map(|n| n.parse().ok()).collect(),
        None => vec![size],
    };
    let index = usize::try_from(number).ok()?.checked_sub(1)?;
    let start: u64 = sizes.get(..index)?.iter().sum();
    let length = *sizes.get(index)?;
    Some((start..start + length, sizes.len()))
}
/// S3's part numbers run from 1 to 10,000.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// A part as named in a CompleteMultipartUpload request.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: u32,
    /// With or without quotes.
    pub etag: String,
    /// The part's checksum as the client lists it, if it does.
    pub checksum: Option<String>,
}

/// A part's bytes, opened if they are sealed.
async fn read_part(
    blobs: strato_blob::BlobStore,
    part: UploadPart,
    cipher: Option<sse::BlobCipher>,
) -> Result<super::ObjectStream, BucketError> {
    match cipher {
        Some(_) if part.size == 0 => Ok(Box::pin(futures::stream::empty())),
        Some(cipher) => {
            super::open_sealed_blob(blobs, part.blob, part.size, 0..part.size, cipher).await
        }
        None => Ok(Box::pin(
            blobs
                .get(&part.blob, None)
                .await?
                .map_err(BucketError::from),
        )),
    }
}

/// The customer's key a request carries, if any.
fn customer(encryption: &Encryption) -> Option<&sse::CustomerKey> {
    match encryption {
        Encryption::Customer(key) => Some(key),
        _ => None,
    }
}

impl Buckets {
    /// Starts an upload; returns its id.
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        scope: &Scope,
        headers: ObjectHeaders,
        encryption: &Encryption,
    ) -> Result<MultipartUpload, BucketError> {
        let info = self.bucket(bucket, scope)?;
        validate_object_key(key).map_err(BucketError::from)?;
        // The upload's key (sealed, for SSE-S3) seals its parts and the
        // object they make.
        let mut headers = headers;
        sse::strip(&mut headers.headers);
        headers
            .headers
            .extend(self.sealing(&info, encryption).headers);
        let upload = MultipartUpload {
            id: hex::encode(rand::random::<[u8; 16]>()),
            bucket: bucket.to_string(),
            key: key.to_string(),
            content_type: headers.content_type,
            headers: headers.headers,
            created_ms: now_ms(),
        };
        self.store.create_upload(&upload).await?;
        Ok(upload)
    }

    /// The upload, if it is in progress for this bucket and key.
    pub async fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        scope: &Scope,
    ) -> Result<MultipartUpload, BucketError> {
        self.bucket(bucket, scope)?;
        match self.store.get_upload(upload_id).await? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(BucketError::NoSuchUpload(upload_id.to_string())),
        }
    }

    /// Stores one part; returns it (its ETag is the part's MD5) and the
    /// checksum computed, if one was asked for.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        scope: &Scope,
        body: S,
        checks: UploadChecks,
    ) -> Result<(UploadPart, Option<(ChecksumAlgorithm, String)>), BucketError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(BucketError::InvalidPart(format!(
                "part number {number} is outside 1..={MAX_PART_NUMBER}"
            )));
        }
        let upload = self.upload(bucket, key, upload_id, scope).await?;
        let mut checks = checks;
        // A part of an upload created with a checksum gets one.
        match (UploadChecksum::of(&upload.headers), &checks.checksum) {
            (Some(declared), None) => {
                checks.checksum = Some(ChecksumCheck {
                    algorithm: declared.algorithm,
                    expected: Expected::Nothing,
                });
            }
            (Some(declared), Some(check)) if check.algorithm != declared.algorithm => {
                return Err(BucketError::ChecksumMismatch(format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    declared.algorithm.name().to_ascii_lowercase(),
                    check.algorithm.name().to_ascii_lowercase()
                )));
            }
            _ => {}
        }
        if checks
            .length
            .is_some_and(|n| n > super::MAX_SINGLE_PUT_BYTES)
        {
            return Err(BucketError::EntityTooLarge);
        }
        let cipher =
            sse::cipher_for_read(&self.master, &upload.headers, customer(&checks.encryption))?;
        let (stored, checksum) = self
            .store_checked_blob(body, &checks, cipher.as_ref())
            .await?;
        let part = UploadPart {
            upload_id: upload_id.to_string(),
            number,
            size: stored.size,
            etag: format!("\"{}\"", hex::encode(stored.md5)),
            blob: stored.id,
            modified_ms: now_ms(),
            checksum: checksum.as_ref().map(|(_, v)| v.clone()),
        };
        match self.store.put_part(&part).await.map_err(BucketError::from) {
            Ok(replaced) => {
                self.delete_blobs(replaced.into_iter().collect()).await;
                Ok((part, checksum))
            }
            Err(e) => {
                self.delete_blobs(vec![part.blob]).await;
                Err(e)
            }
        }
    }

    /// UploadPartCopy: a part made of an object's bytes (a range of them),
    /// streamed from blob to blob.
    pub async fn upload_part_copy(
        &self,
        target: (&str, &str, &str),
        number: u32,
        scope: &Scope,
        source: (&ObjectMeta, Option<&sse::CustomerKey>),
        range: Option<Range<u64>>,
        encryption: Encryption,
    ) -> Result<UploadPart, BucketError> {
        let (bucket, key, upload_id) = target;
        let (source, source_key) = source;
        let length = range.as_ref().map_or(source.size, |r| r.end - r.start);
        let body = self.read_object_with_key(source, range, source_key).await?;
        let checks = UploadChecks {
            length: Some(length),
            encryption,
            ..Default::default()
        };
        let (part, _) = self
            .upload_part(bucket, key, upload_id, number, scope, body, checks)
            .await?;
        Ok(part)
    }

    /// Parts numbered above `after`, at most `limit`, with the checksum
    /// the upload was created with (the parts' checksums are in it).
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        scope: &Scope,
        after: u32,
        limit: usize,
    ) -> Result<(Option<UploadChecksum>, Vec<UploadPart>), BucketError> {
        let upload = self.upload(bucket, key, upload_id, scope).await?;
        let parts = self.store.list_parts(upload_id, after, limit).await?;
        Ok((UploadChecksum::of(&upload.headers), parts))
    }

    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        scope: &Scope,
    ) -> Result<Vec<MultipartUpload>, BucketError> {
        self.bucket(bucket, scope)?;
        Ok(self.store.list_uploads(bucket, prefix).await?)
    }

    pub async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        scope: &Scope,
    ) -> Result<(), BucketError> {
        self.upload(bucket, key, upload_id, scope).await?;
        let blobs = self
            .store
            .abort_upload(upload_id)
            .await?
            .ok_or_else(|| BucketError::NoSuchUpload(upload_id.to_string()))?;
        self.delete_blobs(blobs).await;
        Ok(())
    }

    /// Assembles the listed parts into the object.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        scope: &Scope,
        listed: &[CompletedPart],
        condition: &WriteCondition,
        customer_key: Option<&sse::CustomerKey>,
    ) -> Result<ObjectMeta, BucketError> {
        let upload = self.upload(bucket, key, upload_id, scope).await?;
        let cipher = sse::cipher_for_read(&self.master, &upload.headers, customer_key)?;
        let info = self.bucket(bucket, scope)?;
        self.precheck(bucket, key, condition).await?;
        if listed.is_empty() {
            return Err(BucketError::InvalidPart(
                "a multipart upload needs at least one part".into(),
            ));
        }
        if listed.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(BucketError::InvalidPartOrder);
        }
        let stored: std::collections::HashMap<u32, UploadPart> = self
            .store
            .list_parts(upload_id, 0, MAX_PART_NUMBER as usize)
            .await?
            .into_iter()
            .map(|p| (p.number, p))
            .collect();
        let mut chosen = Vec::with_capacity(listed.len());
        for (i, want) in listed.iter().enumerate() {
            let part = stored
                .get(&want.number)
                .filter(|p| p.etag.trim_matches('"') == want.etag.trim_matches('"'))
                .ok_or_else(|| {
                    BucketError::InvalidPart(format!(
                        "part {} was not uploaded with ETag {}",
                        want.number, want.etag
                    ))
                })?;
            if i + 1 < listed.len() && part.size < MIN_PART_BYTES {
                return Err(BucketError::EntityTooSmall(part.number));
            }
            if let Some(sum) = &want.checksum
                && part.checksum.as_deref() != Some(sum.as_str())
            {
                return Err(BucketError::InvalidPart(format!(
                    "part {}'s checksum is not {sum}",
                    want.number
                )));
            }
            chosen.push(part.clone());
        }

        // S3's multipart ETag: MD5 of the parts' binary MD5s, then "-N".
        let mut md5s = Md5::new();
        for p in &chosen {
            let raw = hex::decode(p.etag.trim_matches('"'))
                .map_err(|e| BucketError::Storage(format!("stored part ETag: {e}")))?;
            md5s.update(&raw);
        }
        let etag = format!("\"{}-{}\"", hex::encode(md5s.finalize()), chosen.len());
        let total: u64 = chosen.iter().map(|p| p.size).sum();
        let declared = UploadChecksum::of(&upload.headers);
        let part_sums: Vec<Option<String>> = chosen.iter().map(|p| p.checksum.clone()).collect();
        let part_sizes: Vec<u64> = chosen.iter().map(|p| p.size).collect();

        // Sealed parts are opened and the whole sealed again, with the
        // upload's key and a prefix of its own.
        let (blobs, opener) = (self.blobs.clone(), cipher.clone());
        let body = futures::stream::iter(chosen)
            .then(move |part| read_part(blobs.clone(), part, opener.clone()))
            .try_flatten();
        // A FULL_OBJECT checksum is of the bytes, computed as they are
        // assembled; a COMPOSITE one is of the parts' checksums.
        // Without a declared checksum the object gets S3's default, a
        // full-object CRC64NVME.
        let full_object = match declared {
            Some(d) if d.full_object => Some(d.algorithm),
            Some(_) => None,
            None => Some(ChecksumAlgorithm::Crc64Nvme),
        }
        .map(|algorithm| ChecksumCheck {
            algorithm,
            expected: Expected::Nothing,
        });
        let (whole, computed) = self
            .store_checked_blob(
                body,
                &UploadChecks {
                    length: Some(total),
                    checksum: full_object,
                    ..Default::default()
                },
                cipher.as_ref(),
            )
            .await?;
        let mut headers = upload.headers;
        UploadChecksum::forget(&mut headers);
        headers.insert(
            PART_SIZES_HEADER.to_string(),
            encode_part_sizes(&part_sizes),
        );
        match (declared, computed) {
            (Some(declared), computed) => {
                let value = match computed {
                    Some((_, full)) => Some(full),
                    None => declared.composite(&part_sums),
                };
                if let Some(value) = value {
                    keep_checksum(&mut headers, declared.algorithm, value, declared.kind());
                }
            }
            (None, Some((algorithm, full))) => {
                keep_checksum(&mut headers, algorithm, full, "FULL_OBJECT");
            }
            (None, None) => {}
        }
        let meta = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: whole.size,
            etag,
            content_type: upload.content_type,
            headers,
            blob: whole.id,
            modified_ms: now_ms(),
            version_id: super::versions::new_version_id(&info),
            inline: None,
        };
        let events = self.events_for(bucket, key, "ObjectCreated:CompleteMultipartUpload");
        let done = self
            .store
            .complete_upload(upload_id, &meta, condition, &events)
            .await
            .map_err(BucketError::from)
            .and_then(|done| done.map_err(|f| BucketError::unmet(f, bucket, key)));
        let (write, part_blobs) = match done {
            Ok(d) => d,
            Err(e) => {
                self.delete_blobs(vec![meta.blob.clone()]).await;
                return Err(match e {
                    BucketError::Conflict(_) => BucketError::NoSuchUpload(upload_id.to_string()),
                    other => other,
                });
            }
        };
        self.announce(write.events);
        let mut garbage = part_blobs;
        garbage.extend(write.replaced_blob);
        self.delete_blobs(garbage).await;
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_found_by_number() {
        let mut headers = std::collections::BTreeMap::new();
        assert_eq!(part_range(&headers, 10, 1), Some((0..10, 1)));
        assert_eq!(part_range(&headers, 10, 2), None);
        headers.insert(PART_SIZES_HEADER.to_string(), encode_part_sizes(&[5, 5, 2]));
        assert_eq!(part_range(&headers, 12, 1), Some((0..5, 3)));
        assert_eq!(part_range(&headers, 12, 3), Some((10..12, 3)));
        assert_eq!(part_range(&headers, 12, 4), None);
        assert_eq!(part_range(&headers, 12, 0), None);
    }
}
