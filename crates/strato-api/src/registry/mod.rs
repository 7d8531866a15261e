//! Strato's image registry: the OCI Distribution API (`/v2/`) on
//! `--registry` (default 127.0.0.1:5000), so `skopeo`, `buildah push`,
//! `podman push` and `docker push` put images where tasks, services and
//! Lambda image functions run them by name.
//!
//! A request is parsed into an `Endpoint` first, then authorized once
//! (`auth.rs`: Docker's token flow over access keys), then handled:
//! `blobs.rs` (reads and uploads), `manifests.rs` (manifests, tags,
//! referrers, the catalog). The state is the image store's
//! (`strato_oci::registry`); this module holds only upload sessions.

// A refusal here is the response itself, built once per request; boxing
// it would only add an allocation to the error path.
#![allow(clippy::result_large_err)]

mod auth;
mod blobs;
mod manifests;

use crate::ResponseBody;
use auth::{Action, Refusal};
use http::{Method, Response, StatusCode};
use std::sync::Arc;
use strato_engine::Platform;
use strato_engine::strato_oci::registry::RegistryError;
use strato_engine::strato_oci::{Digest, ImageStore};

/// One operation of the distribution API, parsed from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `/v2/`: the version check, and where clients learn how to log in.
    Base,
    /// `/token`: Docker's token endpoint.
    Token,
    /// `/v2/_catalog`.
    Catalog,
    Blob {
        repo: String,
        digest: String,
    },
    StartUpload {
        repo: String,
    },
    Upload {
        repo: String,
        id: String,
    },
    Manifest {
        repo: String,
        reference: String,
    },
    Tags {
        repo: String,
    },
    Referrers {
        repo: String,
        digest: String,
    },
}

fn parse_endpoint(path: &str) -> Option<Endpoint> {
    if path == "/token" {
        return Some(Endpoint::Token);
    }
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Endpoint::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Endpoint::Catalog);
    }
    let last = |marker: &str| -> Option<(String, String)> {
        let at = rest.rfind(marker)?;
        let tail = &rest[at + marker.len()..];
        (at > 0 && !tail.contains('/')).then(|| (rest[..at].to_string(), tail.to_string()))
    };
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Some(Endpoint::Tags { repo: repo.into() });
    }
    if let Some((repo, reference)) = last("/manifests/") {
        return Some(Endpoint::Manifest { repo, reference });
    }
    if let Some((repo, digest)) = last("/referrers/") {
        return Some(Endpoint::Referrers { repo, digest });
    }
    if let Some((repo, id)) = last("/blobs/uploads/") {
        return Some(if id.is_empty() {
            Endpoint::StartUpload { repo }
        } else {
            Endpoint::Upload { repo, id }
        });
    }
    if let Some(repo) = rest.strip_suffix("/blobs/uploads") {
        return Some(Endpoint::StartUpload { repo: repo.into() });
    }
    let (repo, digest) = last("/blobs/")?;
    Some(Endpoint::Blob { repo, digest })
}

impl Endpoint {
    /// The repository and action a request to this endpoint needs.
    fn needs(&self, method: &Method) -> Option<(&str, Action)> {
        let action = if method == Method::DELETE {
            Action::Delete
        } else if method == Method::GET || method == Method::HEAD {
            Action::Pull
        } else {
            Action::Push
        };
        match self {
            Endpoint::Base | Endpoint::Token | Endpoint::Catalog => None,
            Endpoint::StartUpload { repo } | Endpoint::Upload { repo, .. } => {
                Some((repo, Action::Push))
            }
            Endpoint::Tags { repo } | Endpoint::Referrers { repo, .. } => {
                Some((repo, Action::Pull))
            }
            Endpoint::Blob { repo, .. } | Endpoint::Manifest { repo, .. } => Some((repo, action)),
        }
    }
}

/// The registry surface: the platform's image store and keys, plus the
/// uploads in progress.
pub(crate) struct Registry {
    platform: Arc<Platform>,
    uploads: blobs::Uploads,
}

/// The registry's request handler for [`crate::serve_http1`].
pub fn service(platform: Arc<Platform>) -> impl crate::HttpService {
    let registry = Arc::new(Registry {
        platform,
        uploads: blobs::Uploads::default(),
    });
    move |request: http::Request<hyper::body::Incoming>| -> crate::ResponseFuture {
        let registry = registry.clone();
        Box::pin(async move {
            let mut response = registry.handle(request).await;
            response.headers_mut().insert(
                "docker-distribution-api-version",
                http::HeaderValue::from_static("registry/2.0"),
            );
            response
        })
    }
}

type Request = http::Request<hyper::body::Incoming>;

impl Registry {
    fn images(&self) -> &Arc<ImageStore> {
        self.platform.images()
    }

    async fn handle(&self, request: Request) -> Response<ResponseBody> {
        let Some(endpoint) = parse_endpoint(request.uri().path()) else {
            return error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "no such registry endpoint",
            );
        };
        let keys = self.platform.buckets().keys();
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if endpoint == Endpoint::Token {
            let query = request.uri().query().unwrap_or("");
            return match auth::issue_token(keys, authorization, query) {
                Some(token) => json(StatusCode::OK, &token),
                None => self.unauthorized(&request, None),
            };
        }
        let needs = endpoint.needs(request.method());
        if let Some((repo, _)) = needs
            && !strato_engine::strato_oci::registry::valid_repository(repo)
        {
            return error(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                "invalid repository name",
            );
        }
        let caller = match auth::authenticate(keys, authorization) {
            Ok(caller) => caller,
            Err(_) => return self.unauthorized(&request, needs),
        };
        if let Some((repo, action)) = needs {
            match caller.allow(repo, action) {
                Ok(()) => {}
                Err(Refusal::Denied) => {
                    return error(
                        StatusCode::FORBIDDEN,
                        "DENIED",
                        "this key may not reach this repository",
                    );
                }
                Err(_) => return self.unauthorized(&request, needs),
            }
        }
        let method = request.method().clone();
        match (endpoint, method) {
            (Endpoint::Base, Method::GET | Method::HEAD) => {
                json(StatusCode::OK, &serde_json::json!({}))
            }
            (Endpoint::Catalog, Method::GET) => self.handle_catalog(&caller, &request),
            (Endpoint::Blob { repo, digest }, Method::GET | Method::HEAD) => {
                self.handle_get_blob(&repo, &digest, &request).await
            }
            (Endpoint::Blob { repo, digest }, Method::DELETE) => {
                self.handle_delete_blob(&repo, &digest)
            }
            (Endpoint::StartUpload { repo }, Method::POST) => {
                self.handle_start_upload(&caller, &repo, request).await
            }
            (Endpoint::Upload { repo, id }, Method::PATCH) => {
                self.handle_patch_upload(&repo, &id, request).await
            }
            (Endpoint::Upload { repo, id }, Method::PUT) => {
                self.handle_finish_upload(&repo, &id, request).await
            }
            (Endpoint::Upload { repo, id }, Method::GET) => self.handle_upload_status(&repo, &id),
            (Endpoint::Upload { repo, id }, Method::DELETE) => {
                self.handle_cancel_upload(&repo, &id).await
            }
            (Endpoint::Manifest { repo, reference }, Method::GET | Method::HEAD) => {
                self.handle_get_manifest(&repo, &reference, &request).await
            }
            (Endpoint::Manifest { repo, reference }, Method::PUT) => {
                self.handle_put_manifest(&repo, &reference, request).await
            }
            (Endpoint::Manifest { repo, reference }, Method::DELETE) => {
                self.handle_delete_manifest(&repo, &reference).await
            }
            (Endpoint::Tags { repo }, Method::GET) => self.handle_tags(&repo, &request),
            (Endpoint::Referrers { repo, digest }, Method::GET) => {
                self.handle_referrers(&repo, &digest, &request)
            }
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "method not allowed here",
            ),
        }
    }

    fn unauthorized(
        &self,
        request: &Request,
        scope: Option<(&str, Action)>,
    ) -> Response<ResponseBody> {
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:5000");
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required: log in with a Strato access key id and secret",
        );
        if let Ok(value) = http::HeaderValue::from_str(&auth::challenge(host, scope)) {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A digest from a path or query, or the spec's refusal of it.
fn parse_digest(text: &str) -> Result<Digest, Response<ResponseBody>> {
    Digest::parse(text).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "only sha256:<64 lowercase hex> digests are accepted",
        )
    })
}

/// The distribution spec's error body.
fn error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    json(status, &body)
}

fn registry_error(e: RegistryError) -> Response<ResponseBody> {
    let status = match &e {
        RegistryError::BlobUnknown
        | RegistryError::ManifestUnknown
        | RegistryError::NameUnknown => StatusCode::NOT_FOUND,
        RegistryError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RegistryError::Image(err) if e.code() == "INTERNAL" => {
            tracing::error!(error = %err, "registry storage failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the registry's storage failed",
            );
        }
        _ => StatusCode::BAD_REQUEST,
    };
    error(status, e.code(), &e.to_string())
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(strato_engine::full_body(value.to_string()))
        .expect("static response parts are valid")
}

/// An empty response with `headers`.
fn empty(status: StatusCode, headers: &[(&str, String)]) -> Response<ResponseBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .header(http::header::CONTENT_LENGTH, "0")
        .body(strato_engine::full_body(bytes::Bytes::new()))
        .expect("registry headers are valid")
}

/// Runs blocking image-store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(RegistryError::Unsupported(format!(
            "the registry task failed: {e}"
        )))
    })
}

/// A query parameter, decoded.
fn query_param(request: &Request, name: &str) -> Option<String> {
    auth::form_urlencoded(request.uri().query().unwrap_or(""))
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_to_endpoints() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parse_endpoint("/v2/"), Some(Endpoint::Base));
        assert_eq!(parse_endpoint("/v2"), Some(Endpoint::Base));
        assert_eq!(parse_endpoint("/v2/_catalog"), Some(Endpoint::Catalog));
        assert_eq!(
            parse_endpoint(&format!("/v2/app/web/blobs/{d}")),
            Some(Endpoint::Blob {
                repo: "app/web".into(),
                digest: d.clone()
            })
        );
        assert_eq!(
            parse_endpoint("/v2/app/web/blobs/uploads/"),
            Some(Endpoint::StartUpload {
                repo: "app/web".into()
            })
        );
        assert_eq!(
            parse_endpoint("/v2/app/web/blobs/uploads/abc"),
            Some(Endpoint::Upload {
                repo: "app/web".into(),
                id: "abc".into()
            })
        );
        assert_eq!(
            parse_endpoint("/v2/app/manifests/x/manifests/1"),
            Some(Endpoint::Manifest {
                repo: "app/manifests/x".into(),
                reference: "1".into()
            })
        );
        assert_eq!(
            parse_endpoint("/v2/a/tags/list"),
            Some(Endpoint::Tags { repo: "a".into() })
        );
        assert_eq!(
            parse_endpoint(&format!("/v2/a/referrers/{d}")),
            Some(Endpoint::Referrers {
                repo: "a".into(),
                digest: d
            })
        );
        assert_eq!(parse_endpoint("/v2/manifests/1"), None);
        assert_eq!(parse_endpoint("/v1/x"), None);
    }
}
