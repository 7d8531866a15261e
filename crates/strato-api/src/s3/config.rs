//! A bucket's configuration (tagging, CORS, lifecycle) and object tagging:
//! Get/Put/Delete of each, S3's XML shapes in, Strato's stored form out.

use super::{StratoS3, s3_error_of};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use strato_engine::buckets::config::{
    self, CorsRule, LifecycleRule, MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, Tags, kind,
};

fn tags_in(tagging: Tagging, max: usize) -> S3Result<Tags> {
    let pairs: Vec<(String, String)> = tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    config::check_tags(&pairs, max).map_err(s3_error_of)
}

fn tags_out(tags: impl IntoIterator<Item = (String, String)>) -> TagSet {
    tags.into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

/// `x-amz-tagging` on an upload, checked, in its stored form.
pub(crate) fn tagging_header(text: Option<&str>) -> S3Result<Option<String>> {
    let Some(text) = text else { return Ok(None) };
    let tags =
        config::check_tags(&config::decode_tags(text), MAX_OBJECT_TAGS).map_err(s3_error_of)?;
    Ok((!tags.is_empty()).then(|| config::encode_tags(&tags)))
}

fn cors_in(rule: CORSRule) -> CorsRule {
    CorsRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers: rule.allowed_headers.unwrap_or_default(),
        expose_headers: rule.expose_headers.unwrap_or_default(),
        max_age_seconds: rule.max_age_seconds,
    }
}

fn cors_out(rule: CorsRule) -> CORSRule {
    let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
    CORSRule {
        id: rule.id,
        allowed_origins: rule.allowed_origins,
        allowed_methods: rule.allowed_methods,
        allowed_headers: some(rule.allowed_headers),
        expose_headers: some(rule.expose_headers),
        max_age_seconds: rule.max_age_seconds,
    }
}

const CORS_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

fn days(n: Option<i32>, what: &str) -> S3Result<Option<u32>> {
    n.map(|d| {
        u32::try_from(d)
            .ok()
            .filter(|d| *d > 0)
            .ok_or_else(|| s3_error!(InvalidArgument, "{what} must be a positive number of days"))
    })
    .transpose()
}

fn lifecycle_in(rule: s3s::dto::LifecycleRule) -> S3Result<LifecycleRule> {
    if rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || rule
            .noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(s3_error!(
            NotImplemented,
            "transitions to other storage classes are not supported; Strato has one class"
        ));
    }
    let filter = rule.filter.unwrap_or_default();
    if filter.tag.is_some()
        || filter.and.is_some()
        || filter.object_size_greater_than.is_some()
        || filter.object_size_less_than.is_some()
    {
        return Err(s3_error!(
            NotImplemented,
            "lifecycle filters on tags and sizes are not supported; filter by Prefix"
        ));
    }
    let expiration = rule.expiration.unwrap_or_default();
    let date_ms = expiration.date.map(|d| {
        let t: time::OffsetDateTime = d.into();
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    });
    let converted = LifecycleRule {
        id: rule.id,
        enabled: rule.status.as_str() == ExpirationStatus::ENABLED,
        prefix: filter.prefix.or(rule.prefix).unwrap_or_default(),
        expiration_days: days(expiration.days, "Expiration Days")?,
        expiration_date_ms: date_ms,
        noncurrent_days: days(
            rule.noncurrent_version_expiration
                .and_then(|n| n.noncurrent_days),
            "NoncurrentDays",
        )?,
        abort_incomplete_days: days(
            rule.abort_incomplete_multipart_upload
                .and_then(|a| a.days_after_initiation),
            "DaysAfterInitiation",
        )?,
    };
    if converted.expiration_days.is_none()
        && converted.expiration_date_ms.is_none()
        && converted.noncurrent_days.is_none()
        && converted.abort_incomplete_days.is_none()
    {
        return Err(s3_error!(
            MalformedXML,
            "a lifecycle rule needs an Expiration, NoncurrentVersionExpiration or AbortIncompleteMultipartUpload"
        ));
    }
    Ok(converted)
}

fn lifecycle_out(rule: LifecycleRule) -> s3s::dto::LifecycleRule {
    let signed = |d: u32| d as i32;
    let expiration =
        (rule.expiration_days.is_some() || rule.expiration_date_ms.is_some()).then(|| {
            LifecycleExpiration {
                days: rule.expiration_days.map(signed),
                date: rule.expiration_date_ms.map(super::object::timestamp_ms),
                expired_object_delete_marker: None,
            }
        });
    s3s::dto::LifecycleRule {
        id: rule.id,
        status: ExpirationStatus::from_static(if rule.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        filter: Some(LifecycleRuleFilter {
            prefix: Some(rule.prefix),
            ..Default::default()
        }),
        expiration,
        noncurrent_version_expiration: rule.noncurrent_days.map(|d| NoncurrentVersionExpiration {
            noncurrent_days: Some(signed(d)),
            newer_noncurrent_versions: None,
        }),
        abort_incomplete_multipart_upload: rule.abort_incomplete_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(signed(d)),
            }
        }),
        prefix: None,
        transitions: None,
        noncurrent_version_transitions: None,
    }
}

impl StratoS3 {
    pub(crate) async fn handle_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let scope = self.scope(&req)?;
        let tags: Tags = self
            .buckets
            .bucket_config(&req.input.bucket, &scope, kind::TAGGING)
            .map_err(s3_error_of)?
            .ok_or_else(|| s3_error!(NoSuchTagSet, "the bucket has no tags"))?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: tags_out(tags),
        }))
    }

    pub(crate) async fn handle_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let tags = tags_in(input.tagging, MAX_BUCKET_TAGS)?;
        self.buckets
            .set_bucket_config(&input.bucket, &scope, kind::TAGGING, Some(&tags))
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutBucketTaggingOutput::default()))
    }

    pub(crate) async fn handle_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .set_bucket_config::<Tags>(&req.input.bucket, &scope, kind::TAGGING, None)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteBucketTaggingOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn handle_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
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
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tags_out(config::object_tags(&meta.headers)),
            version_id: self.version_of(&meta),
        }))
    }

    pub(crate) async fn handle_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let tags = tags_in(input.tagging, MAX_OBJECT_TAGS)?;
        self.buckets
            .set_object_tags(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &scope,
                Some(&tags),
            )
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: input.version_id,
        }))
    }

    pub(crate) async fn handle_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        self.buckets
            .set_object_tags(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &scope,
                None,
            )
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteObjectTaggingOutput {
                version_id: input.version_id,
            },
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn handle_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let scope = self.scope(&req)?;
        let rules: Vec<CorsRule> = self
            .buckets
            .bucket_config(&req.input.bucket, &scope, kind::CORS)
            .map_err(s3_error_of)?
            .ok_or_else(|| {
                s3_error!(
                    NoSuchCORSConfiguration,
                    "the bucket has no CORS configuration"
                )
            })?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(rules.into_iter().map(cors_out).collect()),
        }))
    }

    pub(crate) async fn handle_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let rules: Vec<CorsRule> = input
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(cors_in)
            .collect();
        if rules.is_empty() || rules.len() > 100 {
            return Err(s3_error!(
                MalformedXML,
                "a CORS configuration has 1 to 100 rules"
            ));
        }
        for rule in &rules {
            if let Some(m) = rule
                .allowed_methods
                .iter()
                .find(|m| !CORS_METHODS.contains(&m.as_str()))
            {
                return Err(s3_error!(
                    InvalidRequest,
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                ));
            }
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(s3_error!(
                    MalformedXML,
                    "a CORS rule needs an AllowedOrigin and an AllowedMethod"
                ));
            }
        }
        self.buckets
            .set_bucket_config(&input.bucket, &scope, kind::CORS, Some(&rules))
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutBucketCorsOutput::default()))
    }

    pub(crate) async fn handle_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .set_bucket_config::<Vec<CorsRule>>(&req.input.bucket, &scope, kind::CORS, None)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteBucketCorsOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn handle_get_bucket_lifecycle(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let scope = self.scope(&req)?;
        let rules: Vec<LifecycleRule> = self
            .buckets
            .bucket_config(&req.input.bucket, &scope, kind::LIFECYCLE)
            .map_err(s3_error_of)?
            .ok_or_else(|| {
                s3_error!(
                    NoSuchLifecycleConfiguration,
                    "the bucket has no lifecycle configuration"
                )
            })?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(rules.into_iter().map(lifecycle_out).collect()),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_put_bucket_lifecycle(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let rules = input
            .lifecycle_configuration
            .map(|c| c.rules)
            .unwrap_or_default()
            .into_iter()
            .map(lifecycle_in)
            .collect::<S3Result<Vec<_>>>()?;
        if rules.is_empty() || rules.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "a lifecycle configuration has 1 to 1000 rules"
            ));
        }
        self.buckets
            .set_bucket_config(&input.bucket, &scope, kind::LIFECYCLE, Some(&rules))
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    pub(crate) async fn handle_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .set_bucket_config::<Vec<LifecycleRule>>(
                &req.input.bucket,
                &scope,
                kind::LIFECYCLE,
                None,
            )
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteBucketLifecycleOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}
