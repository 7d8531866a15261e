//! ListBuckets, CreateBucket, HeadBucket, GetBucketLocation, DeleteBucket,
//! Get/PutBucketVersioning.

use super::object::timestamp_ms;
use super::{StratoS3, s3_error_of};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use strato_engine::buckets::access::CannedAcl;
use strato_engine::buckets::config::kind;
use strato_store::Versioning;

impl StratoS3 {
    pub(crate) async fn handle_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let max = match input.max_buckets {
            None => usize::MAX,
            Some(n @ 1..=10_000) => n as usize,
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets must be between 1 and 10000"
                ));
            }
        };
        let after = input
            .continuation_token
            .as_deref()
            .map(super::list::token_decode)
            .transpose()?
            .unwrap_or_default();
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut listed: Vec<_> = self
            .buckets
            .list_buckets(&scope)
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix) && b.name > after)
            .take(max.saturating_add(1))
            .collect();
        let next = (listed.len() > max).then(|| {
            listed.truncate(max);
            super::list::token_encode(&listed[max - 1].name)
        });
        let buckets = listed
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp_ms(b.created_at_ms)),
                bucket_region: Some(self.region.to_string()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("strato".into()),
                id: Some("strato".into()),
            }),
            continuation_token: next,
            prefix: input.prefix,
        }))
    }

    pub(crate) async fn handle_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let scope = self.scope(&req)?;
        let acl = req
            .input
            .acl
            .as_ref()
            .map(|a| CannedAcl::parse(a.as_str()))
            .transpose()
            .map_err(s3_error_of)?;
        self.buckets
            .create_bucket(&req.input.bucket, &scope)
            .await
            .map_err(s3_error_of)?;
        if let Some(acl) = acl.filter(|a| *a != CannedAcl::Private) {
            self.buckets
                .set_bucket_config(&req.input.bucket, &scope, kind::ACL, Some(&acl))
                .await
                .map_err(s3_error_of)?;
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    pub(crate) async fn handle_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .bucket(&req.input.bucket, &scope)
            .map_err(s3_error_of)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.to_string()),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .bucket(&req.input.bucket, &scope)
            .map_err(s3_error_of)?;
        // S3 answers an empty constraint for us-east-1.
        let constraint = (&*self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.to_string()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: constraint,
        }))
    }

    pub(crate) async fn handle_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .delete_bucket(&req.input.bucket, &scope, false)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteBucketOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    /// A bucket whose versioning was never set answers an empty
    /// configuration (no `Status`), as S3 does; tools such as rclone ask
    /// before purging.
    pub(crate) async fn handle_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let scope = self.scope(&req)?;
        let bucket = self
            .buckets
            .bucket(&req.input.bucket, &scope)
            .map_err(s3_error_of)?;
        let status = match bucket.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
            Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
        };
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: status.map(BucketVersioningStatus::from_static),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let config = input.versioning_configuration;
        if config
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(s3_error!(
                NotImplemented,
                "MFA delete is not supported; Strato has no MFA devices"
            ));
        }
        let versioning = match config.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "the versioning Status must be Enabled or Suspended"
                ));
            }
        };
        self.buckets
            .set_versioning(&input.bucket, &scope, versioning)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }
}
