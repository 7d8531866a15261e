//! Manifests (get, head, put, delete), tags lists, referrers and the
//! catalog, with the spec's pagination (`n`, `last`, `Link: rel="next"`).

use super::auth::Caller;
use super::{Registry, Request, blocking, error, json, parse_digest, query_param, registry_error};
use crate::ResponseBody;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use strato_engine::strato_oci::registry::{MAX_MANIFEST_BYTES, ManifestRef, OCI_INDEX};

fn parse_reference(reference: &str) -> Result<ManifestRef, Response<ResponseBody>> {
    ManifestRef::parse(reference).map_err(registry_error)
}

/// One page of sorted `items` after `last`, at most `n`, and the link to
/// the next page if there is one.
fn page(items: Vec<String>, request: &Request, path: &str) -> (Vec<String>, Option<String>) {
    let n = query_param(request, "n").and_then(|n| n.parse::<usize>().ok());
    let last = query_param(request, "last");
    let mut items: Vec<String> = match &last {
        Some(last) => items.into_iter().filter(|t| t > last).collect(),
        None => items,
    };
    let Some(n) = n else {
        return (items, None);
    };
    let more = items.len() > n;
    items.truncate(n);
    let link = match (more, items.last()) {
        (true, Some(last)) => Some(format!("<{path}?n={n}&last={last}>; rel=\"next\"")),
        _ => None,
    };
    (items, link)
}

fn with_link(mut response: Response<ResponseBody>, link: Option<String>) -> Response<ResponseBody> {
    if let Some(link) = link.and_then(|l| l.parse().ok()) {
        response.headers_mut().insert(http::header::LINK, link);
    }
    response
}

impl Registry {
    pub(super) async fn handle_get_manifest(
        &self,
        repo: &str,
        reference: &str,
        request: &Request,
    ) -> Response<ResponseBody> {
        let reference = match parse_reference(reference) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        let images = self.images().clone();
        let repo = repo.to_string();
        let manifest = match blocking(move || images.get_manifest(&repo, &reference)).await {
            Ok(m) => m,
            Err(e) => return registry_error(e),
        };
        let head = request.method() == http::Method::HEAD;
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, &manifest.media_type)
            .header(http::header::CONTENT_LENGTH, manifest.bytes.len())
            .header("docker-content-digest", manifest.digest.as_str())
            .header(http::header::ETAG, format!("\"{}\"", manifest.digest))
            .body(strato_engine::full_body(if head {
                Vec::new()
            } else {
                manifest.bytes
            }))
            .expect("manifest headers are valid")
    }

    pub(super) async fn handle_put_manifest(
        &self,
        repo: &str,
        reference: &str,
        request: Request,
    ) -> Response<ResponseBody> {
        let reference = match parse_reference(reference) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = match Limited::new(request.into_body(), MAX_MANIFEST_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "SIZE_INVALID",
                    "manifests are limited to 4 MiB",
                );
            }
        };
        let images = self.images().clone();
        let repo_owned = repo.to_string();
        let stored = blocking(move || {
            images.put_manifest(&repo_owned, &reference, content_type.as_deref(), &bytes)
        })
        .await;
        match stored {
            Ok((digest, subject)) => {
                let mut response = super::empty(
                    StatusCode::CREATED,
                    &[
                        ("location", format!("/v2/{repo}/manifests/{digest}")),
                        ("docker-content-digest", digest.to_string()),
                    ],
                );
                if let Some(subject) = subject {
                    response.headers_mut().insert(
                        "oci-subject",
                        subject.as_str().parse().expect("digests are ascii"),
                    );
                }
                response
            }
            Err(e) => registry_error(e),
        }
    }

    pub(super) async fn handle_delete_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Response<ResponseBody> {
        let reference = match parse_reference(reference) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        let images = self.images().clone();
        let repo = repo.to_string();
        match blocking(move || images.delete_manifest(&repo, &reference)).await {
            Ok(()) => super::empty(StatusCode::ACCEPTED, &[]),
            Err(e) => registry_error(e),
        }
    }

    pub(super) fn handle_tags(&self, repo: &str, request: &Request) -> Response<ResponseBody> {
        let Some(tags) = self.images().tags(repo) else {
            return registry_error(strato_engine::strato_oci::registry::RegistryError::NameUnknown);
        };
        let (tags, link) = page(tags, request, &format!("/v2/{repo}/tags/list"));
        with_link(
            json(
                StatusCode::OK,
                &serde_json::json!({"name": repo, "tags": tags}),
            ),
            link,
        )
    }

    pub(super) fn handle_referrers(
        &self,
        repo: &str,
        digest: &str,
        request: &Request,
    ) -> Response<ResponseBody> {
        let subject = match parse_digest(digest) {
            Ok(d) => d,
            Err(refusal) => return refusal,
        };
        let artifact_type = query_param(request, "artifactType");
        let manifests = self
            .images()
            .referrers(repo, &subject, artifact_type.as_deref());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        });
        let mut response = json(StatusCode::OK, &index);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(OCI_INDEX),
        );
        if artifact_type.is_some() {
            response.headers_mut().insert(
                "oci-filters-applied",
                http::HeaderValue::from_static("artifactType"),
            );
        }
        response
    }

    pub(super) fn handle_catalog(
        &self,
        caller: &Caller,
        request: &Request,
    ) -> Response<ResponseBody> {
        let repositories: Vec<String> = self
            .images()
            .repositories()
            .into_iter()
            .filter(|r| caller.sees(r))
            .collect();
        let (repositories, link) = page(repositories, request, "/v2/_catalog");
        with_link(
            json(
                StatusCode::OK,
                &serde_json::json!({"repositories": repositories}),
            ),
            link,
        )
    }
}
