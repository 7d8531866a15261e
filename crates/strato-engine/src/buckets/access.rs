//! Who may do what beyond an access key's own scope: canned ACLs on
//! buckets and objects, and bucket policies with the common statements
//! (public read of a prefix, a key denied writes). One decision per
//! request, in [`decide`]: an explicit Deny wins, then an Allow or an ACL's
//! grant; otherwise the key's scope decides (anonymous requests are
//! refused).

use super::config::kind;
use super::{BucketError, Buckets, Scope};
use serde::{Deserialize, Serialize};

/// The stored header holding an object's canned ACL.
pub const ACL_HEADER: &str = "x-amz-acl";

/// S3's canned ACLs, as far as Strato applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CannedAcl {
    #[default]
    #[serde(rename = "private")]
    Private,
    #[serde(rename = "public-read")]
    PublicRead,
    #[serde(rename = "public-read-write")]
    PublicReadWrite,
    #[serde(rename = "authenticated-read")]
    AuthenticatedRead,
}

impl CannedAcl {
    pub fn as_str(self) -> &'static str {
        match self {
            CannedAcl::Private => "private",
            CannedAcl::PublicRead => "public-read",
            CannedAcl::PublicReadWrite => "public-read-write",
            CannedAcl::AuthenticatedRead => "authenticated-read",
        }
    }

    pub fn parse(text: &str) -> Result<CannedAcl, BucketError> {
        [
            CannedAcl::Private,
            CannedAcl::PublicRead,
            CannedAcl::PublicReadWrite,
            CannedAcl::AuthenticatedRead,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
        .ok_or_else(|| {
            BucketError::NotSupported(format!(
                "the canned ACL `{text}` is not supported; use private, public-read, public-read-write or authenticated-read"
            ))
        })
    }
}

/// A bucket policy: S3's JSON document, kept as written and parsed into
/// statements Strato evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPolicy {
    /// The document as the client sent it (answered by GetBucketPolicy).
    pub text: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub allow: bool,
    /// `None`: everyone (`"Principal": "*"`); else access key ids (an
    /// ARN's last segment counts as the id).
    pub principals: Option<Vec<String>>,
    /// `s3:GetObject`, `s3:Get*`, `s3:*`, ...
    pub actions: Vec<String>,
    /// `arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/prefix*`, ...
    pub resources: Vec<String>,
}

fn strings(value: &serde_json::Value, what: &str) -> Result<Vec<String>, BucketError> {
    let malformed =
        || BucketError::MalformedPolicy(format!("{what} must be a string or a list of strings"));
    match value {
        serde_json::Value::String(s) => Ok(vec![s.clone()]),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(malformed))
            .collect(),
        _ => Err(malformed()),
    }
}

impl BucketPolicy {
    /// Parses a policy for `bucket`, refusing what Strato cannot honour
    /// (conditions, NotAction, resources of other buckets) rather than
    /// ignoring it.
    pub fn parse(text: &str, bucket: &str) -> Result<BucketPolicy, BucketError> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            BucketError::MalformedPolicy(format!("Policies must be valid JSON: {e}"))
        })?;
        let list = match &doc["Statement"] {
            serde_json::Value::Array(list) => list.clone(),
            s @ serde_json::Value::Object(_) => vec![s.clone()],
            _ => {
                return Err(BucketError::MalformedPolicy(
                    "Missing required field Statement".into(),
                ));
            }
        };
        let mut statements = Vec::new();
        for s in &list {
            for unsupported in ["Condition", "NotAction", "NotResource", "NotPrincipal"] {
                if s.get(unsupported).is_some() {
                    return Err(BucketError::NotSupported(format!(
                        "policy statements with {unsupported} are not supported"
                    )));
                }
            }
            let allow = match s["Effect"].as_str() {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => {
                    return Err(BucketError::MalformedPolicy(
                        "Effect must be Allow or Deny".into(),
                    ));
                }
            };
            let principals = match &s["Principal"] {
                serde_json::Value::String(star) if star == "*" => None,
                serde_json::Value::Object(p) => match p.get("AWS") {
                    Some(serde_json::Value::String(star)) if star == "*" => None,
                    Some(ids) => Some(
                        strings(ids, "Principal.AWS")?
                            .into_iter()
                            .map(|arn| {
                                arn.rsplit([':', '/'])
                                    .next()
                                    .unwrap_or_default()
                                    .to_string()
                            })
                            .collect(),
                    ),
                    None => return Err(BucketError::MalformedPolicy("Principal needs AWS".into())),
                },
                _ => {
                    return Err(BucketError::MalformedPolicy(
                        "Missing required field Principal".into(),
                    ));
                }
            };
            let actions = strings(&s["Action"], "Action")?;
            let resources = strings(&s["Resource"], "Resource")?;
            let arn = format!("arn:aws:s3:::{bucket}");
            if let Some(other) = resources
                .iter()
                .find(|r| *r != &arn && !r.starts_with(&format!("{arn}/")))
            {
                return Err(BucketError::MalformedPolicy(format!(
                    "Policy has invalid resource `{other}`: it must be this bucket's ({arn} or {arn}/...)"
                )));
            }
            statements.push(Statement {
                allow,
                principals,
                actions,
                resources,
            });
        }
        Ok(BucketPolicy {
            text: text.to_string(),
            statements,
        })
    }
}

/// `pattern` with `*` standing for any run of characters (and `?` for
/// one), as IAM matches actions and resources.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// IAM's action for an S3 operation (as s3s names operations).
pub fn iam_action(operation: &str) -> String {
    let action = match operation {
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "HeadObject" => "GetObject",
        "DeleteObjects" => "DeleteObject",
        "CopyObject"
        | "UploadPart"
        | "UploadPartCopy"
        | "CreateMultipartUpload"
        | "CompleteMultipartUpload" => "PutObject",
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        other => other,
    };
    format!("s3:{action}")
}

/// One request, as access is decided on it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The access key id that signed it; `None` when anonymous.
    pub principal: Option<&'a str>,
    /// IAM's name of the operation (`s3:GetObject`, `s3:ListBucket`, ...).
    pub action: &'a str,
    pub bucket: &'a str,
    /// The object, for object operations.
    pub key: Option<&'a str>,
}

/// What the policy and ACLs say about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refused, whoever asks.
    Deny,
    /// Granted, beyond the key's scope (and to anonymous requests).
    Allow,
    /// Nothing says: the key's scope decides.
    Default,
}

/// Decides a request against a bucket's policy and ACL and, for object
/// reads, the object's ACL.
pub fn decide(
    request: &Request<'_>,
    policy: Option<&BucketPolicy>,
    bucket_acl: CannedAcl,
    object_acl: Option<CannedAcl>,
) -> Decision {
    let resource = match request.key {
        Some(key) => format!("arn:aws:s3:::{}/{key}", request.bucket),
        None => format!("arn:aws:s3:::{}", request.bucket),
    };
    let applies = |s: &Statement| {
        let who = match (&s.principals, request.principal) {
            (None, _) => true,
            (Some(ids), Some(p)) => ids.iter().any(|id| id == p),
            (Some(_), None) => false,
        };
        who && s.actions.iter().any(|a| glob(a, request.action))
            && s.resources.iter().any(|r| glob(r, &resource))
    };
    let statements = policy.map(|p| p.statements.as_slice()).unwrap_or_default();
    if statements.iter().any(|s| !s.allow && applies(s)) {
        return Decision::Deny;
    }
    if statements.iter().any(|s| s.allow && applies(s)) {
        return Decision::Allow;
    }
    let signed = request.principal.is_some();
    let grants = |acl: CannedAcl, write: bool| match acl {
        CannedAcl::Private => false,
        CannedAcl::PublicRead => !write,
        CannedAcl::PublicReadWrite => true,
        CannedAcl::AuthenticatedRead => signed && !write,
    };
    // A bucket's ACL grants listing it (and, public-read-write, writing
    // to it); reading an object takes the object's own ACL, as on S3.
    // ACLs grant listing, reading objects and writing them, nothing of
    // a bucket's configuration.
    let granted = match request.action {
        "s3:ListBucket" => grants(bucket_acl, false),
        "s3:GetObject" => object_acl.is_some_and(|acl| grants(acl, false)),
        "s3:PutObject" | "s3:DeleteObject" => grants(bucket_acl, true),
        _ => false,
    };
    if granted {
        Decision::Allow
    } else {
        Decision::Default
    }
}

impl Buckets {
    /// What the bucket's policy and ACLs say about `request`.
    /// `key_may_use`: the signing key's own scope reaches the bucket, so
    /// only a Deny can change the outcome (and no object's ACL is read).
    pub async fn decide(
        &self,
        request: &Request<'_>,
        key_may_use: bool,
    ) -> Result<Decision, BucketError> {
        let info = self.bucket(request.bucket, &Scope::Admin)?;
        // Nothing configured: the key's scope decides, on the hot path
        // without a look at anything else.
        if key_may_use && !info.config.contains_key(kind::POLICY) {
            return Ok(Decision::Default);
        }
        let stored = |kind: &str| info.config.get(kind).cloned();
        let policy: Option<BucketPolicy> = stored(kind::POLICY)
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| BucketError::Storage(format!("stored policy: {e}")))?;
        let bucket_acl: CannedAcl = stored(kind::ACL)
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| BucketError::Storage(format!("stored ACL: {e}")))?
            .unwrap_or_default();
        let object_acl = match request.key {
            Some(key) if !key_may_use && request.action == "s3:GetObject" => self
                .store
                .get_object(request.bucket, key)
                .await?
                .and_then(|o| o.headers.get(ACL_HEADER).cloned())
                .map(|acl| CannedAcl::parse(&acl))
                .transpose()?,
            _ => None,
        };
        Ok(decide(request, policy.as_ref(), bucket_acl, object_acl))
    }

    /// Sets an object's canned ACL (the visible object, or one version).
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        scope: &Scope,
        acl: CannedAcl,
    ) -> Result<(), BucketError> {
        let mut headers = self
            .head_version(bucket, key, version_id, scope)
            .await?
            .headers;
        match acl {
            CannedAcl::Private => headers.remove(ACL_HEADER),
            other => headers.insert(ACL_HEADER.to_string(), other.as_str().to_string()),
        };
        if self
            .store
            .set_object_headers(bucket, key, version_id, &headers)
            .await?
        {
            Ok(())
        } else {
            Err(BucketError::NoSuchKey {
                bucket: bucket.to_string(),
                key: key.to_string(),
            })
        }
    }
}

/// An object's canned ACL, from its stored headers.
pub fn object_acl(headers: &std::collections::BTreeMap<String, String>) -> CannedAcl {
    headers
        .get(ACL_HEADER)
        .and_then(|a| CannedAcl::parse(a).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(principal: Option<&'a str>, action: &'a str, key: Option<&'a str>) -> Request<'a> {
        Request {
            principal,
            action,
            bucket: "site",
            key,
        }
    }

    const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/public/*"},
        {"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam::000000000000:user/READER1"]},
         "Action": ["s3:Put*", "s3:DeleteObject"], "Resource": ["arn:aws:s3:::site/*"]}]}"#;

    #[test]
    fn policies_allow_a_public_prefix_and_deny_a_key_writes() {
        let policy = BucketPolicy::parse(POLICY, "site").unwrap();
        let p = Some(&policy);
        let private = CannedAcl::Private;
        let d = |r: Request<'_>| decide(&r, p, private, None);
        assert_eq!(
            d(req(None, "s3:GetObject", Some("public/a.png"))),
            Decision::Allow
        );
        assert_eq!(
            d(req(None, "s3:GetObject", Some("private/a.png"))),
            Decision::Default
        );
        assert_eq!(
            d(req(None, "s3:PutObject", Some("public/a.png"))),
            Decision::Default
        );
        assert_eq!(
            d(req(Some("READER1"), "s3:PutObject", Some("x"))),
            Decision::Deny
        );
        assert_eq!(
            d(req(Some("READER1"), "s3:DeleteObject", Some("x"))),
            Decision::Deny
        );
        assert_eq!(
            d(req(Some("READER1"), "s3:GetObject", Some("x"))),
            Decision::Default
        );
        assert_eq!(
            d(req(Some("OTHER"), "s3:PutObject", Some("x"))),
            Decision::Default
        );
    }

    #[test]
    fn policies_that_cannot_be_honoured_are_refused() {
        let bad = |text: &str| BucketPolicy::parse(text, "site").is_err();
        assert!(bad("not json"));
        assert!(!bad(r#"{"Statement": []}"#));
        assert!(bad(
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::other/*"}]}"#
        ));
        assert!(bad(
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::site/*", "Condition": {"IpAddress": {}}}]}"#
        ));
        assert!(bad(
            r#"{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::site/*"}]}"#
        ));
    }

    #[test]
    fn canned_acls_grant_as_s3() {
        let d = |r: Request<'_>, bucket, object| decide(&r, None, bucket, object);
        use CannedAcl::*;
        // A public-read bucket lists to anyone, but its objects are read
        // only as their own ACLs say.
        assert_eq!(
            d(req(None, "s3:ListBucket", None), PublicRead, None),
            Decision::Allow
        );
        assert_eq!(
            d(
                req(None, "s3:GetObject", Some("k")),
                PublicRead,
                Some(Private)
            ),
            Decision::Default
        );
        assert_eq!(
            d(
                req(None, "s3:GetObject", Some("k")),
                Private,
                Some(PublicRead)
            ),
            Decision::Allow
        );
        assert_eq!(
            d(req(None, "s3:PutObject", Some("k")), PublicRead, None),
            Decision::Default
        );
        assert_eq!(
            d(req(None, "s3:PutObject", Some("k")), PublicReadWrite, None),
            Decision::Allow
        );
        assert_eq!(
            d(
                req(None, "s3:GetObject", Some("k")),
                Private,
                Some(AuthenticatedRead)
            ),
            Decision::Default
        );
        assert_eq!(
            d(
                req(Some("K"), "s3:GetObject", Some("k")),
                Private,
                Some(AuthenticatedRead)
            ),
            Decision::Allow
        );
        assert!(glob("s3:Get*", "s3:GetObject") && !glob("s3:Get*", "s3:PutObject"));
        assert!(glob("arn:aws:s3:::site/a?c/*", "arn:aws:s3:::site/abc/d/e"));
    }
}
