//! What a bucket operation can fail with, and how store, name and blob
//! errors become it.

use super::ChecksumAlgorithm;
use strato_blob::BlobError;
use strato_store::ConditionFailure;

/// What failed in a bucket operation; the S3 and control APIs map these to
/// their own error codes in one place each.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("bucket `{0}` does not exist")]
    NoSuchBucket(String),
    #[error("no object `{key}` in bucket `{bucket}`")]
    NoSuchKey { bucket: String, key: String },
    #[error("bucket `{0}` already exists and belongs to someone else")]
    BucketAlreadyExists(String),
    #[error("bucket `{0}` already exists and is yours")]
    BucketAlreadyOwnedByYou(String),
    #[error("bucket `{0}` is not empty; delete its objects first (or `strato destroy --force`)")]
    BucketNotEmpty(String),
    #[error("{0}")]
    InvalidBucketName(String),
    #[error("{0}")]
    InvalidKey(String),
    #[error("{0}")]
    KeyTooLong(String),
    #[error("the body's MD5 does not match Content-MD5")]
    BadDigest,
    #[error("The {} you specified did not match the calculated checksum.", .0.name())]
    BadChecksum(ChecksumAlgorithm),
    /// A checksum that does not fit its upload (S3's InvalidRequest).
    #[error("{0}")]
    ChecksumMismatch(String),
    #[error("the body ended after {got} of {expected} bytes")]
    IncompleteBody { expected: u64, got: u64 },
    #[error("the body is larger than its declared {0} bytes")]
    BodyTooLong(u64),
    #[error("an object sent in one request may be at most 5 GiB; use a multipart upload")]
    EntityTooLarge,
    #[error("no multipart upload `{0}`")]
    NoSuchUpload(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error("parts must be listed in ascending order")]
    InvalidPartOrder,
    #[error("part {0} is smaller than 5 MiB; only the last part may be")]
    EntityTooSmall(u32),
    #[error(
        "these credentials may not use bucket `{0}`; use a key of the app that declares it, or an admin key (`strato keys`)"
    )]
    AccessDenied(String),
    #[error("reading the request body failed: {0}")]
    Body(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("{0}")]
    Conflict(String),
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("no version `{version_id}` of `{key}`")]
    NoSuchVersion { key: String, version_id: String },
    #[error("{0}")]
    InvalidTag(String),
    #[error("{0}")]
    MalformedPolicy(String),
    /// A feature Strato does not offer (S3's NotImplemented).
    #[error("{0}")]
    NotSupported(String),
    /// Encryption parameters that are wrong or missing (S3's
    /// InvalidRequest / InvalidArgument).
    #[error("{0}")]
    InvalidEncryption(String),
    /// An SSE-C key other than the one the object was stored with.
    #[error("the customer key given is not the one the object was stored with")]
    WrongCustomerKey,
    /// No object: a delete marker is the key's newest version (S3: 404
    /// NoSuchKey, with `x-amz-delete-marker: true`).
    #[error("no object `{key}`: a delete marker hides it")]
    HiddenByMarker {
        key: String,
        version_id: Option<String>,
    },
    /// The version asked for is a delete marker (S3: 405).
    #[error("version `{version_id}` of `{key}` is a delete marker")]
    DeleteMarker { key: String, version_id: String },
}

impl BucketError {
    /// The error for a write whose condition did not hold.
    pub fn unmet(failure: ConditionFailure, bucket: &str, key: &str) -> BucketError {
        match failure {
            ConditionFailure::Missing => BucketError::NoSuchKey {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            ConditionFailure::Mismatch => BucketError::PreconditionFailed,
        }
    }
}

impl From<strato_store::StoreError> for BucketError {
    fn from(e: strato_store::StoreError) -> Self {
        match e {
            _ if e.kind() == strato_store::StoreErrorKind::Conflict => {
                BucketError::Conflict(e.to_string())
            }
            other => BucketError::Storage(other.to_string()),
        }
    }
}

impl From<strato_core::s3names::S3NameError> for BucketError {
    fn from(e: strato_core::s3names::S3NameError) -> Self {
        use strato_core::s3names::S3NameError;
        match e {
            S3NameError::KeyTooLong => BucketError::KeyTooLong(e.to_string()),
            S3NameError::Key(_) => BucketError::InvalidKey(e.to_string()),
            S3NameError::Bucket { .. } => BucketError::InvalidBucketName(e.to_string()),
        }
    }
}

impl From<BlobError> for BucketError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Upload(msg) => BucketError::Body(msg),
            other => BucketError::Storage(other.to_string()),
        }
    }
}
