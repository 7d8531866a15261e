//! A bucket's configuration documents (tags, CORS rules, lifecycle rules)
//! and object tags: what they hold and the rules that read them. Each is
//! kept as JSON in the bucket's record, under its kind's name.

use super::{BucketError, Buckets, Scope};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;
use strato_core::percent;

/// The configuration kinds a bucket keeps.
pub mod kind {
    pub const TAGGING: &str = "tagging";
    pub const CORS: &str = "cors";
    pub const LIFECYCLE: &str = "lifecycle";
    /// The bucket's canned ACL and its policy (see `access`).
    pub const ACL: &str = "acl";
    pub const POLICY: &str = "policy";
    /// The default encryption of new objects (`"AES256"`).
    pub const ENCRYPTION: &str = "encryption";
}

/// The stored header holding an object's tags (`k=v&k2=v2`, as S3's
/// `x-amz-tagging` header carries them).
pub const TAGGING_HEADER: &str = "x-amz-tagging";

/// S3's limits on tags: per object, key and value lengths.
pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// Tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// Checks tags against S3's limits (S3's InvalidTag).
pub fn check_tags(tags: &[(String, String)], max: usize) -> Result<Tags, BucketError> {
    if tags.len() > max {
        return Err(BucketError::InvalidTag(format!(
            "at most {max} tags are allowed"
        )));
    }
    let mut out = Tags::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(BucketError::InvalidTag(format!(
                "a tag key must be 1 to {MAX_TAG_KEY} characters"
            )));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(BucketError::InvalidTag(format!(
                "a tag value may be at most {MAX_TAG_VALUE} characters"
            )));
        }
        if out.insert(k.clone(), v.clone()).is_some() {
            return Err(BucketError::InvalidTag(format!(
                "the tag key `{k}` is given twice"
            )));
        }
    }
    Ok(out)
}

/// Tags as the `x-amz-tagging` header and query strings write them.
pub fn encode_tags(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", percent::encode(k), percent::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses `k=v&k2=v2` (form-encoded) into tags.
pub fn decode_tags(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(text: &str) -> String {
    strato_core::percent::decode(text, strato_core::percent::Plus::IsSpace)
}

/// One CORS rule, as S3's `CORSRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default)]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<i32>,
}

/// `pattern` with at most one `*` matching any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(text),
        Some((head, tail)) => {
            text.len() >= head.len() + tail.len()
                && text[..head.len()].eq_ignore_ascii_case(head)
                && text[text.len() - tail.len()..].eq_ignore_ascii_case(tail)
        }
    }
}

impl CorsRule {
    /// Whether this rule allows a request from `origin` with `method`
    /// asking to send `headers` (a preflight's Access-Control-Request-*).
    pub fn allows(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                self.allowed_headers
                    .iter()
                    .any(|allowed| wildcard_match(allowed, h.trim()))
            })
    }
}

/// The first rule allowing the request, as S3 picks it.
pub fn cors_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| r.allows(origin, method, headers))
}

/// One lifecycle rule, as far as Strato applies them: expiring current
/// objects (after days, or from a date), noncurrent versions, and
/// unfinished multipart uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    #[serde(default)]
    pub id: Option<String>,
    pub enabled: bool,
    /// Keys the rule applies to.
    #[serde(default)]
    pub prefix: String,
    /// Current objects expire this many days after they were written...
    #[serde(default)]
    pub expiration_days: Option<u32>,
    /// ...or from this time on.
    #[serde(default)]
    pub expiration_date_ms: Option<i64>,
    /// Older versions are removed this many days after they stopped being
    /// current.
    #[serde(default)]
    pub noncurrent_days: Option<u32>,
    /// Unfinished multipart uploads are aborted this many days after they
    /// started.
    #[serde(default)]
    pub abort_incomplete_days: Option<u32>,
}

impl Buckets {
    /// One configuration document of a bucket, if set.
    pub fn bucket_config<T: DeserializeOwned>(
        &self,
        bucket: &str,
        scope: &Scope,
        kind: &str,
    ) -> Result<Option<T>, BucketError> {
        let info = self.bucket(bucket, scope)?;
        info.config
            .get(kind)
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| BucketError::Storage(format!("stored {kind} configuration: {e}")))
            })
            .transpose()
    }

    /// Sets (or, with `None`, removes) a configuration document.
    pub async fn set_bucket_config<T: Serialize>(
        &self,
        bucket: &str,
        scope: &Scope,
        kind: &str,
        value: Option<&T>,
    ) -> Result<(), BucketError> {
        self.bucket(bucket, scope)?;
        let value = value
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| BucketError::Storage(e.to_string()))?;
        if !self
            .store
            .set_bucket_config(bucket, kind, value.as_ref())
            .await?
        {
            return Err(BucketError::NoSuchBucket(bucket.to_string()));
        }
        self.reload_buckets().await
    }

    /// Replaces an object's tags (`None` removes them).
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        scope: &Scope,
        tags: Option<&Tags>,
    ) -> Result<(), BucketError> {
        let mut headers = self
            .head_version(bucket, key, version_id, scope)
            .await?
            .headers;
        match tags.filter(|t| !t.is_empty()) {
            Some(tags) => headers.insert(TAGGING_HEADER.to_string(), encode_tags(tags)),
            None => headers.remove(TAGGING_HEADER),
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

/// An object's tags, from its stored headers.
pub fn object_tags(headers: &BTreeMap<String, String>) -> Vec<(String, String)> {
    headers
        .get(TAGGING_HEADER)
        .map(|t| decode_tags(t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn cors_rules_match_origins_methods_and_headers_as_s3() {
        let rules = [
            rule(&["https://*.example.com"], &["GET", "PUT"], &["content-*"]),
            rule(&["*"], &["GET"], &[]),
        ];
        let pick = |origin, method, headers: &[&str]| {
            cors_rule(&rules, origin, method, headers).map(|r| r.allowed_origins[0].clone())
        };
        assert_eq!(
            pick("https://app.example.com", "PUT", &["Content-Type"]).as_deref(),
            Some("https://*.example.com")
        );
        assert_eq!(pick("https://other.org", "GET", &[]).as_deref(), Some("*"));
        assert_eq!(pick("https://other.org", "PUT", &[]), None);
        assert_eq!(pick("https://app.example.com", "PUT", &["x-custom"]), None);
        // The wildcard stands for a run of characters, not for nothing
        // overlapping the rest.
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn tags_round_trip_and_keep_s3_limits() {
        let tags = check_tags(
            &[
                ("team".into(), "media & video".into()),
                ("a=b".into(), "ü".into()),
            ],
            MAX_OBJECT_TAGS,
        )
        .unwrap();
        let text = encode_tags(&tags);
        assert_eq!(text, "a%3Db=%C3%BC&team=media%20%26%20video");
        assert_eq!(
            check_tags(&decode_tags(&text), MAX_OBJECT_TAGS).unwrap(),
            tags
        );
        assert_eq!(decode_tags("k=a+b"), [("k".to_string(), "a b".to_string())]);
        let many: Vec<_> = (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_tags(&many, MAX_OBJECT_TAGS).is_err());
        assert!(check_tags(&[("".into(), "v".into())], 10).is_err());
        assert!(check_tags(&[("k".into(), "1".into()), ("k".into(), "2".into())], 10).is_err());
    }
}
