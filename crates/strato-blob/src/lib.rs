//! Bucket bytes: blobs stored through the `object_store` crate (a local
//! directory by default; S3-compatible stores later), named by random ids.
//!
//! Object *metadata* lives in the store; a blob only becomes an object when
//! the store commits a row naming it. So [`BlobStore::put_stream`] writes the
//! bytes first (streamed in bounded chunks, never whole in memory), makes
//! them durable, and returns the blob's id, size and MD5; a failed or
//! aborted upload leaves nothing visible. Blobs no metadata row names
//! (after a crash between the two steps) are found with
//! [`BlobStore::list_ids`] and deleted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), strato_blob::BlobError> {
//! let blobs = strato_blob::BlobStore::local("data/blobs".as_ref())?;
//! let chunks = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from("hi"))]);
//! let stored = blobs.put_stream(chunks).await?;
//! let bytes = blobs.read_all(&stored.id, None).await?;
//! # Ok(()) }
//! ```

mod artifacts;
use artifacts::ARTIFACTS;
pub mod testkit;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes buffered per chunk while streaming an upload to a local
/// directory. Small, because every concurrent upload holds up to two
/// chunks in memory (ten parallel multipart parts at 8 MiB cost 160 MiB);
/// an S3 backend will need 5 MiB at least.
const CHUNK_BYTES: usize = 1 << 20;

/// A blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob `{0}` does not exist")]
    NotFound(String),
    #[error("reading the upload failed: {0}")]
    Upload(String),
    #[error("blob storage failed while {doing}: {source}")]
    Backend {
        doing: &'static str,
        #[source]
        source: object_store::Error,
    },
    #[error("blob storage failed while {doing}: {source}")]
    Io {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// What a completed upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub id: String,
    pub size: u64,
    pub md5: [u8; 16],
}

/// Where an S3-compatible blob store is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3BlobConfig {
    pub bucket: String,
    /// A key prefix under which every blob lives (empty: the bucket root).
    pub prefix: String,
    /// The service's URL (`http://127.0.0.1:9000`, `https://s3.eu-west-1.amazonaws.com`);
    /// path-style requests.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Bytes per part when streaming an upload to S3: its smallest part.
const S3_CHUNK_BYTES: usize = 5 << 20;

/// Blob storage.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Bytes buffered per part while streaming an upload.
    chunk_bytes: usize,
    /// Set for the local backend, which must fsync what it writes.
    local_root: Option<PathBuf>,
    /// Other nodes use the same blobs (a cluster): uploads of theirs may be
    /// in flight, and artifacts are kept here for them.
    shared: bool,
}

fn backend(doing: &'static str) -> impl Fn(object_store::Error) -> BlobError {
    move |source| match source {
        object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
        source => BlobError::Backend { doing, source },
    }
}

/// Blob ids are 128 random bits in hex, stored under one level of 256
/// directories: few enough that they all exist after the first few hundred
/// writes (a new directory per write costs more than the write), many
/// enough to keep each directory small.
fn path_of(id: &str) -> StorePath {
    StorePath::from(format!("{}/{id}", &id[..2]))
}

fn is_blob_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    /// Blobs in a local directory (created if missing).
    pub fn local(root: &Path) -> Result<BlobStore, BlobError> {
        std::fs::create_dir_all(root).map_err(|source| BlobError::Io {
            doing: "creating the blob directory",
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(backend("opening the blob directory"))?
            // The 256 fan-out directories stay; removing and recreating
            // them would cost a metadata write per object.
            .with_automatic_cleanup(false);
        Ok(BlobStore {
            store: Arc::new(store),
            chunk_bytes: CHUNK_BYTES,
            local_root: Some(root.to_path_buf()),
            shared: false,
        })
    }

    /// Blobs in an S3-compatible bucket, shared by every node using it.
    /// Checks the bucket answers before returning.
    pub async fn s3(config: &S3BlobConfig) -> Result<BlobStore, BlobError> {
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let s3 = builder
            .build()
            .map_err(backend("configuring S3 blob storage"))?;
        let store: Arc<dyn ObjectStore> = match config.prefix.trim_matches('/') {
            "" => Arc::new(s3),
            prefix => Arc::new(object_store::prefix::PrefixStore::new(s3, prefix)),
        };
        // A wrong bucket, endpoint or key is said at start, not at the
        // first upload.
        let mut probe = store.list(None);
        if let Some(Err(e)) = probe.next().await {
            return Err(backend("reaching the S3 bucket for blobs")(e));
        }
        drop(probe);
        Ok(BlobStore {
            store,
            chunk_bytes: S3_CHUNK_BYTES,
            local_root: None,
            shared: true,
        })
    }

    /// Marks these blobs as shared with other nodes (a directory on a
    /// shared filesystem; S3 always is).
    pub fn shared(mut self) -> BlobStore {
        self.shared = true;
        self
    }

    /// Whether other nodes read and write these blobs too.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Copies blob `id` into `target` under the same id (moving a
    /// deployment between blob stores), streamed; returns its size.
    pub async fn copy_to(&self, id: &str, target: &BlobStore) -> Result<u64, BlobError> {
        let chunks = self.get(id, None).await?;
        let size = target.write_streamed(&path_of(id), chunks).await?;
        target.make_durable(&path_of(id)).await?;
        Ok(size)
    }

    /// Streams `chunks` to `path` in parts of the backend's size, holding
    /// at most two in memory; aborts the upload on any error.
    async fn write_streamed(
        &self,
        path: &StorePath,
        chunks: impl Stream<Item = Result<Bytes, BlobError>>,
    ) -> Result<u64, BlobError> {
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(backend("starting an upload"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.chunk_bytes);
        let mut chunks = std::pin::pin!(chunks);
        let mut size = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            };
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(backend("writing an upload")(e));
            }
            size += chunk.len() as u64;
            writer.put(chunk);
        }
        writer
            .finish()
            .await
            .map_err(backend("completing an upload"))?;
        Ok(size)
    }

    /// Streams `chunks` into a new blob and makes it durable. On any error
    /// the partial upload is aborted and nothing is left behind.
    pub async fn put_stream<S, E>(&self, chunks: S) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let path = path_of(&id);
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(backend("starting an upload"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.chunk_bytes);
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(BlobError::Upload(e.to_string()));
                }
            };
            // Bound memory: wait for in-flight parts before buffering more.
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(backend("writing an upload")(e));
            }
            md5.update(&chunk);
            size += chunk.len() as u64;
            writer.put(chunk);
        }
        writer
            .finish()
            .await
            .map_err(backend("completing an upload"))?;
        self.make_durable(&path).await?;
        Ok(StoredBlob {
            id,
            size,
            md5: md5.finalize().into(),
        })
    }

    /// Flushes a finished (staged, then renamed) blob or artifact and its
    /// directory entry to disk.
    async fn make_durable(&self, path: &StorePath) -> Result<(), BlobError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let file = root.join(path.as_ref());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&file)?.sync_all()?;
            if let Some(dir) = file.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Io {
            doing: "syncing an upload",
            source: std::io::Error::other(e),
        })?
        .map_err(|source| BlobError::Io {
            doing: "syncing an upload",
            source,
        })
    }

    /// Whether the small-object fast paths ([`BlobStore::write_small`],
    /// [`BlobStore::read_small`]) are available (local directory stores).
    pub fn has_fast_path(&self) -> bool {
        self.local_root.is_some()
    }

    /// Writes a small blob in one blocking call: create the file under its
    /// final name (new, exclusive), write, fsync. No staging name: a blob
    /// is invisible until the store commits metadata naming it, and a file
    /// cut short by a crash is named by nothing, so the orphan sweep at
    /// start deletes it. fsync of a newly created file also makes its
    /// directory entry durable on ext4 (journal and no-journal modes alike),
    /// which a rename would not be. For callers already on a blocking
    /// thread: a small PUT costs one thread hop, not one per step.
    pub fn write_small(&self, data: &[u8]) -> Result<StoredBlob, BlobError> {
        use std::io::Write;
        let root = self
            .local_root
            .as_ref()
            .expect("write_small needs a local store");
        let id = hex::encode(rand::random::<[u8; 16]>());
        let path = root.join(path_of(&id).as_ref());
        let create = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
        };
        let written = (|| {
            let mut file = match create() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(path.parent().expect("blob paths have a directory"))?;
                    create()?
                }
                other => other?,
            };
            file.write_all(data)?;
            file.sync_all()
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&path);
            return Err(BlobError::Io {
                doing: "writing a blob",
                source,
            });
        }
        Ok(StoredBlob {
            id,
            size: data.len() as u64,
            md5: Md5::digest(data).into(),
        })
    }

    /// Deletes staging files a crash left mid-upload (object_store names
    /// them `<id>#<n>`): every file older than `grace` whose name is not a
    /// blob id (artifacts aside). Call at start, before serving; with
    /// shared blobs, `grace` spares other nodes' uploads in flight.
    pub fn remove_temp_files(&self, grace: std::time::Duration) -> Result<usize, BlobError> {
        fn walk(
            dir: &Path,
            grace: std::time::Duration,
            removed: &mut usize,
        ) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n == ARTIFACTS) {
                        continue;
                    }
                    walk(&path, grace, removed)?;
                } else if !path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_blob_id)
                    && std::fs::metadata(&path)?
                        .modified()?
                        .elapsed()
                        .is_ok_and(|age| age >= grace)
                {
                    std::fs::remove_file(&path)?;
                    *removed += 1;
                }
            }
            Ok(())
        }
        let mut removed = 0;
        if let Some(root) = &self.local_root {
            walk(root, grace, &mut removed).map_err(|source| BlobError::Io {
                doing: "removing temporary files",
                source,
            })?;
        }
        Ok(removed)
    }

    /// Reads (a range of) a blob in one blocking call.
    pub fn read_small(&self, id: &str, range: Option<Range<u64>>) -> Result<Bytes, BlobError> {
        use std::io::{Read, Seek};
        let root = self
            .local_root
            .as_ref()
            .expect("read_small needs a local store");
        if !is_blob_id(id) {
            return Err(BlobError::NotFound(id.to_string()));
        }
        let mut file = std::fs::File::open(root.join(path_of(id).as_ref())).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BlobError::NotFound(id.to_string())
            } else {
                BlobError::Io {
                    doing: "reading a blob",
                    source: e,
                }
            }
        })?;
        let io = |source| BlobError::Io {
            doing: "reading a blob",
            source,
        };
        let mut out = Vec::new();
        match range {
            None => {
                file.read_to_end(&mut out).map_err(io)?;
            }
            Some(r) => {
                file.seek(std::io::SeekFrom::Start(r.start)).map_err(io)?;
                file.take(r.end - r.start)
                    .read_to_end(&mut out)
                    .map_err(io)?;
            }
        }
        Ok(Bytes::from(out))
    }

    pub async fn get(
        &self,
        id: &str,
        range: Option<Range<u64>>,
    ) -> Result<impl Stream<Item = Result<Bytes, BlobError>> + use<>, BlobError> {
        if !is_blob_id(id) {
            return Err(BlobError::NotFound(id.to_string()));
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&path_of(id), options)
            .await
            .map_err(backend("reading a blob"))?;
        Ok(result.into_stream().map_err(backend("reading a blob")))
    }

    /// Reads a whole blob (or range) into memory; for small blobs and tests.
    pub async fn read_all(
        &self,
        id: &str,
        range: Option<Range<u64>>,
    ) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::new();
        let mut stream = std::pin::pin!(self.get(id, range).await?);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    /// Deletes a blob; deleting a missing blob is not an error.
    pub async fn delete(&self, id: &str) -> Result<(), BlobError> {
        if !is_blob_id(id) {
            return Ok(());
        }
        match self.store.delete(&path_of(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend("deleting a blob")(e)),
        }
    }

    /// Every stored blob id (for removing blobs no object names).
    pub async fn list_ids(&self) -> Result<Vec<String>, BlobError> {
        self.list_ids_older_than(std::time::Duration::ZERO).await
    }

    /// The ids of blobs written at least `age` ago: with shared blobs, an
    /// unreferenced blob younger than that may be another node's upload
    /// whose metadata is about to commit.
    pub async fn list_ids_older_than(
        &self,
        age: std::time::Duration,
    ) -> Result<Vec<String>, BlobError> {
        let cutoff = std::time::SystemTime::now() - age;
        let mut ids: Vec<String> = self
            .store
            .list(None)
            .try_filter(|meta| {
                let old = std::time::SystemTime::from(meta.last_modified) <= cutoff;
                futures::future::ready(old)
            })
            .map_ok(|meta| meta.location.filename().unwrap_or_default().to_string())
            .try_collect()
            .await
            .map_err(backend("listing blobs"))?;
        ids.retain(|id| is_blob_id(id));
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + use<> {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(parts)
    }

    #[tokio::test]
    async fn put_get_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let stored = blobs
            .put_stream(chunks(&[b"hello ", b"blob ", b"world"]))
            .await
            .unwrap();
        assert_eq!(stored.size, 16);
        assert_eq!(
            hex::encode(stored.md5),
            hex::encode(Md5::digest(b"hello blob world"))
        );
        assert_eq!(
            blobs.read_all(&stored.id, None).await.unwrap(),
            b"hello blob world"
        );
        assert_eq!(
            blobs.read_all(&stored.id, Some(6..10)).await.unwrap(),
            b"blob"
        );
        assert_eq!(
            blobs.list_ids().await.unwrap(),
            std::slice::from_ref(&stored.id)
        );
        blobs.delete(&stored.id).await.unwrap();
        blobs.delete(&stored.id).await.unwrap();
        assert!(matches!(
            blobs.read_all(&stored.id, None).await,
            Err(BlobError::NotFound(_))
        ));
        assert!(blobs.list_ids().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let failing = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("client went away")),
        ]);
        let err = blobs.put_stream(failing).await.unwrap_err();
        assert!(err.to_string().contains("client went away"), "{err}");
        assert!(blobs.list_ids().await.unwrap().is_empty());
        let leftovers: Vec<_> = walk(dir.path());
        assert!(leftovers.is_empty(), "no staging files left: {leftovers:?}");
    }

    #[tokio::test]
    async fn large_uploads_stream_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        // 20 MiB in 64 KiB chunks: more than two upload parts.
        let chunk = Bytes::from(vec![7u8; 64 << 10]);
        let stream =
            futures::stream::iter((0..320).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        let stored = blobs.put_stream(stream).await.unwrap();
        assert_eq!(stored.size, 20 << 20);
        let tail = blobs
            .read_all(&stored.id, Some((20 << 20) - 3..20 << 20))
            .await
            .unwrap();
        assert_eq!(tail, [7, 7, 7]);
    }

    #[test]
    fn small_blobs_round_trip_and_stray_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let stored = blobs.write_small(b"hello world").unwrap();
        assert_eq!(stored.size, 11);
        assert_eq!(hex::encode(stored.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            &blobs.read_small(&stored.id, None).unwrap()[..],
            b"hello world"
        );
        assert_eq!(
            &blobs.read_small(&stored.id, Some(6..11)).unwrap()[..],
            b"world"
        );
        // A staging file left by a crash is swept; the blob stays.
        let stray = dir
            .path()
            .join(&stored.id[..2])
            .join(format!("{}#3", stored.id));
        std::fs::write(&stray, b"partial").unwrap();
        // Younger than the grace: maybe another node's upload in flight.
        let grace = std::time::Duration::from_secs(3600);
        assert_eq!(blobs.remove_temp_files(grace).unwrap(), 0);
        assert!(stray.exists());
        assert_eq!(
            blobs.remove_temp_files(std::time::Duration::ZERO).unwrap(),
            1
        );
        assert!(!stray.exists());
        assert_eq!(
            &blobs.read_small(&stored.id, None).unwrap()[..],
            b"hello world"
        );
    }

    /// The same operations against a real S3 API (moto's server), through
    /// a key prefix: streamed multipart uploads of more than one part,
    /// ranges, listing, artifacts, deletes.
    #[tokio::test]
    async fn blobs_on_s3_stream_list_and_delete() {
        let moto = testkit::MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        moto.create_bucket("blobs").unwrap();
        let config = S3BlobConfig {
            bucket: "blobs".into(),
            prefix: "cluster-a/".into(),
            endpoint: Some(moto.endpoint()),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
        };
        let blobs = BlobStore::s3(&config).await.unwrap();
        assert!(blobs.is_shared() && !blobs.has_fast_path());
        // 12 MiB in 1 MiB chunks: three parts of S3's 5 MiB minimum.
        let chunk = Bytes::from(vec![7u8; 1 << 20]);
        let chunks = futures::stream::iter((0..12).map(|_| Ok::<_, std::io::Error>(chunk.clone())));
        let stored = blobs.put_stream(chunks).await.unwrap();
        assert_eq!(stored.size, 12 << 20);
        assert_eq!(
            blobs
                .read_all(&stored.id, Some(5 << 20..(5 << 20) + 4))
                .await
                .unwrap(),
            [7, 7, 7, 7]
        );
        let digest = "ef".repeat(32);
        blobs
            .put_artifact(&digest, Bytes::from_static(b"wasm"))
            .await
            .unwrap();
        assert_eq!(&blobs.read_artifact(&digest).await.unwrap()[..], b"wasm");
        assert_eq!(blobs.list_ids().await.unwrap(), vec![stored.id.clone()]);
        blobs.delete(&stored.id).await.unwrap();
        assert!(matches!(
            blobs.read_all(&stored.id, None).await,
            Err(BlobError::NotFound(_))
        ));
        // A bucket that is not there is said at start.
        let missing = S3BlobConfig {
            bucket: "nope".into(),
            ..config
        };
        assert!(BlobStore::s3(&missing).await.is_err());
    }

    #[tokio::test]
    async fn artifacts_are_kept_by_digest_apart_from_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap().shared();
        assert!(blobs.is_shared());
        let digest = "ab".repeat(32);
        blobs
            .put_artifact(&digest, Bytes::from_static(b"component"))
            .await
            .unwrap();
        assert_eq!(
            &blobs.read_artifact(&digest).await.unwrap()[..],
            b"component"
        );
        // Neither a blob to list nor a stray file to sweep.
        assert!(blobs.list_ids().await.unwrap().is_empty());
        assert_eq!(
            blobs.remove_temp_files(std::time::Duration::ZERO).unwrap(),
            0
        );
        assert!(matches!(
            blobs.read_artifact(&"cd".repeat(32)).await,
            Err(BlobError::NotFound(_))
        ));
        // Young blobs are left to the uploads that may still name them.
        let stored = blobs.write_small(b"x").unwrap();
        let hour = std::time::Duration::from_secs(3600);
        assert!(blobs.list_ids_older_than(hour).await.unwrap().is_empty());
        assert_eq!(blobs.list_ids().await.unwrap(), vec![stored.id]);
    }

    #[test]
    fn ids_that_are_not_ours_are_refused() {
        assert!(!is_blob_id("../../etc/passwd"));
        assert!(!is_blob_id("ABCDEF"));
        assert!(is_blob_id(&"ab".repeat(16)));
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
