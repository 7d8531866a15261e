//! The S3 API on `--s3`: the `s3s` crate parses requests, checks SigV4
//! (headers, presigned URLs, unsigned and aws-chunked payloads) and writes
//! XML; [`StratoS3`] turns each operation into a call on
//! `strato_engine::buckets::Buckets`. One file per operation family:
//! `bucket.rs`, `object.rs`, `list.rs`, `multipart.rs`. Errors become S3
//! error codes in one place (`s3_error_of`); every response carries a
//! request id, and every error document names it.

mod access;
mod attributes;
mod bucket;
mod checksums;
mod conditions;
mod config;
mod cors;
mod encryption;
mod host;
mod list;
mod multipart;
mod object;
mod post;
mod region;

use crate::ResponseBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};
use std::sync::Arc;
use strato_engine::buckets::{BucketError, Buckets, Scope};

/// Largest error document we rewrite to add a request id.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest total size of request headers accepted (S3 allows 8 KiB; the
/// slack covers long presigned-URL-style signatures).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Strato's side of the S3 protocol.
#[derive(Clone)]
pub struct StratoS3 {
    buckets: Arc<Buckets>,
    region: Arc<str>,
}

struct KeyAuth {
    buckets: Arc<Buckets>,
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.buckets.keys().get(access_key) {
            Some(key) => Ok(SecretKey::from(key.secret)),
            None => Err(s3s::s3_error!(
                InvalidAccessKeyId,
                "the access key id you provided does not exist; see `strato keys ls`"
            )),
        }
    }
}

impl StratoS3 {
    /// Who may do this request's operation: [`Scope::Granted`] when a
    /// bucket policy or an ACL granted it (`access.rs` decided before the
    /// operation ran, anonymous requests included), else the signing
    /// key's scope.
    fn scope<T>(&self, req: &S3Request<T>) -> S3Result<Scope> {
        if req.extensions.get::<access::Granted>().is_some() {
            return Ok(Scope::Granted);
        }
        self.key_scope(req)
    }

    /// The signing key's own scope. s3s has verified the signature by now.
    fn key_scope<T>(&self, req: &S3Request<T>) -> S3Result<Scope> {
        let id = req
            .credentials
            .as_ref()
            .map(|c| c.access_key.as_str())
            .ok_or_else(|| s3s::s3_error!(AccessDenied, "the request is not signed"))?;
        match self.buckets.keys().get(id) {
            Some(key) => Ok(match key.app {
                Some(app) => Scope::App(app),
                None => Scope::Admin,
            }),
            None => Err(s3s::s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// The one mapping from bucket errors to S3 error codes.
pub(crate) fn s3_error_of(e: BucketError) -> S3Error {
    let code = match &e {
        BucketError::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        BucketError::NoSuchKey { .. } | BucketError::HiddenByMarker { .. } => {
            S3ErrorCode::NoSuchKey
        }
        BucketError::BucketAlreadyExists(_) => S3ErrorCode::BucketAlreadyExists,
        BucketError::BucketAlreadyOwnedByYou(_) => S3ErrorCode::BucketAlreadyOwnedByYou,
        BucketError::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        BucketError::InvalidBucketName(_) => S3ErrorCode::InvalidBucketName,
        BucketError::KeyTooLong(_) => S3ErrorCode::KeyTooLongError,
        BucketError::InvalidKey(_) => S3ErrorCode::InvalidArgument,
        BucketError::BadDigest | BucketError::BadChecksum(_) => S3ErrorCode::BadDigest,
        BucketError::ChecksumMismatch(_) => S3ErrorCode::InvalidRequest,
        BucketError::IncompleteBody { .. } | BucketError::Body(_) => S3ErrorCode::IncompleteBody,
        BucketError::BodyTooLong(_) => S3ErrorCode::InvalidRequest,
        BucketError::EntityTooLarge => S3ErrorCode::EntityTooLarge,
        BucketError::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        BucketError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        BucketError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        BucketError::EntityTooSmall(_) => S3ErrorCode::EntityTooSmall,
        BucketError::AccessDenied(_) => S3ErrorCode::AccessDenied,
        BucketError::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        BucketError::InvalidTag(_) => S3ErrorCode::InvalidTag,
        BucketError::InvalidEncryption(_) => S3ErrorCode::InvalidRequest,
        BucketError::MalformedPolicy(_) => S3ErrorCode::MalformedPolicy,
        BucketError::NotSupported(_) => S3ErrorCode::NotImplemented,
        BucketError::WrongCustomerKey => S3ErrorCode::AccessDenied,
        BucketError::NoSuchVersion { .. } => S3ErrorCode::NoSuchVersion,
        BucketError::DeleteMarker { .. } => S3ErrorCode::MethodNotAllowed,
        BucketError::Storage(_) | BucketError::Conflict(_) => {
            tracing::error!(error = %e, "s3 request failed");
            return S3Error::with_message(
                S3ErrorCode::InternalError,
                "internal error; see the server log",
            );
        }
    };
    let marker_version = match &e {
        BucketError::HiddenByMarker { version_id, .. } => Some(version_id.clone()),
        BucketError::DeleteMarker { version_id, .. } => Some(Some(version_id.clone())),
        _ => None,
    };
    let mut error = S3Error::with_message(code, e.to_string());
    // S3 marks answers about delete markers with these headers.
    if let Some(version) = marker_version {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-amz-delete-marker",
            http::HeaderValue::from_static("true"),
        );
        let version = version.unwrap_or_else(|| strato_store::NULL_VERSION.to_string());
        if let Ok(v) = http::HeaderValue::from_str(&version) {
            headers.insert("x-amz-version-id", v);
        }
        error.set_headers(headers);
    }
    error
}

/// Longest validity of a presigned URL, as S3 (a week).
const MAX_PRESIGNED_SECS: u64 = 604_800;

/// Builds the S3 service: auth by Strato's access keys, path-style
/// buckets and virtual-host-style ones under `domain`, request ids on
/// every answer.
pub fn service(
    buckets: Arc<Buckets>,
    region: &str,
    domain: Option<&str>,
) -> impl crate::HttpService {
    let s3 = StratoS3 {
        buckets: buckets.clone(),
        region: region.into(),
    };
    let expected_region: Arc<str> = region.into();
    let mut builder = S3ServiceBuilder::new(s3);
    builder.set_auth(KeyAuth {
        buckets: buckets.clone(),
    });
    builder.set_access(access::StratoAccess {
        buckets: buckets.clone(),
    });
    let host = || host::StratoHost {
        domain: domain.map(str::to_string),
    };
    builder.set_host(host());
    let hosts = Arc::new(host());
    let service: S3Service = builder.build();
    move |request: http::Request<hyper::body::Incoming>| -> crate::ResponseFuture {
        let service = service.clone();
        let expected_region = expected_region.clone();
        let buckets = buckets.clone();
        let hosts = hosts.clone();
        Box::pin(async move {
            let request_id = hex::encode_upper(rand::random::<[u8; 8]>());
            let header_bytes: usize = request
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum();
            if header_bytes > MAX_HEADER_BYTES {
                let mut r = http::Response::new(strato_engine::full_body(error_xml(
                    "RequestHeaderSectionTooLarge",
                    "request headers are larger than 16 KiB",
                    &request_id,
                )));
                *r.status_mut() = http::StatusCode::BAD_REQUEST;
                return r;
            }
            if let Some(refusal) = presigned_expiry_refusal(request.uri().query(), &request_id) {
                return refusal;
            }
            let bucket = request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| hosts.bucket_of(h))
                .map(str::to_string)
                .or_else(|| cors::bucket_in_path(request.uri().path()));
            let method = request.method().clone();
            if let Some(answer) = cors::preflight(
                &buckets,
                &method,
                bucket.as_deref(),
                request.headers(),
                &request_id,
            ) {
                return answer;
            }
            let origin = request
                .headers()
                .get("origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let Some(signed) = region::signed_region(request.headers(), request.uri().query())
                && !region::is_signable(&signed)
            {
                return wrong_region(&signed, &expected_region, &request_id);
            }
            // Objects written on behalf of a run make events in its trace.
            let cause =
                strato_engine::trace::parent_of_aws(request.headers(), request.uri().query());
            let call = service.call(post::with_filename(request).await);
            let mut response = match strato_engine::trace::caused_by(cause, call).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = ?e, "s3 service failed");
                    let mut r = http::Response::new(s3s::Body::from(error_xml(
                        "InternalError",
                        "internal error; see the server log",
                        &request_id,
                    )));
                    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                    r
                }
            };
            cors::decorate(
                &buckets,
                &method,
                bucket.as_deref(),
                origin.as_deref(),
                response.headers_mut(),
            );
            with_request_id(response, &request_id).await
        })
    }
}

/// S3's refusal of a presigned URL valid for more than a week (or for no
/// time at all).
fn presigned_expiry_refusal(
    query: Option<&str>,
    request_id: &str,
) -> Option<http::Response<ResponseBody>> {
    let expires = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-Expires="))?;
    let ok = expires
        .parse::<u64>()
        .is_ok_and(|n| (1..=MAX_PRESIGNED_SECS).contains(&n));
    if ok {
        return None;
    }
    let mut r = http::Response::new(strato_engine::full_body(error_xml(
        "AuthorizationQueryParametersError",
        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        request_id,
    )));
    *r.status_mut() = http::StatusCode::BAD_REQUEST;
    Some(r)
}

/// S3's answer to a request signed for the wrong region: the region to
/// sign for, in `<Region>`.
fn wrong_region(signed: &str, expected: &str, request_id: &str) -> http::Response<ResponseBody> {
    let signed = xml_escape(signed);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region '{signed}' is wrong; expecting '{expected}'</Message><Region>{expected}</Region><RequestId>{request_id}</RequestId></Error>"
    );
    let mut r = http::Response::new(strato_engine::full_body(body));
    *r.status_mut() = http::StatusCode::BAD_REQUEST;
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amz-request-id", v);
    }
    r
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
    )
}

/// A form upload its POST policy refuses is `403 AccessDenied` "Invalid
/// according to Policy" on S3; s3s answers 400 InvalidPolicyDocument.
fn policy_refusal_as_s3(parts: &mut http::response::Parts, text: &str) -> String {
    if !(text.contains("<Code>InvalidPolicyDocument</Code>") && text.contains("Policy condition")) {
        return text.to_string();
    }
    parts.status = http::StatusCode::FORBIDDEN;
    text.replace(
        "<Code>InvalidPolicyDocument</Code>",
        "<Code>AccessDenied</Code>",
    )
    .replace("<Message>", "<Message>Invalid according to Policy: ")
}

/// Adds `x-amz-request-id` and, to error documents, a `<RequestId>`.
async fn with_request_id(
    response: http::Response<s3s::Body>,
    request_id: &str,
) -> http::Response<ResponseBody> {
    let (mut parts, body) = response.into_parts();
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        parts.headers.insert("x-amz-request-id", v);
    }
    let is_error = parts.status.is_client_error() || parts.status.is_server_error();
    let small = body
        .bytes()
        .map(|b| b.len() <= MAX_ERROR_BODY)
        .unwrap_or(false);
    if is_error && small {
        let bytes = body.bytes().unwrap_or_default();
        let text = policy_refusal_as_s3(&mut parts, &String::from_utf8_lossy(&bytes));
        let rewritten = match text.rfind("</Error>") {
            Some(at) if !text.contains("<RequestId>") => format!(
                "{}<RequestId>{request_id}</RequestId>{}",
                &text[..at],
                &text[at..]
            ),
            _ => text,
        };
        parts.headers.remove(http::header::CONTENT_LENGTH);
        return http::Response::from_parts(parts, strato_engine::full_body(rewritten));
    }
    let body = body.map_err(strato_engine::BodyError::new).boxed_unsync();
    http::Response::from_parts(parts, body)
}

/// A request body as the byte stream the engine stores.
pub(crate) fn body_stream(
    body: Option<s3s::dto::StreamingBlob>,
) -> impl futures::Stream<Item = Result<Bytes, String>> + Send {
    use futures::StreamExt;
    match body {
        Some(b) => b.map(|r| r.map_err(|e| e.to_string())).left_stream(),
        None => futures::stream::empty().right_stream(),
    }
}

/// Each operation lives in its family's file; this only dispatches.
#[async_trait::async_trait]
impl s3s::S3 for StratoS3 {
    async fn list_buckets(
        &self,
        r: S3Request<s3s::dto::ListBucketsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::ListBucketsOutput>> {
        self.handle_list_buckets(r).await
    }
    async fn create_bucket(
        &self,
        r: S3Request<s3s::dto::CreateBucketInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::CreateBucketOutput>> {
        self.handle_create_bucket(r).await
    }
    async fn head_bucket(
        &self,
        r: S3Request<s3s::dto::HeadBucketInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::HeadBucketOutput>> {
        self.handle_head_bucket(r).await
    }
    async fn get_bucket_location(
        &self,
        r: S3Request<s3s::dto::GetBucketLocationInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketLocationOutput>> {
        self.handle_get_bucket_location(r).await
    }
    async fn get_bucket_versioning(
        &self,
        r: S3Request<s3s::dto::GetBucketVersioningInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketVersioningOutput>> {
        self.handle_get_bucket_versioning(r).await
    }
    async fn put_bucket_versioning(
        &self,
        r: S3Request<s3s::dto::PutBucketVersioningInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketVersioningOutput>> {
        self.handle_put_bucket_versioning(r).await
    }
    async fn delete_bucket(
        &self,
        r: S3Request<s3s::dto::DeleteBucketInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteBucketOutput>> {
        self.handle_delete_bucket(r).await
    }
    async fn put_object(
        &self,
        r: S3Request<s3s::dto::PutObjectInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutObjectOutput>> {
        self.handle_put_object(r).await
    }
    async fn get_object(
        &self,
        r: S3Request<s3s::dto::GetObjectInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetObjectOutput>> {
        self.handle_get_object(r).await
    }
    async fn get_object_attributes(
        &self,
        r: S3Request<s3s::dto::GetObjectAttributesInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetObjectAttributesOutput>> {
        self.handle_get_object_attributes(r).await
    }
    async fn head_object(
        &self,
        r: S3Request<s3s::dto::HeadObjectInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::HeadObjectOutput>> {
        self.handle_head_object(r).await
    }
    async fn delete_object(
        &self,
        r: S3Request<s3s::dto::DeleteObjectInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteObjectOutput>> {
        self.handle_delete_object(r).await
    }
    async fn delete_objects(
        &self,
        r: S3Request<s3s::dto::DeleteObjectsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteObjectsOutput>> {
        self.handle_delete_objects(r).await
    }
    async fn copy_object(
        &self,
        r: S3Request<s3s::dto::CopyObjectInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::CopyObjectOutput>> {
        self.handle_copy_object(r).await
    }
    async fn list_objects_v2(
        &self,
        r: S3Request<s3s::dto::ListObjectsV2Input>,
    ) -> S3Result<s3s::S3Response<s3s::dto::ListObjectsV2Output>> {
        self.handle_list_objects_v2(r).await
    }
    async fn list_objects(
        &self,
        r: S3Request<s3s::dto::ListObjectsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::ListObjectsOutput>> {
        self.handle_list_objects(r).await
    }
    async fn list_object_versions(
        &self,
        r: S3Request<s3s::dto::ListObjectVersionsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::ListObjectVersionsOutput>> {
        self.handle_list_object_versions(r).await
    }
    async fn create_multipart_upload(
        &self,
        r: S3Request<s3s::dto::CreateMultipartUploadInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::CreateMultipartUploadOutput>> {
        self.handle_create_multipart_upload(r).await
    }
    async fn upload_part(
        &self,
        r: S3Request<s3s::dto::UploadPartInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::UploadPartOutput>> {
        self.handle_upload_part(r).await
    }
    async fn upload_part_copy(
        &self,
        r: S3Request<s3s::dto::UploadPartCopyInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::UploadPartCopyOutput>> {
        self.handle_upload_part_copy(r).await
    }
    async fn complete_multipart_upload(
        &self,
        r: S3Request<s3s::dto::CompleteMultipartUploadInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::CompleteMultipartUploadOutput>> {
        self.handle_complete_multipart_upload(r).await
    }
    async fn abort_multipart_upload(
        &self,
        r: S3Request<s3s::dto::AbortMultipartUploadInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::AbortMultipartUploadOutput>> {
        self.handle_abort_multipart_upload(r).await
    }
    async fn list_parts(
        &self,
        r: S3Request<s3s::dto::ListPartsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::ListPartsOutput>> {
        self.handle_list_parts(r).await
    }
    async fn list_multipart_uploads(
        &self,
        r: S3Request<s3s::dto::ListMultipartUploadsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::ListMultipartUploadsOutput>> {
        self.handle_list_multipart_uploads(r).await
    }
    async fn get_bucket_tagging(
        &self,
        r: S3Request<s3s::dto::GetBucketTaggingInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketTaggingOutput>> {
        self.handle_get_bucket_tagging(r).await
    }
    async fn put_bucket_tagging(
        &self,
        r: S3Request<s3s::dto::PutBucketTaggingInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketTaggingOutput>> {
        self.handle_put_bucket_tagging(r).await
    }
    async fn delete_bucket_tagging(
        &self,
        r: S3Request<s3s::dto::DeleteBucketTaggingInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteBucketTaggingOutput>> {
        self.handle_delete_bucket_tagging(r).await
    }
    async fn get_object_tagging(
        &self,
        r: S3Request<s3s::dto::GetObjectTaggingInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetObjectTaggingOutput>> {
        self.handle_get_object_tagging(r).await
    }
    async fn put_object_tagging(
        &self,
        r: S3Request<s3s::dto::PutObjectTaggingInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutObjectTaggingOutput>> {
        self.handle_put_object_tagging(r).await
    }
    async fn delete_object_tagging(
        &self,
        r: S3Request<s3s::dto::DeleteObjectTaggingInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteObjectTaggingOutput>> {
        self.handle_delete_object_tagging(r).await
    }
    async fn get_bucket_cors(
        &self,
        r: S3Request<s3s::dto::GetBucketCorsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketCorsOutput>> {
        self.handle_get_bucket_cors(r).await
    }
    async fn put_bucket_cors(
        &self,
        r: S3Request<s3s::dto::PutBucketCorsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketCorsOutput>> {
        self.handle_put_bucket_cors(r).await
    }
    async fn delete_bucket_cors(
        &self,
        r: S3Request<s3s::dto::DeleteBucketCorsInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteBucketCorsOutput>> {
        self.handle_delete_bucket_cors(r).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        r: S3Request<s3s::dto::GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketLifecycleConfigurationOutput>> {
        self.handle_get_bucket_lifecycle(r).await
    }
    async fn put_bucket_lifecycle_configuration(
        &self,
        r: S3Request<s3s::dto::PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketLifecycleConfigurationOutput>> {
        self.handle_put_bucket_lifecycle(r).await
    }
    async fn delete_bucket_lifecycle(
        &self,
        r: S3Request<s3s::dto::DeleteBucketLifecycleInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteBucketLifecycleOutput>> {
        self.handle_delete_bucket_lifecycle(r).await
    }
    async fn get_bucket_encryption(
        &self,
        r: S3Request<s3s::dto::GetBucketEncryptionInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketEncryptionOutput>> {
        self.handle_get_bucket_encryption(r).await
    }
    async fn put_bucket_encryption(
        &self,
        r: S3Request<s3s::dto::PutBucketEncryptionInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketEncryptionOutput>> {
        self.handle_put_bucket_encryption(r).await
    }
    async fn delete_bucket_encryption(
        &self,
        r: S3Request<s3s::dto::DeleteBucketEncryptionInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteBucketEncryptionOutput>> {
        self.handle_delete_bucket_encryption(r).await
    }
    async fn get_bucket_acl(
        &self,
        r: S3Request<s3s::dto::GetBucketAclInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketAclOutput>> {
        self.handle_get_bucket_acl(r).await
    }
    async fn put_bucket_acl(
        &self,
        r: S3Request<s3s::dto::PutBucketAclInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketAclOutput>> {
        self.handle_put_bucket_acl(r).await
    }
    async fn get_object_acl(
        &self,
        r: S3Request<s3s::dto::GetObjectAclInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetObjectAclOutput>> {
        self.handle_get_object_acl(r).await
    }
    async fn put_object_acl(
        &self,
        r: S3Request<s3s::dto::PutObjectAclInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutObjectAclOutput>> {
        self.handle_put_object_acl(r).await
    }
    async fn get_bucket_policy(
        &self,
        r: S3Request<s3s::dto::GetBucketPolicyInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::GetBucketPolicyOutput>> {
        self.handle_get_bucket_policy(r).await
    }
    async fn put_bucket_policy(
        &self,
        r: S3Request<s3s::dto::PutBucketPolicyInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::PutBucketPolicyOutput>> {
        self.handle_put_bucket_policy(r).await
    }
    async fn delete_bucket_policy(
        &self,
        r: S3Request<s3s::dto::DeleteBucketPolicyInput>,
    ) -> S3Result<s3s::S3Response<s3s::dto::DeleteBucketPolicyOutput>> {
        self.handle_delete_bucket_policy(r).await
    }
}
