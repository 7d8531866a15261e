//! Blob reads and uploads: monolithic (`POST ?digest=`), chunked (`POST`,
//! `PATCH`..., `PUT ?digest=`) and cross-repository mounts. Bytes are
//! hashed as they arrive into a staging file of the image store, and move
//! into its blobs only when their digest is the one the client named.

use super::auth::{Action, Caller};
use super::{Registry, Request, blocking, empty, error, parse_digest, query_param, registry_error};
use crate::ResponseBody;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strato_engine::strato_oci::BlobHasher;
use strato_engine::strato_oci::registry::RegistryError;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The largest blob accepted.
const MAX_BLOB_BYTES: u64 = 16 << 30;
/// Uploads left this long without a request are dropped.
const UPLOAD_IDLE: Duration = Duration::from_secs(3600);

/// One upload in progress.
struct Upload {
    repo: String,
    path: PathBuf,
    hasher: BlobHasher,
    touched: Instant,
}

/// Uploads in progress, by id. A request takes its upload out while it
/// appends, so two requests never write one file at once.
#[derive(Default)]
pub(super) struct Uploads(Mutex<HashMap<String, Upload>>);

impl Uploads {
    fn take(&self, repo: &str, id: &str) -> Option<Upload> {
        let mut uploads = self.0.lock().unwrap();
        match uploads.get(id) {
            Some(u) if u.repo == repo => uploads.remove(id),
            _ => None,
        }
    }

    fn put_back(&self, id: &str, mut upload: Upload) {
        upload.touched = Instant::now();
        self.0.lock().unwrap().insert(id.to_string(), upload);
    }

    /// Drops uploads nobody touched for [`UPLOAD_IDLE`].
    fn expire(&self) {
        let mut uploads = self.0.lock().unwrap();
        uploads.retain(|_, u| {
            let keep = u.touched.elapsed() < UPLOAD_IDLE;
            if !keep {
                let _ = std::fs::remove_file(&u.path);
            }
            keep
        });
    }
}

fn upload_unknown() -> Response<ResponseBody> {
    error(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        "upload unknown to registry (start it again)",
    )
}

fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// Headers of an upload in progress.
fn progress(repo: &str, id: &str, size: u64, status: StatusCode) -> Response<ResponseBody> {
    empty(
        status,
        &[
            ("location", format!("/v2/{repo}/blobs/uploads/{id}")),
            ("range", range_header(size)),
            ("docker-upload-uuid", id.to_string()),
        ],
    )
}

fn created(repo: &str, digest: &str) -> Response<ResponseBody> {
    empty(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{repo}/blobs/{digest}")),
            ("docker-content-digest", digest.to_string()),
        ],
    )
}

/// Appends a request body to an upload's file, hashing it.
async fn append(upload: &mut Upload, request: Request) -> Result<(), Response<ResponseBody>> {
    let io_failed = |e: std::io::Error| {
        tracing::error!(error = %e, "writing a registry upload");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the registry's storage failed",
        )
    };
    let file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&upload.path)
        .await
        .map_err(io_failed)?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                "the upload's body ended early",
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if upload.hasher.size() + data.len() as u64 > MAX_BLOB_BYTES {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                "blob too large",
            ));
        }
        upload.hasher.update(&data);
        file.write_all(&data).await.map_err(io_failed)?;
    }
    file.flush().await.map_err(io_failed)?;
    Ok(())
}

impl Registry {
    fn new_upload(&self, repo: &str) -> Result<(String, Upload), Response<ResponseBody>> {
        self.uploads.expire();
        let id = hex::encode(rand::random::<[u8; 16]>());
        let path = self.images().staging_path("upload");
        std::fs::File::create(&path).map_err(|e| {
            tracing::error!(error = %e, "starting a registry upload");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the registry's storage failed",
            )
        })?;
        let upload = Upload {
            repo: repo.to_string(),
            path,
            hasher: BlobHasher::default(),
            touched: Instant::now(),
        };
        Ok((id, upload))
    }

    /// Checks an upload's bytes against `digest` and stores them.
    async fn finish(&self, repo: &str, upload: Upload, digest: &str) -> Response<ResponseBody> {
        let want = match parse_digest(digest) {
            Ok(d) => d,
            Err(refusal) => {
                let _ = tokio::fs::remove_file(&upload.path).await;
                return refusal;
            }
        };
        if upload.hasher.digest() != want {
            let _ = tokio::fs::remove_file(&upload.path).await;
            return registry_error(RegistryError::DigestInvalid);
        }
        let images = self.images().clone();
        let repo_owned = repo.to_string();
        let stored = blocking(move || {
            let stored = images.accept_blob(&repo_owned, &want, &upload.path);
            let _ = std::fs::remove_file(&upload.path);
            stored.map_err(RegistryError::from)
        })
        .await;
        match stored {
            Ok(()) => created(repo, digest),
            Err(e) => registry_error(e),
        }
    }

    pub(super) async fn handle_start_upload(
        &self,
        caller: &Caller,
        repo: &str,
        request: Request,
    ) -> Response<ResponseBody> {
        if let (Some(mount), Some(from)) = (
            query_param(&request, "mount"),
            query_param(&request, "from"),
        ) {
            let digest = match parse_digest(&mount) {
                Ok(d) => d,
                Err(refusal) => return refusal,
            };
            let images = self.images();
            // Mounting needs the right to read the source; otherwise the
            // client is told to upload, as the spec asks.
            if caller.allow(&from, Action::Pull).is_ok()
                && images.has_blob_file(&digest)
                && images.blob_in_repository(&from, &digest)
            {
                images.link_blob(repo, &digest);
                return created(repo, &mount);
            }
        }
        let monolithic = query_param(&request, "digest");
        let (id, mut upload) = match self.new_upload(repo) {
            Ok(started) => started,
            Err(refusal) => return refusal,
        };
        match monolithic {
            Some(digest) => {
                if let Err(refusal) = append(&mut upload, request).await {
                    let _ = tokio::fs::remove_file(&upload.path).await;
                    return refusal;
                }
                self.finish(repo, upload, &digest).await
            }
            None => {
                self.uploads.put_back(&id, upload);
                progress(repo, &id, 0, StatusCode::ACCEPTED)
            }
        }
    }

    pub(super) async fn handle_patch_upload(
        &self,
        repo: &str,
        id: &str,
        request: Request,
    ) -> Response<ResponseBody> {
        let Some(mut upload) = self.uploads.take(repo, id) else {
            return upload_unknown();
        };
        // A chunk must start where the upload ends.
        if let Some(range) = request
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
        {
            let start = range
                .trim_start_matches("bytes ")
                .split('-')
                .next()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if start != Some(upload.hasher.size()) {
                let size = upload.hasher.size();
                self.uploads.put_back(id, upload);
                let mut refusal = error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UPLOAD_INVALID",
                    "the chunk does not start where the upload ends",
                );
                refusal
                    .headers_mut()
                    .insert("range", range_header(size).parse().expect("ascii"));
                return refusal;
            }
        }
        if let Err(refusal) = append(&mut upload, request).await {
            let _ = tokio::fs::remove_file(&upload.path).await;
            return refusal;
        }
        let size = upload.hasher.size();
        self.uploads.put_back(id, upload);
        progress(repo, id, size, StatusCode::ACCEPTED)
    }

    pub(super) async fn handle_finish_upload(
        &self,
        repo: &str,
        id: &str,
        request: Request,
    ) -> Response<ResponseBody> {
        let Some(digest) = query_param(&request, "digest") else {
            return error(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "finish an upload with ?digest=",
            );
        };
        let Some(mut upload) = self.uploads.take(repo, id) else {
            return upload_unknown();
        };
        if let Err(refusal) = append(&mut upload, request).await {
            let _ = tokio::fs::remove_file(&upload.path).await;
            return refusal;
        }
        self.finish(repo, upload, &digest).await
    }

    pub(super) fn handle_upload_status(&self, repo: &str, id: &str) -> Response<ResponseBody> {
        let Some(upload) = self.uploads.take(repo, id) else {
            return upload_unknown();
        };
        let size = upload.hasher.size();
        self.uploads.put_back(id, upload);
        progress(repo, id, size, StatusCode::NO_CONTENT)
    }

    pub(super) async fn handle_cancel_upload(
        &self,
        repo: &str,
        id: &str,
    ) -> Response<ResponseBody> {
        let Some(upload) = self.uploads.take(repo, id) else {
            return upload_unknown();
        };
        let _ = tokio::fs::remove_file(&upload.path).await;
        empty(StatusCode::NO_CONTENT, &[])
    }

    pub(super) async fn handle_get_blob(
        &self,
        repo: &str,
        digest: &str,
        request: &Request,
    ) -> Response<ResponseBody> {
        let digest = match parse_digest(digest) {
            Ok(d) => d,
            Err(refusal) => return refusal,
        };
        let images = self.images().clone();
        let lookup = digest.clone();
        let repo_owned = repo.to_string();
        let found = blocking(move || {
            Ok(images
                .blob_in_repository(&repo_owned, &lookup)
                .then(|| images.fetch_blob(&lookup))
                .transpose()?
                .flatten())
        })
        .await;
        let (path, size) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return registry_error(RegistryError::BlobUnknown),
            Err(e) => return registry_error(e),
        };
        let (start, end) = match request
            .headers()
            .get(http::header::RANGE)
            .and_then(|v| v.to_str().ok())
        {
            Some(range) => match parse_range(range, size) {
                Some(r) => r,
                None => {
                    return empty(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        &[("content-range", format!("bytes */{size}"))],
                    );
                }
            },
            None => (0, size),
        };
        let status = if end - start == size {
            StatusCode::OK
        } else {
            StatusCode::PARTIAL_CONTENT
        };
        let mut builder = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::CONTENT_LENGTH, end - start)
            .header("docker-content-digest", digest.as_str())
            .header(http::header::ETAG, format!("\"{digest}\""))
            .header(http::header::ACCEPT_RANGES, "bytes");
        if status == StatusCode::PARTIAL_CONTENT {
            builder = builder.header(
                http::header::CONTENT_RANGE,
                format!("bytes {start}-{}/{size}", end.saturating_sub(1)),
            );
        }
        let body = if request.method() == http::Method::HEAD {
            strato_engine::full_body(Bytes::new())
        } else {
            match file_body(path, start, end).await {
                Ok(body) => body,
                Err(e) => {
                    tracing::error!(error = %e, "reading a registry blob");
                    return registry_error(RegistryError::BlobUnknown);
                }
            }
        };
        builder.body(body).expect("blob headers are valid")
    }

    pub(super) fn handle_delete_blob(&self, repo: &str, digest: &str) -> Response<ResponseBody> {
        let digest = match parse_digest(digest) {
            Ok(d) => d,
            Err(refusal) => return refusal,
        };
        if self.images().unlink_blob(repo, &digest) {
            empty(StatusCode::ACCEPTED, &[])
        } else {
            registry_error(RegistryError::BlobUnknown)
        }
    }
}

/// `bytes=a-b` (one range) as `[start, end)`, if satisfiable.
fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some((start, end))
}

/// Streams bytes `[start, end)` of a file.
async fn file_body(path: PathBuf, start: u64, end: u64) -> std::io::Result<ResponseBody> {
    let mut file = tokio::fs::File::open(&path).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let chunks = futures::stream::unfold((file, end - start), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; (256 * 1024).min(left as usize)];
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob shrank",
                )),
                (file, 0),
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok(hyper::body::Frame::data(Bytes::from(buf))),
                    (file, left - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(strato_engine::boxed(http_body_util::StreamBody::new(
        chunks,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_within_the_blob() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=50-1000", 100), Some((50, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
