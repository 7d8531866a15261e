//! Artifacts: bytes named by their SHA-256 digest rather than a random id
//! (components, code packages, container image blobs), so every node of a
//! cluster finds them by what they are, and storing one twice is storing
//! it once.

use crate::{BlobError, BlobStore, backend};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where artifacts live, apart from blobs.
pub(crate) const ARTIFACTS: &str = "artifacts";

fn artifact_path(digest: &str) -> StorePath {
    StorePath::from(format!("{ARTIFACTS}/{digest}"))
}

fn io(doing: &'static str) -> impl Fn(std::io::Error) -> BlobError {
    move |source| BlobError::Io { doing, source }
}

impl BlobStore {
    /// Stores an artifact under its SHA-256 `digest` (hex); the caller has
    /// checked the bytes hash to it. Storing the same digest twice is
    /// harmless.
    pub async fn put_artifact(&self, digest: &str, bytes: Bytes) -> Result<(), BlobError> {
        let path = artifact_path(digest);
        self.store
            .put(&path, bytes.into())
            .await
            .map_err(backend("storing an artifact"))?;
        self.make_durable(&path).await
    }

    /// Stores the local file `file` as artifact `digest`, streamed in
    /// parts (image layers may be large).
    pub async fn put_artifact_file(&self, digest: &str, file: &Path) -> Result<u64, BlobError> {
        let source = tokio::fs::File::open(file)
            .await
            .map_err(io("opening an artifact to store"))?;
        let chunk = self.chunk_bytes;
        let chunks = futures::stream::unfold(Some(source), move |source| async move {
            let mut source = source?;
            let mut buf = vec![0u8; chunk];
            let mut filled = 0;
            while filled < buf.len() {
                match source.read(&mut buf[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Some((Err(io("reading an artifact to store")(e)), None)),
                }
            }
            if filled == 0 {
                return None;
            }
            buf.truncate(filled);
            Some((Ok(Bytes::from(buf)), Some(source)))
        });
        let path = artifact_path(digest);
        let size = self.write_streamed(&path, chunks).await?;
        self.make_durable(&path).await?;
        Ok(size)
    }

    /// Whether artifact `digest` is stored.
    pub async fn has_artifact(&self, digest: &str) -> Result<bool, BlobError> {
        match self.store.head(&artifact_path(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend("looking for an artifact")(e)),
        }
    }

    /// Reads an artifact stored with [`BlobStore::put_artifact`].
    pub async fn read_artifact(&self, digest: &str) -> Result<Bytes, BlobError> {
        let result = self
            .store
            .get(&artifact_path(digest))
            .await
            .map_err(backend("reading an artifact"))?;
        result.bytes().await.map_err(backend("reading an artifact"))
    }

    /// Streams artifact `digest` into a new local file `dest`, synced;
    /// returns its size.
    pub async fn read_artifact_to_file(&self, digest: &str, dest: &Path) -> Result<u64, BlobError> {
        let result = self
            .store
            .get(&artifact_path(digest))
            .await
            .map_err(backend("reading an artifact"))?;
        let mut out = tokio::fs::File::create(dest)
            .await
            .map_err(io("creating a fetched artifact"))?;
        let mut chunks = result.into_stream();
        let mut size = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(backend("reading an artifact"))?;
            size += chunk.len() as u64;
            out.write_all(&chunk)
                .await
                .map_err(io("writing a fetched artifact"))?;
        }
        out.sync_all()
            .await
            .map_err(io("writing a fetched artifact"))?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn artifact_files_round_trip_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(&dir.path().join("blobs")).unwrap();
        // Two and a half local chunks, so the upload takes three parts.
        let bytes: Vec<u8> = (0..(5 << 19)).map(|i: u32| (i % 251) as u8).collect();
        let source = dir.path().join("layer");
        std::fs::write(&source, &bytes).unwrap();
        assert!(!blobs.has_artifact("abc").await.unwrap());
        assert_eq!(
            blobs.put_artifact_file("abc", &source).await.unwrap(),
            bytes.len() as u64
        );
        assert!(blobs.has_artifact("abc").await.unwrap());
        let dest = dir.path().join("fetched");
        assert_eq!(
            blobs.read_artifact_to_file("abc", &dest).await.unwrap(),
            bytes.len() as u64
        );
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
        assert!(matches!(
            blobs.read_artifact_to_file("nope", &dest).await,
            Err(BlobError::NotFound(_))
        ));
    }
}
