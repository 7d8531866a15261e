//! What every run sees in its environment (design.md section 4), for
//! functions and tasks alike: where Strato's APIs are, a token scoped to
//! the run's app, and the app's S3 key in the standard AWS variables, so
//! the stock aws CLI, boto3 and the AWS SDKs talk to Strato unchanged.

use crate::platform::Platform;
use strato_store::AccessKey;

/// `PATH` for a run whose image sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The platform's variables for a run of `app`; `key` is the app's S3
/// key (`None` if it could not be made: the run goes without S3 access).
pub(crate) fn platform_env(
    app: &str,
    api_url: &str,
    s3_url: &str,
    region: &str,
    token: String,
    key: Option<AccessKey>,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("STRATO_API", api_url.to_string()),
        ("STRATO_TOKEN", token),
        ("STRATO_APP", app.to_string()),
    ];
    if let Some(key) = key {
        env.extend([
            ("AWS_ENDPOINT_URL", s3_url.to_string()),
            ("AWS_ACCESS_KEY_ID", key.id),
            ("AWS_SECRET_ACCESS_KEY", key.secret),
            ("AWS_REGION", region.to_string()),
            // Older SDKs and the aws CLI v1 read only this one.
            ("AWS_DEFAULT_REGION", region.to_string()),
        ]);
    }
    env
}

impl Platform {
    /// [`platform_env`] for a run of `app` reaching Strato at `api_url` and
    /// `s3_url` (tasks in a network namespace see other addresses).
    pub(crate) async fn run_env(
        &self,
        app: &str,
        api_url: &str,
        s3_url: &str,
    ) -> Vec<(&'static str, String)> {
        let key = match self.buckets.keys().for_app(app).await {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::error!(app, error = %e, "no S3 key for the app's runs");
                None
            }
        };
        platform_env(
            app,
            api_url,
            s3_url,
            &self.config.region,
            self.tokens.issue(app),
            key,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_the_platform_and_the_aws_variables() {
        let key = AccessKey {
            id: "AKID".into(),
            secret: "s3cr3t".into(),
            app: Some("shop".into()),
            created_at_ms: 0,
        };
        let env = platform_env(
            "shop",
            "http://127.0.0.1:8090",
            "http://127.0.0.1:9000",
            "us-east-1",
            "stk_app.shop.x".into(),
            Some(key),
        );
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("STRATO_API"), Some("http://127.0.0.1:8090"));
        assert_eq!(get("STRATO_TOKEN"), Some("stk_app.shop.x"));
        assert_eq!(get("STRATO_APP"), Some("shop"));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:9000"));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("AKID"));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some("s3cr3t"));
        assert_eq!(get("AWS_REGION"), Some("us-east-1"));
        assert_eq!(get("AWS_DEFAULT_REGION"), Some("us-east-1"));
        let without_key = platform_env("shop", "a", "s", "r", "t".into(), None);
        assert!(without_key.iter().all(|(k, _)| !k.starts_with("AWS_")));
    }
}
