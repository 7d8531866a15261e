//! ListBuckets, CreateBucket, HeadBucket, GetBucketLocation, DeleteBucket,
//! GetBucketVersioning.

use super::object::timestamp_ms;
use super::{StratoS3, s3_error_of};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

impl StratoS3 {
    pub(crate) async fn handle_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let scope = self.scope(&req)?;
        let buckets = self
            .buckets
            .list_buckets(&scope)
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
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .create_bucket(&req.input.bucket, &scope)
            .await
            .map_err(s3_error_of)?;
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
        self.buckets
            .bucket(&req.input.bucket, &scope)
            .map_err(s3_error_of)?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }
}
