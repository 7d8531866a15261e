//! Authorization of S3 requests beyond the signing key's scope, decided
//! once per request before the operation runs (s3s calls
//! [`StratoAccess::check`]): a bucket policy's Deny refuses; its Allow, or
//! a canned ACL's grant, admits the request (anonymous ones included) as
//! [`Scope::Granted`] for that operation; otherwise a signed request goes
//! on under its key's scope and an anonymous one is refused. Also the ACL
//! and policy operations themselves.

use super::{StratoS3, s3_error_of};
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::*;
use s3s::path::S3Path;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use std::sync::Arc;
use strato_engine::buckets::access::{
    self, BucketPolicy, CannedAcl, Decision, Request, iam_action,
};
use strato_engine::buckets::config::kind;
use strato_engine::buckets::{BucketError, Buckets, Scope};

/// Marks a request an ACL or a policy granted (in its extensions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Granted;

pub(crate) struct StratoAccess {
    pub buckets: Arc<Buckets>,
}

#[async_trait::async_trait]
impl S3Access for StratoAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let principal = cx.credentials().map(|c| c.access_key.clone());
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let Some(bucket) = bucket else {
            return signed(principal.as_deref());
        };
        let action = iam_action(cx.s3_op().name());
        let key_may_use = principal
            .as_deref()
            .and_then(|id| self.buckets.keys().get(id))
            .is_some_and(|k| {
                let scope = match k.app {
                    Some(app) => Scope::App(app),
                    None => Scope::Admin,
                };
                self.buckets.bucket(&bucket, &scope).is_ok()
            });
        let decision = self
            .buckets
            .decide(
                &Request {
                    principal: principal.as_deref(),
                    action: &action,
                    bucket: &bucket,
                    key: key.as_deref(),
                },
                key_may_use,
            )
            .await;
        match decision {
            Ok(Decision::Deny) => Err(s3_error!(
                AccessDenied,
                "the bucket's policy denies {action}"
            )),
            Ok(Decision::Allow) => {
                cx.extensions_mut().insert(Granted);
                Ok(())
            }
            // A missing bucket is the operation's to answer (NoSuchBucket).
            Ok(Decision::Default) | Err(BucketError::NoSuchBucket(_)) => {
                signed(principal.as_deref())
            }
            Err(e) => Err(s3_error_of(e)),
        }
    }
}

fn signed(principal: Option<&str>) -> S3Result<()> {
    match principal {
        Some(_) => Ok(()),
        None => Err(s3_error!(
            AccessDenied,
            "Anonymous access is forbidden for this operation"
        )),
    }
}

/// A canned ACL from its header, or the body's grants when they spell one.
fn acl_of(
    header: Option<&ObjectCannedACL>,
    body: Option<&AccessControlPolicy>,
) -> S3Result<CannedAcl> {
    if let Some(acl) = header {
        return CannedAcl::parse(acl.as_str()).map_err(s3_error_of);
    }
    let grants = body
        .and_then(|b| b.grants.as_ref())
        .cloned()
        .unwrap_or_default();
    let to_all = |uri: &str, permission: &str| {
        grants.iter().any(|g| {
            g.grantee.as_ref().and_then(|e| e.uri.as_deref()) == Some(uri)
                && g.permission.as_ref().map(|p| p.as_str()) == Some(permission)
        })
    };
    let all = "http://acs.amazonaws.com/groups/global/AllUsers";
    let authenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
    let others = grants
        .iter()
        .filter(|g| g.grantee.as_ref().and_then(|e| e.uri.as_deref()).is_some())
        .count();
    Ok(
        match (
            to_all(all, "READ"),
            to_all(all, "WRITE"),
            to_all(authenticated, "READ"),
            others,
        ) {
            (false, false, false, 0) => CannedAcl::Private,
            (true, false, false, 1) => CannedAcl::PublicRead,
            (true, true, false, 2) => CannedAcl::PublicReadWrite,
            (false, false, true, 1) => CannedAcl::AuthenticatedRead,
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "only grants that spell a canned ACL (private, public-read, public-read-write, authenticated-read) are supported"
                ));
            }
        },
    )
}

/// The grants S3 answers for a canned ACL: the owner's FULL_CONTROL and
/// the groups' permissions.
fn grants_of(acl: CannedAcl) -> Grants {
    let owner = Grant {
        grantee: Some(Grantee {
            id: Some("strato".into()),
            display_name: Some("strato".into()),
            type_: Type::from_static(Type::CANONICAL_USER),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    let group = |uri: &str, permission: &'static str| Grant {
        grantee: Some(Grantee {
            uri: Some(uri.into()),
            type_: Type::from_static(Type::GROUP),
            id: None,
            display_name: None,
            email_address: None,
        }),
        permission: Some(Permission::from_static(permission)),
    };
    let all = "http://acs.amazonaws.com/groups/global/AllUsers";
    let mut grants = vec![owner];
    match acl {
        CannedAcl::Private => {}
        CannedAcl::PublicRead => grants.push(group(all, Permission::READ)),
        CannedAcl::PublicReadWrite => {
            grants.push(group(all, Permission::READ));
            grants.push(group(all, Permission::WRITE));
        }
        CannedAcl::AuthenticatedRead => grants.push(group(
            "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
            Permission::READ,
        )),
    }
    grants
}

fn owner() -> Owner {
    Owner {
        display_name: Some("strato".into()),
        id: Some("strato".into()),
    }
}

impl StratoS3 {
    pub(crate) async fn handle_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let scope = self.scope(&req)?;
        let acl: CannedAcl = self
            .buckets
            .bucket_config(&req.input.bucket, &scope, kind::ACL)
            .map_err(s3_error_of)?
            .unwrap_or_default();
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(grants_of(acl)),
            owner: Some(owner()),
        }))
    }

    pub(crate) async fn handle_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let header = input
            .acl
            .as_ref()
            .map(|a| ObjectCannedACL::from(a.as_str().to_string()));
        let acl = acl_of(header.as_ref(), input.access_control_policy.as_ref())?;
        self.buckets
            .set_bucket_config(&input.bucket, &scope, kind::ACL, Some(&acl))
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    pub(crate) async fn handle_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
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
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(grants_of(access::object_acl(&meta.headers))),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    pub(crate) async fn handle_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let acl = acl_of(input.acl.as_ref(), input.access_control_policy.as_ref())?;
        self.buckets
            .set_object_acl(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &scope,
                acl,
            )
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(crate) async fn handle_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let scope = self.scope(&req)?;
        let policy: BucketPolicy = self
            .buckets
            .bucket_config(&req.input.bucket, &scope, kind::POLICY)
            .map_err(s3_error_of)?
            .ok_or_else(|| s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"))?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(policy.text),
        }))
    }

    pub(crate) async fn handle_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let policy = BucketPolicy::parse(&input.policy, &input.bucket).map_err(s3_error_of)?;
        self.buckets
            .set_bucket_config(&input.bucket, &scope, kind::POLICY, Some(&policy))
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            PutBucketPolicyOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn handle_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let scope = self.scope(&req)?;
        self.buckets
            .set_bucket_config::<BucketPolicy>(&req.input.bucket, &scope, kind::POLICY, None)
            .await
            .map_err(s3_error_of)?;
        Ok(S3Response::with_status(
            DeleteBucketPolicyOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    /// The scope a copy reads its source with: a granted request's source
    /// must be granted too (an ACL on the target bucket never opens
    /// another bucket), else the key's own scope reads it.
    pub(crate) async fn source_scope<T>(
        &self,
        req: &S3Request<T>,
        scope: &Scope,
        source: &CopySource,
    ) -> S3Result<Scope> {
        if *scope != Scope::Granted {
            return Ok(scope.clone());
        }
        let principal = req.credentials.as_ref().map(|c| c.access_key.as_str());
        if let CopySource::Bucket { bucket, key, .. } = source {
            let decision = self
                .buckets
                .decide(
                    &Request {
                        principal,
                        action: "s3:GetObject",
                        bucket,
                        key: Some(key),
                    },
                    false,
                )
                .await
                .map_err(s3_error_of)?;
            match decision {
                Decision::Allow => return Ok(Scope::Granted),
                Decision::Deny => return Err(s3_error!(AccessDenied)),
                Decision::Default => {}
            }
        }
        self.key_scope(req)
    }
}
