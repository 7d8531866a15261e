//! Pulling images from an OCI / Docker registry (distribution API v2):
//! anonymous or basic credentials, with the bearer-token dance Docker Hub
//! and most registries use. Every blob is verified against its digest
//! before it is stored; multi-platform indexes resolve to linux/amd64.

use crate::archive::{descriptor_digest, pick_platform};
use crate::digest::Digest;
use crate::images::{ImageError, ImageStore, ImageSummary};
use futures::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;

/// Credentials for a registry.
#[derive(Debug, Clone)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

/// Progress of one blob: (short digest, bytes so far, total bytes).
pub type PullProgress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A parsed `[registry/]repository[:tag|@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    base_url: String,
    repository: String,
    reference: String,
    /// The name the image is stored under.
    local_name: String,
}

fn parse_reference(text: &str) -> Result<Reference, ImageError> {
    let bad = |why: &str| ImageError::Registry(format!("bad image reference {text:?}: {why}"));
    let (name, reference, digest_ref) = match text.split_once('@') {
        Some((n, d)) => {
            Digest::parse(d).ok_or_else(|| bad("the digest is not sha256:<64 hex>"))?;
            (n, d.to_string(), true)
        }
        None => match text.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, t.to_string(), false),
            _ => (text, "latest".to_string(), false),
        },
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let repository = if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    if repository.is_empty() {
        return Err(bad("no repository"));
    }
    let host = if registry == "docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        registry.clone()
    };
    // Like Docker, a registry on this machine is spoken to over plain HTTP.
    let local = host.starts_with("localhost") || host.starts_with("127.");
    let scheme = if local { "http" } else { "https" };
    let local_name = if digest_ref {
        format!("{name}:{}", &reference["sha256:".len()..][..12])
    } else {
        format!("{name}:{reference}")
    };
    Ok(Reference {
        base_url: format!("{scheme}://{host}"),
        repository,
        reference,
        local_name,
    })
}

struct Registry {
    http: reqwest::Client,
    auth: Option<RegistryAuth>,
    token: Option<String>,
}

impl Registry {
    async fn get(&mut self, url: &str, accept: &str) -> Result<reqwest::Response, ImageError> {
        for _ in 0..2 {
            let mut req = self.http.get(url).header("accept", accept);
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            } else if let Some(a) = &self.auth {
                req = req.basic_auth(&a.username, Some(&a.password));
            }
            let resp = req.send().await.map_err(net_err(url))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if challenge.to_ascii_lowercase().starts_with("bearer") {
                    self.token = Some(self.fetch_token(&challenge).await?);
                    continue;
                }
                return Err(ImageError::Registry(format!(
                    "{url}: 401 unauthorized{}",
                    if self.auth.is_some() {
                        " (check the credentials)"
                    } else {
                        " (pass --username/--password)"
                    }
                )));
            }
            if !resp.status().is_success() {
                return Err(ImageError::Registry(format!("{url}: {}", resp.status())));
            }
            return Ok(resp);
        }
        Err(ImageError::Registry(format!(
            "{url}: the token was refused"
        )))
    }

    async fn fetch_token(&self, challenge: &str) -> Result<String, ImageError> {
        let params = parse_challenge(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ImageError::Registry("auth challenge without a realm".into()))?;
        let query: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| k != "realm").collect();
        let mut req = self.http.get(&realm).query(&query);
        if let Some(a) = &self.auth {
            req = req.basic_auth(&a.username, Some(&a.password));
        }
        let resp = req.send().await.map_err(net_err(&realm))?;
        if !resp.status().is_success() {
            return Err(ImageError::Registry(format!(
                "token from {realm}: {}",
                resp.status()
            )));
        }
        let body: Value = resp.json().await.map_err(net_err(&realm))?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| ImageError::Registry(format!("{realm} answered no token")))
    }
}

fn net_err(url: &str) -> impl Fn(reqwest::Error) -> ImageError + '_ {
    move |e| ImageError::Registry(format!("{url}: {e}"))
}

/// `Bearer realm="x",service="y",scope="z"` -> [(realm, x), ...].
fn parse_challenge(header: &str) -> Vec<(String, String)> {
    let rest = header.split_once(' ').map(|(_, r)| r).unwrap_or("");
    let mut out = Vec::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, r)) => (v.to_string(), r),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, r)) => (v.to_string(), r),
                None => (after.to_string(), ""),
            }
        };
        out.push((key, value));
        rest = remaining.trim_start_matches(',').trim();
    }
    out
}

/// Pulls `reference` into `store` and names it (e.g. `busybox:latest`,
/// `localhost:5000/tools/ffmpeg:1`).
pub async fn pull_image(
    store: Arc<ImageStore>,
    reference: &str,
    auth: Option<RegistryAuth>,
    staging: &std::path::Path,
    progress: PullProgress,
) -> Result<Vec<ImageSummary>, ImageError> {
    let r = parse_reference(reference)?;
    let mut registry = Registry {
        http: reqwest::Client::new(),
        auth,
        token: None,
    };
    let mut manifest_ref = r.reference.clone();
    let manifest = loop {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            r.base_url, r.repository, manifest_ref
        );
        let bytes = registry
            .get(&url, ACCEPT)
            .await?
            .bytes()
            .await
            .map_err(net_err(&url))?;
        if let Some(expected) = Digest::parse(&manifest_ref) {
            let actual = Digest::of_bytes(&bytes);
            if actual != expected {
                return Err(ImageError::DigestMismatch {
                    what: "manifest".into(),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let manifest: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::Registry(format!("{url}: manifest is not JSON: {e}")))?;
        match manifest.get("manifests").and_then(Value::as_array) {
            Some(list) => {
                let chosen = pick_platform(list).ok_or_else(|| {
                    ImageError::Registry(format!("{reference} has no linux/amd64 image"))
                })?;
                manifest_ref = descriptor_digest(chosen)?.to_string();
            }
            None => break manifest,
        }
    };
    let config_digest = descriptor_digest(&manifest["config"])?;
    let config_url = format!("{}/v2/{}/blobs/{}", r.base_url, r.repository, config_digest);
    let config_bytes = registry
        .get(&config_url, "*/*")
        .await?
        .bytes()
        .await
        .map_err(net_err(&config_url))?;
    let actual = Digest::of_bytes(&config_bytes);
    if actual != config_digest {
        return Err(ImageError::DigestMismatch {
            what: "image config".into(),
            expected: config_digest.to_string(),
            actual: actual.to_string(),
        });
    }
    let empty = Vec::new();
    let mut layers = Vec::new();
    for layer in manifest["layers"].as_array().unwrap_or(&empty) {
        let digest = descriptor_digest(layer)?;
        let total = layer["size"].as_u64().unwrap_or(0);
        if !store.has_blob(&digest) {
            let url = format!("{}/v2/{}/blobs/{}", r.base_url, r.repository, digest);
            let path = staging.join(format!("pull-{}", digest.hex()));
            let mut file = std::fs::File::create(&path).map_err(ImageError::write(&path))?;
            let mut stream = registry.get(&url, "*/*").await?.bytes_stream();
            let mut done = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(net_err(&url))?;
                file.write_all(&chunk).map_err(ImageError::write(&path))?;
                done += chunk.len() as u64;
                progress(digest.short(), done, total.max(done));
            }
            drop(file);
            let store2 = store.clone();
            let (d2, p2) = (digest.clone(), path.clone());
            let stored = tokio::task::spawn_blocking(move || store2.put_verified_blob(&d2, &p2))
                .await
                .map_err(|e| ImageError::Registry(e.to_string()))?;
            let _ = std::fs::remove_file(&path);
            stored?;
        } else {
            progress(digest.short(), total, total);
        }
        layers.push(digest);
    }
    let name = r.local_name.clone();
    tokio::task::spawn_blocking(move || store.register(&config_bytes, layers, &name))
        .await
        .map_err(|e| ImageError::Registry(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_like_docker() {
        let r = parse_reference("busybox").unwrap();
        assert_eq!(r.base_url, "https://registry-1.docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.reference, "latest");
        let r = parse_reference("127.0.0.1:5000/tools/ffmpeg:1").unwrap();
        assert_eq!(r.base_url, "http://127.0.0.1:5000");
        assert_eq!(r.repository, "tools/ffmpeg");
        assert_eq!(r.local_name, "127.0.0.1:5000/tools/ffmpeg:1");
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = parse_reference(&format!("ghcr.io/a/b@{d}")).unwrap();
        assert_eq!(r.reference, d);
        assert!(parse_reference("x@sha256:zz").is_err());
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[2].1, "repository:library/busybox:pull");
    }
}
