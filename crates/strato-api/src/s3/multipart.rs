//! CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts, ListMultipartUploads.

use super::checksums::Checksums;
use super::encryption::{answered, customer_key, encryption_of};
use super::object::{HeaderFields, etag_of, timestamp_ms, upload_checks};
use super::{StratoS3, body_stream, s3_error_of};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use strato_engine::buckets::CompletedPart as Listed;
use strato_engine::buckets::sse::Encryption;
use strato_engine::buckets::{ChecksumAlgorithm, UploadChecksum};

const DEFAULT_MAX_PARTS: i32 = 1000;

impl StratoS3 {
    pub(crate) async fn handle_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let headers = HeaderFields {
            content_type: input.content_type.as_deref(),
            cache_control: input.cache_control.as_deref(),
            content_disposition: input.content_disposition.as_deref(),
            content_encoding: input.content_encoding.as_deref(),
            content_language: input.content_language.as_deref(),
            expires: input.expires.as_ref(),
            metadata: input.metadata.as_ref(),
            tagging: input.tagging.as_deref(),
            acl: input.acl.as_ref(),
        }
        .into_headers()?;
        let mut headers = headers;
        let checksum = match &input.checksum_algorithm {
            None => None,
            Some(name) => {
                let algorithm = ChecksumAlgorithm::parse(name.as_str()).ok_or_else(|| {
                    s3_error!(
                        InvalidRequest,
                        "Checksum algorithm provided is unsupported."
                    )
                })?;
                let kind = input.checksum_type.as_ref().map(|t| t.as_str());
                let checksum = UploadChecksum::new(algorithm, kind)
                    .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidRequest, e))?;
                checksum.record(&mut headers.headers);
                Some(checksum)
            }
        };
        let encryption = encryption_of(
            input.server_side_encryption.as_ref(),
            customer_key(
                input.sse_customer_algorithm.as_deref(),
                input.sse_customer_key.as_deref(),
                input.sse_customer_key_md5.as_deref(),
            )?,
        )?;
        let upload = self
            .buckets
            .create_upload(&input.bucket, &input.key, &scope, headers, &encryption)
            .await
            .map_err(s3_error_of)?;
        let e = answered(&upload.headers);
        Ok(S3Response::new(CreateMultipartUploadOutput {
            server_side_encryption: e.sse,
            sse_customer_algorithm: e.customer_algorithm,
            sse_customer_key_md5: e.customer_key_md5,
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            checksum_algorithm: checksum
                .map(|c| s3s::dto::ChecksumAlgorithm::from(c.algorithm.name().to_string())),
            checksum_type: checksum.map(|c| ChecksumType::from(c.kind().to_string())),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let scope = self.scope(&req)?;
        let mut checks = upload_checks(
            &req,
            req.input.content_md5.as_deref(),
            req.input.content_length,
        )?;
        if let Some(key) = customer_key(
            req.input.sse_customer_algorithm.as_deref(),
            req.input.sse_customer_key.as_deref(),
            req.input.sse_customer_key_md5.as_deref(),
        )? {
            checks.encryption = Encryption::Customer(key);
        }
        let input = req.input;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "part numbers run from 1 to 10000"))?;
        let (part, checksum) = self
            .buckets
            .upload_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                &scope,
                body_stream(input.body),
                checks,
            )
            .await
            .map_err(s3_error_of)?;
        let c = Checksums::of(checksum);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag.trim_matches('"').to_string())),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let scope = self.scope(&req)?;
        let condition = super::conditions::write_condition(&req.headers)?;
        let input = req.input;
        let mut listed = Vec::new();
        for part in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let (Some(number), Some(etag)) = (part.part_number, part.e_tag) else {
                return Err(s3_error!(
                    MalformedXML,
                    "each part needs a PartNumber and an ETag"
                ));
            };
            let checksum = part
                .checksum_crc32
                .or(part.checksum_crc32c)
                .or(part.checksum_crc64nvme)
                .or(part.checksum_sha1)
                .or(part.checksum_sha256);
            listed.push(Listed {
                number: u32::try_from(number)
                    .map_err(|_| s3_error!(InvalidPart, "bad part number {number}"))?,
                etag: etag.value().to_string(),
                checksum,
            });
        }
        let meta = self
            .buckets
            .complete_upload(
                &input.bucket,
                &input.key,
                &input.upload_id,
                &scope,
                &listed,
                &condition,
                customer_key(
                    input.sse_customer_algorithm.as_deref(),
                    input.sse_customer_key.as_deref(),
                    input.sse_customer_key_md5.as_deref(),
                )?
                .as_ref(),
            )
            .await
            .map_err(s3_error_of)?;
        let c = Checksums::stored(&meta.headers);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            version_id: self.version_of(&meta),
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag_of(&meta)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    /// UploadPartCopy: a part from an object (a version of it, a byte
    /// range of it), streamed, never read into memory.
    pub(crate) async fn handle_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let scope = self.scope(&req)?;
        let source_scope = self
            .source_scope(&req, &scope, &req.input.copy_source)
            .await?;
        let input = req.input;
        let (source, src_bucket, _) = self.copy_source(&input.copy_source, &source_scope).await?;
        super::conditions::check_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|_| s3_error!(PreconditionFailed))?;
        let range = input
            .copy_source_range
            .as_deref()
            .map(|r| parse_copy_range(r, source.size))
            .transpose()?;
        let number = u32::try_from(input.part_number)
            .map_err(|_| s3_error!(InvalidArgument, "bad part number {}", input.part_number))?;
        let source_key = customer_key(
            input.copy_source_sse_customer_algorithm.as_deref(),
            input.copy_source_sse_customer_key.as_deref(),
            input.copy_source_sse_customer_key_md5.as_deref(),
        )?;
        let part_key = customer_key(
            input.sse_customer_algorithm.as_deref(),
            input.sse_customer_key.as_deref(),
            input.sse_customer_key_md5.as_deref(),
        )?;
        let part = self
            .buckets
            .upload_part_copy(
                (&input.bucket, &input.key, &input.upload_id),
                number,
                &scope,
                (&source, source_key.as_ref()),
                range,
                part_key.map(Encryption::Customer).unwrap_or_default(),
            )
            .await
            .map_err(s3_error_of)?;
        let versioned = self.versioned(&src_bucket, &scope);
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(part.etag.trim_matches('"').to_string())),
                last_modified: Some(timestamp_ms(part.modified_ms)),
                ..Default::default()
            }),
            copy_source_version_id: versioned
                .then(|| super::object::answer_version(source.version_id.clone())),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        self.buckets
            .abort_upload(&input.bucket, &input.key, &input.upload_id, &scope)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn handle_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let max = input
            .max_parts
            .unwrap_or(DEFAULT_MAX_PARTS)
            .clamp(0, DEFAULT_MAX_PARTS) as usize;
        let after = u32::try_from(input.part_number_marker.unwrap_or(0))
            .map_err(|_| s3_error!(InvalidArgument, "part-number-marker must not be negative"))?;
        // One more than asked tells whether the listing is truncated.
        let (checksum, mut parts) = self
            .buckets
            .list_parts(
                &input.bucket,
                &input.key,
                &input.upload_id,
                &scope,
                after,
                max + 1,
            )
            .await
            .map_err(s3_error_of)?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: parts.last().map(|p| p.number as i32),
            checksum_algorithm: checksum
                .map(|c| s3s::dto::ChecksumAlgorithm::from(c.algorithm.name().to_string())),
            checksum_type: checksum.map(|c| ChecksumType::from(c.kind().to_string())),
            parts: Some(
                parts
                    .iter()
                    .map(|p| {
                        let c = Checksums::of(
                            checksum
                                .zip(p.checksum.clone())
                                .map(|(c, v)| (c.algorithm, v)),
                        );
                        Part {
                            checksum_crc32: c.crc32,
                            checksum_crc32c: c.crc32c,
                            checksum_crc64nvme: c.crc64nvme,
                            checksum_sha1: c.sha1,
                            checksum_sha256: c.sha256,
                            part_number: Some(p.number as i32),
                            e_tag: Some(ETag::Strong(p.etag.trim_matches('"').to_string())),
                            size: Some(p.size as i64),
                            last_modified: Some(timestamp_ms(p.modified_ms)),
                        }
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .buckets
            .list_uploads(&input.bucket, &prefix, &scope)
            .await
            .map_err(s3_error_of)?;
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.key_marker.clone().unwrap_or_default();
        let listed: Vec<_> = uploads.into_iter().filter(|u| u.key > marker).collect();
        let truncated = listed.len() > max;
        let page = &listed[..listed.len().min(max)];
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: truncated
                .then(|| page.last().map(|u| u.key.clone()))
                .flatten(),
            next_upload_id_marker: truncated
                .then(|| page.last().map(|u| u.id.clone()))
                .flatten(),
            uploads: Some(
                page.iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key.clone()),
                        upload_id: Some(u.id.clone()),
                        initiated: Some(timestamp_ms(u.created_ms)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

/// `x-amz-copy-source-range: bytes=FIRST-LAST` (both inclusive, within the
/// source) as a byte range.
fn parse_copy_range(text: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "x-amz-copy-source-range must be bytes=FIRST-LAST within the source's {size} bytes"
        )
    };
    let (first, last) = text
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.parse().map_err(|_| bad())?;
    let last: u64 = last.parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidRange,
            "the range {first}-{last} is not within the source's {size} bytes"
        ));
    }
    Ok(first..last + 1)
}

#[cfg(test)]
mod tests {
    use super::parse_copy_range;

    #[test]
    fn copy_ranges_are_inclusive_and_within_the_source() {
        assert_eq!(parse_copy_range("bytes=0-9", 10).unwrap(), 0..10);
        assert_eq!(parse_copy_range("bytes=5-5", 10).unwrap(), 5..6);
        let code = |r: &str| {
            parse_copy_range(r, 10)
                .unwrap_err()
                .code()
                .as_str()
                .to_string()
        };
        assert_eq!(code("bytes=0-10"), "InvalidRange");
        assert_eq!(code("bytes=6-5"), "InvalidRange");
        assert_eq!(code("bytes=-5"), "InvalidArgument");
        assert_eq!(code("0-5"), "InvalidArgument");
    }
}
