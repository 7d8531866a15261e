//! ListObjectsV2, ListObjects (v1) and ListObjectVersions (versions and
//! delete markers, newest first within a key).

use super::object::{etag_of, timestamp_ms};
use super::{StratoS3, s3_error_of};
use base64::Engine;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use strato_engine::buckets::{ListPage, ListRequest};

const DEFAULT_MAX_KEYS: i32 = 1000;

/// `encoding-type=url`: keys and prefixes in the answer are URL-encoded.
fn encoder(encoding: Option<&EncodingType>) -> S3Result<impl Fn(&str) -> String> {
    let url = match encoding {
        None => false,
        Some(e) if e.as_str() == EncodingType::URL => true,
        Some(e) => {
            return Err(s3_error!(
                InvalidArgument,
                "invalid encoding type `{}`; use `url`",
                e.as_str()
            ));
        }
    };
    Ok(move |text: &str| {
        if url {
            uri_encode(text)
        } else {
            text.to_string()
        }
    })
}

/// S3's URI encoding: unreserved characters and `/` stay, the rest %XX.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(DEFAULT_MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(n.min(DEFAULT_MAX_KEYS) as usize),
    }
}

fn contents(page: &ListPage, encode: &impl Fn(&str) -> String) -> Vec<Object> {
    page.objects
        .iter()
        .map(|o| Object {
            key: Some(encode(&o.key)),
            size: Some(o.size as i64),
            e_tag: Some(etag_of(o)),
            last_modified: Some(timestamp_ms(o.modified_ms)),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect()
}

fn prefixes<T>(page: &ListPage<T>, encode: &impl Fn(&str) -> String) -> Option<Vec<CommonPrefix>> {
    (!page.common_prefixes.is_empty()).then(|| {
        page.common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(encode(p)),
            })
            .collect()
    })
}

pub(super) fn token_encode(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

pub(super) fn token_decode(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "the continuation token is not valid"))
}

impl StratoS3 {
    /// One page of keys, the same for all three listing operations.
    async fn page(
        &self,
        bucket: &str,
        scope: &strato_engine::buckets::Scope,
        prefix: Option<&str>,
        delimiter: Option<&str>,
        start_after: String,
        max_keys: usize,
    ) -> S3Result<ListPage> {
        self.buckets
            .list_objects(
                bucket,
                scope,
                &ListRequest {
                    prefix: prefix.unwrap_or_default().to_string(),
                    delimiter: delimiter.map(str::to_string),
                    start_after,
                    start_after_version: None,
                    max_keys,
                },
            )
            .await
            .map_err(s3_error_of)
    }

    pub(crate) async fn handle_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let encode = encoder(input.encoding_type.as_ref())?;
        let encoding_type = input.encoding_type.clone();
        let start_after = match &input.continuation_token {
            Some(t) => token_decode(t)?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let max = max_keys(input.max_keys)?;
        let page = self
            .page(
                &input.bucket,
                &scope,
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                start_after,
                max,
            )
            .await?;
        let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode(input.prefix.as_deref().unwrap_or(""))),
            max_keys: Some(max as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.truncated),
            next_continuation_token: page
                .truncated
                .then(|| page.next.as_deref().map(token_encode))
                .flatten(),
            contents: Some(contents(&page, &encode)),
            common_prefixes: prefixes(&page, &encode),
            delimiter: input.delimiter.map(|d| encode(&d)),
            encoding_type,
            start_after: input.start_after.map(|s| encode(&s)),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let encode = encoder(input.encoding_type.as_ref())?;
        let encoding_type = input.encoding_type.clone();
        let max = max_keys(input.max_keys)?;
        let page = self
            .page(
                &input.bucket,
                &scope,
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                input.marker.clone().unwrap_or_default(),
                max,
            )
            .await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(input.prefix.as_deref().unwrap_or(""))),
            marker: Some(encode(input.marker.as_deref().unwrap_or(""))),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_marker: page
                .truncated
                .then(|| page.next.as_deref().map(&encode))
                .flatten(),
            contents: Some(contents(&page, &encode)),
            common_prefixes: prefixes(&page, &encode),
            delimiter: input.delimiter.map(|d| encode(&d)),
            encoding_type,
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let encode = encoder(input.encoding_type.as_ref())?;
        let encoding_type = input.encoding_type.clone();
        let max = max_keys(input.max_keys)?;
        if input.version_id_marker.is_some() && input.key_marker.is_none() {
            return Err(s3_error!(
                InvalidArgument,
                "a version-id-marker needs a key-marker"
            ));
        }
        let page = self
            .buckets
            .list_versions(
                &input.bucket,
                &scope,
                &ListRequest {
                    prefix: input.prefix.clone().unwrap_or_default(),
                    delimiter: input.delimiter.clone(),
                    start_after: input.key_marker.clone().unwrap_or_default(),
                    start_after_version: input.version_id_marker.clone(),
                    max_keys: max,
                },
            )
            .await
            .map_err(s3_error_of)?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for v in &page.objects {
            let o = &v.meta;
            let version_id = Some(super::object::answer_version(o.version_id.clone()));
            if v.delete_marker {
                markers.push(DeleteMarkerEntry {
                    key: Some(encode(&o.key)),
                    version_id,
                    is_latest: Some(v.latest),
                    last_modified: Some(timestamp_ms(o.modified_ms)),
                    owner: None,
                });
            } else {
                versions.push(ObjectVersion {
                    key: Some(encode(&o.key)),
                    version_id,
                    is_latest: Some(v.latest),
                    size: Some(o.size as i64),
                    e_tag: Some(etag_of(o)),
                    last_modified: Some(timestamp_ms(o.modified_ms)),
                    storage_class: Some(ObjectVersionStorageClass::from_static(
                        ObjectVersionStorageClass::STANDARD,
                    )),
                    ..Default::default()
                });
            }
        }
        let (next_key, next_version) = if page.truncated {
            (page.next.clone(), page.next_version.clone())
        } else {
            (None, None)
        };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(input.prefix.as_deref().unwrap_or(""))),
            key_marker: Some(encode(input.key_marker.as_deref().unwrap_or(""))),
            version_id_marker: input.version_id_marker.clone(),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: next_key.as_deref().map(&encode),
            next_version_id_marker: next_version,
            versions: Some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: prefixes(&page, &encode),
            delimiter: input.delimiter.map(|d| encode(&d)),
            encoding_type,
            request_charged: None,
        }))
    }
}
