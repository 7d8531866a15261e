//! PutObject, GetObject, HeadObject, DeleteObject(s), CopyObject.

use super::checksums::{self, Checksums};
use super::conditions::{check_conditions, delete_condition, etag_text, write_condition};
use super::encryption::{answered, customer_key, encryption_of};
use super::{StratoS3, body_stream, s3_error_of};
use base64::Engine;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use std::collections::BTreeMap;
use strato_engine::buckets::config::TAGGING_HEADER;
use strato_engine::buckets::{ObjectHeaders, UploadChecks};
use strato_store::ObjectMeta;

/// The headers S3 stores with an object, as the input DTOs carry them.
pub(crate) struct HeaderFields<'a> {
    pub content_type: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    pub content_disposition: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub content_language: Option<&'a str>,
    pub expires: Option<&'a Timestamp>,
    pub metadata: Option<&'a Metadata>,
    /// `x-amz-tagging`: the object's tags.
    pub tagging: Option<&'a str>,
    /// `x-amz-acl`: the object's canned ACL.
    pub acl: Option<&'a ObjectCannedACL>,
}

/// Largest total size of user metadata, as S3 (2 KiB).
const MAX_METADATA_BYTES: usize = 2048;

impl HeaderFields<'_> {
    pub(crate) fn into_headers(self) -> S3Result<ObjectHeaders> {
        let mut headers = BTreeMap::new();
        // `aws-chunked` describes how the body was sent, not the object;
        // S3 keeps the other codings.
        let encoding = self.content_encoding.map(|e| {
            e.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",")
        });
        for (name, value) in [
            ("cache-control", self.cache_control),
            ("content-disposition", self.content_disposition),
            (
                "content-encoding",
                encoding.as_deref().filter(|e| !e.is_empty()),
            ),
            ("content-language", self.content_language),
        ] {
            if let Some(v) = value {
                headers.insert(name.to_string(), v.to_string());
            }
        }
        if let Some(t) = self.expires {
            let mut out = Vec::new();
            t.format(TimestampFormat::HttpDate, &mut out)
                .map_err(|_| s3_error!(InvalidArgument, "bad Expires"))?;
            headers.insert("expires".into(), String::from_utf8_lossy(&out).into_owned());
        }
        let mut meta_bytes = 0;
        for (k, v) in self.metadata.into_iter().flatten() {
            meta_bytes += k.len() + v.len();
            headers.insert(format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone());
        }
        if let Some(acl) = self.acl {
            let acl = strato_engine::buckets::access::CannedAcl::parse(acl.as_str())
                .map_err(super::s3_error_of)?;
            if acl != strato_engine::buckets::access::CannedAcl::Private {
                headers.insert(
                    strato_engine::buckets::access::ACL_HEADER.to_string(),
                    acl.as_str().to_string(),
                );
            }
        }
        if let Some(tags) = super::config::tagging_header(self.tagging)? {
            headers.insert(TAGGING_HEADER.to_string(), tags);
        }
        if meta_bytes > MAX_METADATA_BYTES {
            return Err(s3_error!(
                MetadataTooLarge,
                "user metadata is limited to 2 KiB"
            ));
        }
        Ok(ObjectHeaders {
            content_type: self.content_type.map(str::to_string),
            headers,
        })
    }
}

/// What GET and HEAD answer about an object.
pub(crate) struct Described {
    pub e_tag: ETag,
    pub last_modified: Timestamp,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<Timestamp>,
    pub metadata: Option<Metadata>,
}

pub(crate) fn etag_of(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag.trim_matches('"').to_string())
}

pub(crate) fn timestamp_ms(ms: i64) -> Timestamp {
    Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

pub(crate) fn describe(meta: &ObjectMeta) -> Described {
    let h = |name: &str| meta.headers.get(name).cloned();
    let metadata: Metadata = meta
        .headers
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("x-amz-meta-")
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect();
    Described {
        e_tag: etag_of(meta),
        last_modified: timestamp_ms(meta.modified_ms),
        cache_control: h("cache-control"),
        content_disposition: h("content-disposition"),
        content_encoding: h("content-encoding"),
        content_language: h("content-language"),
        expires: h("expires").and_then(|t| Timestamp::parse(TimestampFormat::HttpDate, &t).ok()),
        metadata: (!metadata.is_empty()).then_some(metadata),
    }
}

fn decode_md5(header: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(text) = header else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not base64"))?;
    let md5: [u8; 16] = bytes
        .try_into()
        .map_err(|_| s3_error!(InvalidDigest, "Content-MD5 is not 16 bytes"))?;
    Ok(Some(md5))
}

/// What an upload asks to be checked: its length, Content-MD5 and
/// additional checksum.
pub(crate) fn upload_checks<T>(
    req: &S3Request<T>,
    md5: Option<&str>,
    length: Option<i64>,
) -> S3Result<UploadChecks> {
    Ok(UploadChecks {
        md5: decode_md5(md5)?,
        length: length.map(|n| n.max(0) as u64),
        checksum: checksums::requested(&req.headers, req.trailing_headers.clone())?,
        condition: write_condition(&req.headers)?,
        encryption: Default::default(),
    })
}

fn checksum_mode_on(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

impl StratoS3 {
    pub(crate) async fn handle_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let scope = self.scope(&req)?;
        let mut checks = upload_checks(
            &req,
            req.input.content_md5.as_deref(),
            req.input.content_length,
        )?;
        let input = req.input;
        checks.encryption = encryption_of(
            input.server_side_encryption.as_ref(),
            customer_key(
                input.sse_customer_algorithm.as_deref(),
                input.sse_customer_key.as_deref(),
                input.sse_customer_key_md5.as_deref(),
            )?,
        )?;
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
        let meta = self
            .buckets
            .put_object(
                &input.bucket,
                &input.key,
                &scope,
                body_stream(input.body),
                headers,
                checks,
            )
            .await
            .map_err(s3_error_of)?;
        let c = Checksums::stored(&meta.headers);
        let e = answered(&meta.headers);
        Ok(S3Response::new(PutObjectOutput {
            server_side_encryption: e.sse,
            sse_customer_algorithm: e.customer_algorithm,
            sse_customer_key_md5: e.customer_key_md5,
            version_id: self.version_of(&meta),
            e_tag: Some(etag_of(&meta)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let meta = self
            .buckets
            .head_version(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &scope,
            )
            .await
            .map_err(s3_error_of)?;
        check_conditions(
            &meta,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let part = input
            .part_number
            .map(|n| part_of(&meta, n, input.range.is_some()))
            .transpose()?;
        let range =
            match (&input.range, &part) {
                (_, Some((range, _))) => Some(range.clone()),
                (None, None) => None,
                (Some(r), None) => Some(r.check(meta.size).map_err(|_| {
                    s3_error!(InvalidRange, "the requested range is not satisfiable")
                })?),
            };
        let (content_length, content_range) = match &range {
            None => (meta.size, None),
            Some(r) => (
                r.end - r.start,
                Some(format!(
                    "bytes {}-{}/{}",
                    r.start,
                    r.end.saturating_sub(1),
                    meta.size
                )),
            ),
        };
        let partial = range.is_some();
        let key = customer_key(
            input.sse_customer_algorithm.as_deref(),
            input.sse_customer_key.as_deref(),
            input.sse_customer_key_md5.as_deref(),
        )?;
        let stream = self
            .buckets
            .read_object_with_key(&meta, range, key.as_ref())
            .await
            .map_err(s3_error_of)?;
        let e = answered(&meta.headers);
        let d = describe(&meta);
        // Checksums are of the whole object: answered when asked for and
        // the whole object is read, as S3 does.
        let c = if checksum_mode_on(input.checksum_mode.as_ref()) && !partial {
            Checksums::stored(&meta.headers)
        } else {
            Checksums::default()
        };
        let tag_count = strato_engine::buckets::config::object_tags(&meta.headers).len();
        let output = GetObjectOutput {
            server_side_encryption: e.sse,
            sse_customer_algorithm: e.customer_algorithm,
            sse_customer_key_md5: e.customer_key_md5,
            parts_count: part.as_ref().map(|(_, count)| *count as i32),
            tag_count: (tag_count > 0).then_some(tag_count as i32),
            version_id: self.version_of(&meta),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            body: Some(StreamingBlob::wrap(SyncStream(std::sync::Mutex::new(
                stream,
            )))),
            content_length: Some(content_length as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            content_type: meta.content_type.clone(),
            e_tag: Some(d.e_tag),
            last_modified: Some(d.last_modified),
            cache_control: d.cache_control,
            content_disposition: d.content_disposition,
            content_encoding: d.content_encoding,
            content_language: d.content_language,
            expires: d.expires,
            metadata: d.metadata,
            ..Default::default()
        };
        let mut response = S3Response::new(output);
        if partial {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    pub(crate) async fn handle_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let meta = self
            .buckets
            .head_version(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &scope,
            )
            .await
            .map_err(s3_error_of)?;
        check_conditions(
            &meta,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let d = describe(&meta);
        let c = if checksum_mode_on(input.checksum_mode.as_ref()) {
            Checksums::stored(&meta.headers)
        } else {
            Checksums::default()
        };
        let part = input
            .part_number
            .map(|n| part_of(&meta, n, input.range.is_some()))
            .transpose()?;
        let length = part.as_ref().map_or(meta.size, |(r, _)| r.end - r.start);
        let key = customer_key(
            input.sse_customer_algorithm.as_deref(),
            input.sse_customer_key.as_deref(),
            input.sse_customer_key_md5.as_deref(),
        )?;
        self.buckets
            .check_customer_key(&meta, key.as_ref())
            .map_err(s3_error_of)?;
        let e = answered(&meta.headers);
        let mut response = S3Response::new(HeadObjectOutput {
            server_side_encryption: e.sse,
            sse_customer_algorithm: e.customer_algorithm,
            sse_customer_key_md5: e.customer_key_md5,
            parts_count: part.as_ref().map(|(_, count)| *count as i32),
            version_id: self.version_of(&meta),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            content_length: Some(length as i64),
            accept_ranges: Some("bytes".into()),
            content_type: meta.content_type.clone(),
            e_tag: Some(d.e_tag),
            last_modified: Some(d.last_modified),
            cache_control: d.cache_control,
            content_disposition: d.content_disposition,
            content_encoding: d.content_encoding,
            content_language: d.content_language,
            expires: d.expires,
            metadata: d.metadata,
            ..Default::default()
        });
        if part.is_some() {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    pub(crate) async fn handle_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let condition = delete_condition(
            input.if_match.as_ref().map(etag_text),
            input.if_match_size,
            input.if_match_last_modified_time.as_ref(),
        )?;
        let deleted = self
            .buckets
            .delete_object(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &scope,
                &condition,
            )
            .await
            .map_err(s3_error_of)?;
        let versioned = self.versioned(&input.bucket, &scope);
        Ok(S3Response::with_status(
            DeleteObjectOutput {
                delete_marker: deleted.delete_marker.then_some(true),
                version_id: versioned.then(|| answer_version(deleted.version_id)),
                ..Default::default()
            },
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn handle_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(MalformedXML, "at most 1000 keys per request"));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        let versioned = self.versioned(&input.bucket, &scope);
        for object in input.delete.objects {
            let outcome = match delete_condition(
                object.e_tag.as_ref().map(|t| t.value().to_string()),
                object.size,
                object.last_modified_time.as_ref(),
            ) {
                Ok(condition) => self
                    .buckets
                    .delete_object(
                        &input.bucket,
                        &object.key,
                        object.version_id.as_deref(),
                        &scope,
                        &condition,
                    )
                    .await
                    .map_err(s3_error_of),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(done) => {
                    if !quiet {
                        let marker_id = (done.delete_marker && object.version_id.is_none())
                            .then(|| answer_version(done.version_id.clone()));
                        deleted.push(DeletedObject {
                            key: Some(object.key),
                            version_id: object.version_id.clone(),
                            delete_marker: (done.delete_marker && versioned).then_some(true),
                            delete_marker_version_id: marker_id,
                        });
                    }
                }
                Err(e) => {
                    errors.push(Error {
                        code: Some(e.code().as_str().to_string()),
                        key: Some(object.key),
                        message: e.message().map(str::to_string),
                        version_id: object.version_id,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let scope = self.scope(&req)?;
        let source_scope = self
            .source_scope(&req, &scope, &req.input.copy_source)
            .await?;
        let input = req.input;
        let condition = write_condition(&req.headers)?;
        let (source, src_bucket, src_key) =
            self.copy_source(&input.copy_source, &source_scope).await?;
        check_conditions(
            &source,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|_| s3_error!(PreconditionFailed))?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        // Copying a version over its key restores it; copying the object
        // onto itself unchanged is refused, as S3 does.
        let from_version = matches!(
            &input.copy_source,
            CopySource::Bucket {
                version_id: Some(_),
                ..
            }
        );
        if !replace && !from_version && src_bucket == input.bucket && src_key == input.key {
            return Err(s3_error!(
                InvalidRequest,
                "copying an object onto itself needs MetadataDirective REPLACE"
            ));
        }
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        let mut headers = if replace || replace_tags {
            Some(
                HeaderFields {
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
                .into_headers()?,
            )
        } else {
            None
        };
        // Metadata and tags are copied or replaced each on their own, as
        // their two directives say.
        if let Some(h) = headers.as_mut() {
            let source_tags = source.headers.get(TAGGING_HEADER);
            if !replace {
                let tags = h.headers.remove(TAGGING_HEADER);
                h.content_type = source.content_type.clone();
                h.headers = source.headers.clone();
                h.headers.remove(TAGGING_HEADER);
                h.headers
                    .extend(tags.map(|t| (TAGGING_HEADER.to_string(), t)));
            } else if !replace_tags {
                h.headers.remove(TAGGING_HEADER);
                h.headers
                    .extend(source_tags.map(|t| (TAGGING_HEADER.to_string(), t.clone())));
            }
        }
        let source_key = customer_key(
            input.copy_source_sse_customer_algorithm.as_deref(),
            input.copy_source_sse_customer_key.as_deref(),
            input.copy_source_sse_customer_key_md5.as_deref(),
        )?;
        let encryption = encryption_of(
            input.server_side_encryption.as_ref(),
            customer_key(
                input.sse_customer_algorithm.as_deref(),
                input.sse_customer_key.as_deref(),
                input.sse_customer_key_md5.as_deref(),
            )?,
        )?;
        let meta = self
            .buckets
            .copy_object(
                &source,
                source_key.as_ref(),
                (&input.bucket, &input.key),
                &scope,
                headers,
                &condition,
                &encryption,
            )
            .await
            .map_err(s3_error_of)?;
        let e = answered(&meta.headers);
        Ok(S3Response::new(CopyObjectOutput {
            server_side_encryption: e.sse,
            sse_customer_algorithm: e.customer_algorithm,
            sse_customer_key_md5: e.customer_key_md5,
            version_id: self.version_of(&meta),
            copy_source_version_id: source
                .version_id
                .clone()
                .or_else(|| self.versioned(&src_bucket, &scope).then(|| "null".into())),
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag_of(&meta)),
                last_modified: Some(timestamp_ms(meta.modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

/// The byte range and part count of `?partNumber=N` of an object.
fn part_of(
    meta: &ObjectMeta,
    number: i32,
    with_range: bool,
) -> S3Result<(std::ops::Range<u64>, usize)> {
    if with_range {
        return Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        ));
    }
    u32::try_from(number)
        .ok()
        .and_then(|n| strato_engine::buckets::part_range(&meta.headers, meta.size, n))
        .ok_or_else(|| {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("InvalidPartNumber".into()),
                "The requested partnumber is not satisfiable",
            );
            e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            e
        })
}

/// A version id as S3 answers it: `null` for the null version.
pub(crate) fn answer_version(id: Option<String>) -> String {
    id.unwrap_or_else(|| strato_store::NULL_VERSION.to_string())
}

impl StratoS3 {
    /// Whether a bucket is or was versioned (S3 then names versions in
    /// its answers, `null` included).
    pub(crate) fn versioned(&self, bucket: &str, scope: &strato_engine::buckets::Scope) -> bool {
        self.buckets
            .bucket(bucket, scope)
            .is_ok_and(|b| b.versioning != strato_store::Versioning::Unversioned)
    }

    /// The `x-amz-version-id` to answer for an object.
    pub(crate) fn version_of(&self, meta: &ObjectMeta) -> Option<String> {
        let info = self
            .buckets
            .bucket(&meta.bucket, &strato_engine::buckets::Scope::Admin)
            .ok()?;
        (info.versioning != strato_store::Versioning::Unversioned)
            .then(|| answer_version(meta.version_id.clone()))
    }

    /// The object a copy reads (`x-amz-copy-source`, with its version),
    /// and its bucket and key.
    pub(crate) async fn copy_source(
        &self,
        source: &CopySource,
        scope: &strato_engine::buckets::Scope,
    ) -> S3Result<(ObjectMeta, String, String)> {
        let CopySource::Bucket {
            bucket,
            key,
            version_id,
        } = source
        else {
            return Err(s3_error!(NotImplemented, "access point copy sources"));
        };
        let meta = self
            .buckets
            .head_version(bucket, key, version_id.as_deref(), scope)
            .await
            .map_err(|e| match e {
                // A copy of a delete marker is a bad request, as on S3.
                strato_engine::buckets::BucketError::DeleteMarker { .. } => {
                    s3_error!(InvalidRequest, "the copy source is a delete marker")
                }
                other => s3_error_of(other),
            })?;
        Ok((meta, bucket.to_string(), key.to_string()))
    }
}

/// s3s wants a `Sync` stream; the blob stream is only `Send`. Polling goes
/// through a mutex that is never contended (one reader per response).
struct SyncStream(std::sync::Mutex<strato_engine::buckets::ObjectStream>);

impl futures::Stream for SyncStream {
    type Item = Result<bytes::Bytes, std::io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .as_mut()
            .poll_next(cx)
            .map(|o| o.map(|r| r.map_err(std::io::Error::other)))
    }
}
