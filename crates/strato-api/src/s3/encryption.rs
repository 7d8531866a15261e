//! Server-side encryption as requests ask for it (SSE-S3's
//! `x-amz-server-side-encryption: AES256`, SSE-C's three customer-key
//! headers; SSE-KMS answers NotImplemented), as answers report it, and
//! a bucket's default (Get/Put/DeleteBucketEncryption).

use super::{StratoS3, s3_error_of};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use std::collections::BTreeMap;
use strato_engine::buckets::config::kind;
use strato_engine::buckets::sse::{
    CustomerKey, Encryption, SSE_C_ALGORITHM_HEADER, SSE_C_KEY_MD5_HEADER, SSE_HEADER,
};

/// The SSE-C key of a request's three headers (all or none).
pub(crate) fn customer_key(
    algorithm: Option<&str>,
    key: Option<&str>,
    md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    match (algorithm, key, md5) {
        (None, None, None) => Ok(None),
        (Some(a), Some(k), Some(m)) => CustomerKey::parse(a, k, m)
            .map(Some)
            .map_err(|e| s3_error!(InvalidArgument, "{e}")),
        _ => Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the algorithm, the key and its MD5"
        )),
    }
}

/// What a write asks: SSE-S3, SSE-C, or the bucket's default.
pub(crate) fn encryption_of(
    sse: Option<&ServerSideEncryption>,
    customer: Option<CustomerKey>,
) -> S3Result<Encryption> {
    match (sse.map(|s| s.as_str()), customer) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        )),
        (None, Some(key)) => Ok(Encryption::Customer(key)),
        (None, None) => Ok(Encryption::Default),
        (Some(ServerSideEncryption::AES256), None) => Ok(Encryption::S3),
        (Some(kms), None) if kms.starts_with("aws:kms") => Err(s3_error!(
            NotImplemented,
            "SSE-KMS is not supported (Strato has no KMS); use AES256 (SSE-S3) or SSE-C"
        )),
        (Some(other), None) => Err(s3_error!(
            InvalidArgument,
            "the server-side encryption `{other}` is not valid; use AES256"
        )),
    }
}

/// How an object's encryption is answered: S3's three headers.
pub(crate) struct Answered {
    pub sse: Option<ServerSideEncryption>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

pub(crate) fn answered(headers: &BTreeMap<String, String>) -> Answered {
    Answered {
        sse: headers
            .get(SSE_HEADER)
            .map(|s| ServerSideEncryption::from(s.clone())),
        customer_algorithm: headers.get(SSE_C_ALGORITHM_HEADER).cloned(),
        customer_key_md5: headers.get(SSE_C_KEY_MD5_HEADER).cloned(),
    }
}

impl StratoS3 {
    pub(crate) async fn handle_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let scope = self.scope(&req)?;
        let algorithm: String = self
            .buckets
            .bucket_config(&req.input.bucket, &scope, kind::ENCRYPTION)
            .map_err(s3_error_of)?
            .ok_or_else(|| {
                s3_error!(
                    ServerSideEncryptionConfigurationNotFoundError,
                    "The server side encryption configuration was not found"
                )
            })?;
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        sse_algorithm: ServerSideEncryption::from(algorithm),
                        kms_master_key_id: None,
                    }),
                    ..Default::default()
                }],
            }),
        }))
    }

    pub(crate) async fn handle_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let rules = input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(
                MalformedXML,
                "a bucket's encryption configuration has exactly one rule"
            ));
        };
        let by_default = rule
            .apply_server_side_encryption_by_default
            .as_ref()
            .ok_or_else(|| {
                s3_error!(
                    MalformedXML,
                    "the rule needs ApplyServerSideEncryptionByDefault"
                )
            })?;
        // Only SSE-S3 can be a default (a customer key comes with each
        // request); SSE-KMS is refused as it is for objects.
        match encryption_of(Some(&by_default.sse_algorithm), None)? {
            Encryption::S3 => {}
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "the default encryption must be AES256"
                ));
            }
        }
        self.buckets
            .set_bucket_config(&input.bucket, &scope, kind::ENCRYPTION, Some(&"AES256"))
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    pub(crate) async fn handle_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .set_bucket_config::<String>(&req.input.bucket, &scope, kind::ENCRYPTION, None)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteBucketEncryptionOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}
