//! Buckets: object storage behind the S3 API and the control API.
//!
//! [`Buckets`] is the one service both surfaces call. Bytes go to blobs
//! first (fsynced); then one store transaction makes the object visible and
//! writes one event per subscribed function (the outbox), so an
//! acknowledged PUT is durable and never lacks its events. Blobs left
//! behind by a crash between those two steps, or by a replaced object, are
//! deleted (at once, or by [`Buckets::collect_orphans`] at start).

pub mod access;
mod checksum;
pub mod config;
mod error;
mod keys;
pub mod lifecycle;
mod listing;
mod multipart;
mod read;
pub mod sse;
mod versions;

pub use checksum::{ChecksumAlgorithm, ChecksumCheck, Expected, TrailerReader, UploadChecksum};
pub use error::BucketError;
pub use keys::{KeyError, KeyRing};
pub use listing::{ListPage, ListRequest, Listed};
pub use multipart::{CompletedPart, PART_SIZES_HEADER, part_range};
use read::open_sealed_blob;
pub use versions::Deleted;

use crate::util::now_ms;
use arc_swap::ArcSwap;
use bytes::Bytes;
use futures::Stream;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use strato_blob::BlobStore;
use strato_core::BucketSubscription;
use strato_core::s3names::{validate_bucket_name, validate_object_key};
use strato_store::{
    BucketDeletion, BucketEvent, BucketInfo, NewBucketEvent, ObjectMeta, Store, WriteCondition,
};
use tokio::sync::mpsc;

/// Who is asking: the admin (every bucket), one app (its own buckets),
/// or a request an ACL or a bucket policy grants (see [`access`]: decided
/// for that one operation on that bucket before it runs, anonymous
/// requests included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Admin,
    App(String),
    Granted,
}

impl Scope {
    fn may_use(&self, bucket: &BucketInfo) -> bool {
        match self {
            Scope::Admin | Scope::Granted => true,
            Scope::App(app) => bucket.app.as_deref() == Some(app),
        }
    }

    fn owner(&self) -> Option<&str> {
        match self {
            Scope::Admin | Scope::Granted => None,
            Scope::App(app) => Some(app),
        }
    }
}

/// Headers stored with an object and given back on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    /// `cache-control`, `expires`, `content-disposition`, … and
    /// `x-amz-meta-*`, lower-case names.
    pub headers: BTreeMap<String, String>,
}

/// Checks the client asked for on an upload.
#[derive(Debug, Clone, Default)]
pub struct UploadChecks {
    /// Content-MD5, decoded.
    pub md5: Option<[u8; 16]>,
    /// Content-Length (decoded length for aws-chunked bodies).
    pub length: Option<u64>,
    /// An additional checksum (CRC32, SHA256, ...) to compute, compare
    /// with the client's and keep.
    pub checksum: Option<ChecksumCheck>,
    /// What the key must hold for the write to happen (If-None-Match,
    /// If-Match), checked atomically with it.
    pub condition: WriteCondition,
    /// How the bytes are kept (SSE-S3, SSE-C, or the bucket's default).
    pub encryption: sse::Encryption,
}

/// A function subscribed to a bucket.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub app: String,
    pub function: String,
    pub subscription: BucketSubscription,
}

/// Object storage with events. Cheap to share (`Arc`).
pub struct Buckets {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    keys: KeyRing,
    /// Every bucket, by name (few; read on every request).
    buckets: ArcSwap<HashMap<String, BucketInfo>>,
    /// What is deployed (for the functions and tasks subscribed to each
    /// bucket).
    live: crate::live::LiveHandle,
    /// This node, which delivers the events its writes commit.
    node: strato_store::NodeId,
    /// Events committed with a write, for immediate delivery.
    events: mpsc::UnboundedSender<BucketEvent>,
    /// Seals SSE-S3 objects' data keys.
    master: sse::MasterKey,
    /// How long this node's lease on an event it delivers lasts.
    lease_ms: i64,
}

/// A stream of object bytes.
pub type ObjectStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BucketError>> + Send>>;

impl Buckets {
    /// Opens the service. Events committed by writes are sent to `events`.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        blobs: BlobStore,
        live: crate::live::LiveHandle,
        node: strato_store::NodeId,
        events: mpsc::UnboundedSender<BucketEvent>,
        master: sse::MasterKey,
        lease_ms: i64,
    ) -> Result<Buckets, BucketError> {
        let keys = KeyRing::load(store.clone()).await?;
        let buckets = Buckets {
            store,
            blobs,
            keys,
            buckets: ArcSwap::from_pointee(HashMap::new()),
            live,
            node,
            events,
            master,
            lease_ms,
        };
        buckets.reload_buckets().await?;
        Ok(buckets)
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Re-reads buckets and access keys from the store (on a cluster, to
    /// see other nodes' changes).
    pub(crate) async fn reload(&self) -> Result<(), BucketError> {
        self.reload_buckets().await?;
        self.keys.reload().await?;
        Ok(())
    }

    async fn reload_buckets(&self) -> Result<(), BucketError> {
        let all = self.store.list_buckets().await?;
        self.buckets.store(Arc::new(
            all.into_iter().map(|b| (b.name.clone(), b)).collect(),
        ));
        Ok(())
    }

    /// The bucket if it exists and `scope` may use it.
    pub fn bucket(&self, name: &str, scope: &Scope) -> Result<BucketInfo, BucketError> {
        match self.buckets.load().get(name) {
            None => Err(BucketError::NoSuchBucket(name.to_string())),
            Some(b) if !scope.may_use(b) => Err(BucketError::AccessDenied(name.to_string())),
            Some(b) => Ok(b.clone()),
        }
    }

    pub fn list_buckets(&self, scope: &Scope) -> Vec<BucketInfo> {
        let mut list: Vec<BucketInfo> = self
            .buckets
            .load()
            .values()
            .filter(|b| scope.may_use(b))
            .cloned()
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Creates a bucket owned by the scope's app (none for the admin).
    pub async fn create_bucket(&self, name: &str, scope: &Scope) -> Result<(), BucketError> {
        validate_bucket_name(name).map_err(|e| BucketError::InvalidBucketName(e.to_string()))?;
        let created = self
            .store
            .create_bucket(name, scope.owner(), now_ms())
            .await?;
        self.reload_buckets().await?;
        if created {
            return Ok(());
        }
        let existing = self.bucket(name, &Scope::Admin)?;
        if scope.may_use(&existing) {
            Err(BucketError::BucketAlreadyOwnedByYou(name.to_string()))
        } else {
            Err(BucketError::BucketAlreadyExists(name.to_string()))
        }
    }

    /// Makes the buckets an app declares exist and belong to it.
    /// Fails, changing nothing, if one belongs to another app.
    pub async fn declare_buckets<'a>(
        &self,
        app: &str,
        names: impl IntoIterator<Item = &'a String> + Clone,
    ) -> Result<(), BucketError> {
        for name in names.clone() {
            if let Some(b) = self.buckets.load().get(name.as_str())
                && b.app.as_deref().is_some_and(|owner| owner != app)
            {
                return Err(BucketError::BucketAlreadyExists(name.clone()));
            }
        }
        for name in names {
            if !self.store.create_bucket(name, Some(app), now_ms()).await? {
                self.store.set_bucket_app(name, Some(app)).await?;
            }
        }
        self.reload_buckets().await
    }

    /// Deletes a bucket; with `force`, its objects and uploads first.
    pub async fn delete_bucket(
        &self,
        name: &str,
        scope: &Scope,
        force: bool,
    ) -> Result<(), BucketError> {
        self.bucket(name, scope)?;
        if force {
            let blobs = self.store.empty_bucket(name).await?;
            self.delete_blobs(blobs).await;
        }
        let outcome = self.store.delete_bucket(name).await?;
        self.reload_buckets().await?;
        match outcome {
            BucketDeletion::Deleted { blobs } => {
                self.delete_blobs(blobs).await;
                Ok(())
            }
            BucketDeletion::NotFound => Err(BucketError::NoSuchBucket(name.to_string())),
            BucketDeletion::NotEmpty => Err(BucketError::BucketNotEmpty(name.to_string())),
        }
    }

    /// Stores an object from a stream of bytes; returns its metadata once
    /// bytes, metadata and events are durable.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        scope: &Scope,
        body: S,
        headers: ObjectHeaders,
        checks: UploadChecks,
    ) -> Result<ObjectMeta, BucketError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let info = self.bucket(bucket, scope)?;
        validate_object_key(key).map_err(BucketError::from)?;
        if checks.length.is_some_and(|n| n > MAX_SINGLE_PUT_BYTES) {
            return Err(BucketError::EntityTooLarge);
        }
        self.precheck(bucket, key, &checks.condition).await?;
        // An upload that names no checksum gets S3's default, a full-object
        // CRC64NVME, answered in checksum mode like any other.
        let mut checks = checks;
        checks.checksum.get_or_insert(ChecksumCheck {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            expected: Expected::Nothing,
        });
        let version_id = versions::new_version_id(&info);
        let sealing = self.sealing(&info, &checks.encryption);
        let mut headers = headers;
        sse::strip(&mut headers.headers);
        headers.headers.extend(sealing.headers);
        let cipher = sealing.cipher;
        let body = match gather_small(body, &checks).await? {
            Gathered::Small(bytes) => {
                return self
                    .put_small_object(bucket, key, version_id, bytes, headers, checks, cipher)
                    .await;
            }
            Gathered::Large(stream) => stream,
        };
        let (stored, checksum) = self
            .store_checked_blob(body, &checks, cipher.as_ref())
            .await?;
        keep_checksum(&mut headers.headers, checksum);
        let meta = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: stored.size,
            etag: format!("\"{}\"", hex::encode(stored.md5)),
            content_type: headers.content_type,
            headers: headers.headers,
            blob: stored.id,
            modified_ms: now_ms(),
            version_id,
            inline: None,
        };
        self.commit_object(meta, "ObjectCreated:Put", &checks.condition)
            .await
    }

    /// How a new object in `bucket` is sealed: as asked, else as the
    /// bucket's default encryption says.
    fn sealing(&self, bucket: &BucketInfo, asked: &sse::Encryption) -> sse::Sealing {
        let default = bucket
            .config
            .get(config::kind::ENCRYPTION)
            .is_some_and(|v| v == "AES256");
        sse::sealing_for_write(&self.master, asked, default)
    }

    /// Refuses a conditional write early, before its bytes are read, when
    /// its condition already fails (the write's transaction checks again).
    async fn precheck(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<(), BucketError> {
        if condition.is_empty() {
            return Ok(());
        }
        let current = self.store.get_object(bucket, key).await?;
        condition
            .check(current.as_ref())
            .map_err(|f| BucketError::unmet(f, bucket, key))
    }

    /// The small-object path: checks, blob write, fsync and the metadata
    /// commit in one blocking task (one thread hop, not one per step).
    #[allow(clippy::too_many_arguments)]
    async fn put_small_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        bytes: Bytes,
        headers: ObjectHeaders,
        checks: UploadChecks,
        cipher: Option<sse::BlobCipher>,
    ) -> Result<ObjectMeta, BucketError> {
        use md5::{Digest, Md5};
        if let Some(n) = checks.length
            && n != bytes.len() as u64
        {
            return Err(BucketError::IncompleteBody {
                expected: n,
                got: bytes.len() as u64,
            });
        }
        let md5: [u8; 16] = Md5::digest(&bytes).into();
        if checks.md5.is_some_and(|want| want != md5) {
            return Err(BucketError::BadDigest);
        }
        let mut headers = headers;
        if let Some(check) = &checks.checksum {
            let mut hasher = check.algorithm.hasher();
            hasher.update(&bytes);
            let actual = hasher.finalize();
            check.verify(&actual).map_err(BucketError::BadChecksum)?;
            keep_checksum(&mut headers.headers, Some((check.algorithm, actual)));
        }
        let events = self.events_for(bucket, key, "ObjectCreated:Put");
        let size = bytes.len() as u64;
        let bytes = match &cipher {
            Some(c) => Bytes::from(c.seal_all(&bytes)),
            None => bytes,
        };
        // The smallest objects live in the store itself: one group commit
        // makes them durable, with no blob file and no second fsync.
        let (blob, inline) = if size as usize <= INLINE_OBJECT_BYTES {
            (String::new(), Some(bytes.to_vec()))
        } else {
            let blobs = self.blobs.clone();
            let data = bytes.clone();
            let stored = tokio::task::spawn_blocking(move || blobs.write_small(&data))
                .await
                .map_err(|e| BucketError::Storage(e.to_string()))??;
            (stored.id, None)
        };
        let meta = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size,
            etag: format!("\"{}\"", hex::encode(md5)),
            content_type: headers.content_type,
            headers: headers.headers,
            blob,
            modified_ms: now_ms(),
            version_id,
            inline,
        };
        let write = match self
            .store
            .put_object(&meta, &checks.condition, &events)
            .await
        {
            Ok(Ok(write)) => write,
            Ok(Err(failure)) => {
                if !meta.blob.is_empty() {
                    self.delete_blobs(vec![meta.blob]).await;
                }
                return Err(BucketError::unmet(failure, bucket, key));
            }
            Err(e) => {
                if !meta.blob.is_empty() {
                    tracing::warn!(
                        blob = meta.blob,
                        "object commit failed; its blob is collected at next start"
                    );
                }
                return Err(e.into());
            }
        };
        self.announce(write.events);
        if let Some(old) = write.replaced_blob {
            self.delete_blobs(vec![old]).await;
        }
        Ok(meta)
    }

    /// Writes a blob, refusing (and deleting) it if it does not match the
    /// length, MD5 or checksum the client declared; returns it with the
    /// checksum computed, if one was asked for.
    async fn store_checked_blob<S, E>(
        &self,
        body: S,
        checks: &UploadChecks,
        cipher: Option<&sse::BlobCipher>,
    ) -> Result<(strato_blob::StoredBlob, Option<(ChecksumAlgorithm, String)>), BucketError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        use md5::Digest;
        let limit = checks.length;
        let mut seen = 0u64;
        let mut hasher = checks.checksum.as_ref().map(|c| c.algorithm.hasher());
        // A sealed blob's own MD5 and size are not the object's: those of
        // the plaintext are taken on the way in.
        let mut plain_md5 = cipher.map(|_| md5::Md5::new());
        // Stop reading as soon as a body runs past its declared length.
        let body = body.map(|chunk| {
            let chunk = chunk.map_err(|e| e.to_string())?;
            seen += chunk.len() as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            if let Some(h) = plain_md5.as_mut() {
                h.update(&chunk);
            }
            match limit {
                Some(n) if seen > n => Err(format!("{}", BucketError::BodyTooLong(n))),
                _ => Ok(chunk),
            }
        });
        let stored = match cipher {
            None => self.blobs.put_stream(body).await?,
            Some(c) => {
                let sealed = self.blobs.put_stream(c.seal_stream(body)).await?;
                strato_blob::StoredBlob {
                    id: sealed.id,
                    size: seen,
                    md5: plain_md5
                        .take()
                        .map(|h| h.finalize().into())
                        .unwrap_or_default(),
                }
            }
        };
        let checksum = checks
            .checksum
            .as_ref()
            .zip(hasher)
            .map(|(check, h)| (check, h.finalize()));
        let problem = match (checks.length, checks.md5, &checksum) {
            (Some(n), _, _) if stored.size != n => Some(BucketError::IncompleteBody {
                expected: n,
                got: stored.size,
            }),
            (_, Some(md5), _) if md5 != stored.md5 => Some(BucketError::BadDigest),
            (_, _, Some((check, actual))) => {
                check.verify(actual).err().map(BucketError::BadChecksum)
            }
            _ => None,
        };
        if let Some(problem) = problem {
            self.delete_blobs(vec![stored.id]).await;
            return Err(problem);
        }
        Ok((
            stored,
            checksum.map(|(check, actual)| (check.algorithm, actual)),
        ))
    }

    /// Makes an object visible with its events, hands the events to the
    /// deliverer and deletes the blob it replaced.
    async fn commit_object(
        &self,
        meta: ObjectMeta,
        event_name: &str,
        condition: &WriteCondition,
    ) -> Result<ObjectMeta, BucketError> {
        let events = self.events_for(&meta.bucket, &meta.key, event_name);
        let written = match self.store.put_object(&meta, condition, &events).await {
            Ok(Ok(write)) => Ok(write),
            Ok(Err(failure)) => Err(BucketError::unmet(failure, &meta.bucket, &meta.key)),
            Err(e) => Err(BucketError::from(e)),
        };
        let write = match written {
            Ok(w) => w,
            Err(e) => {
                self.delete_blobs(vec![meta.blob.clone()]).await;
                return Err(e);
            }
        };
        self.announce(write.events);
        if let Some(old) = write.replaced_blob {
            self.delete_blobs(vec![old]).await;
        }
        Ok(meta)
    }

    fn announce(&self, events: Vec<BucketEvent>) {
        for e in events {
            // The deliverer is gone only at shutdown; the sweeper after the
            // next start delivers what was not sent.
            let _ = self.events.send(e);
        }
    }

    /// One event per subscribed function whose filter matches.
    fn events_for(&self, bucket: &str, key: &str, name: &str) -> Vec<NewBucketEvent> {
        let now = now_ms();
        // The writer's span (an S3 request's context) is each event's.
        let cause = crate::trace::current_cause();
        self.live
            .load()
            .subscribers
            .get(bucket)
            .map(|subs| {
                subs.iter()
                    .filter(|s| s.subscription.matches(name, key))
                    .map(|s| NewBucketEvent {
                        name: name.to_string(),
                        at_ms: now,
                        app: s.app.clone(),
                        function: s.function.clone(),
                        // Delivered at once by this node, which holds it
                        // in hand (see `crate::lifecycle`).
                        leased_until_ms: now + self.lease_ms,
                        lease_owner: self.node.0.clone(),
                        traceparent: cause.as_ref().map(|c| c.traceparent()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The blob store object bytes (and, on a cluster, artifacts) live in.
    pub(crate) fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    async fn delete_blobs(&self, ids: Vec<String>) {
        for id in ids {
            if let Err(e) = self.blobs.delete(&id).await {
                // Left for the orphan sweep at the next start.
                tracing::warn!(blob = %id, error = %e, "could not delete a blob");
            }
        }
    }

    /// Deletes blobs nothing refers to (left by a crash mid-upload).
    /// Call at start, before serving. With shared blobs, another node may
    /// be mid-upload: only blobs older than [`SHARED_ORPHAN_GRACE`] go.
    pub async fn collect_orphans(&self) -> Result<usize, BucketError> {
        let grace = if self.blobs.is_shared() {
            SHARED_ORPHAN_GRACE
        } else {
            std::time::Duration::ZERO
        };
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.remove_temp_files(grace))
            .await
            .map_err(|e| BucketError::Storage(e.to_string()))??;
        // Listed before the referenced set is read: a blob committed in
        // between is in the set, never mistaken for an orphan.
        let candidates = self.blobs.list_ids_older_than(grace).await?;
        let referenced = self.store.referenced_blobs().await?;
        let orphans: Vec<String> = candidates
            .into_iter()
            .filter(|id| !referenced.contains(id))
            .collect();
        let n = orphans.len();
        self.delete_blobs(orphans).await;
        Ok(n)
    }
}

/// How old an unreferenced shared blob must be to be deleted: longer than
/// any upload takes between storing its bytes and committing its metadata.
pub const SHARED_ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// S3's limit for one PUT (and one part).
pub(super) const MAX_SINGLE_PUT_BYTES: u64 = 5 << 30;

/// Objects up to this size are kept inline in the store.
const INLINE_OBJECT_BYTES: usize = 64 << 10;

/// Objects up to this size take the one-hop paths (PUT and GET).
const SMALL_OBJECT_BYTES: usize = 1 << 20;

/// A request body: whole, if it turned out small, or still streaming.
enum Gathered<'a> {
    Small(Bytes),
    Large(std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send + 'a>>),
}

/// Reads up to [`SMALL_OBJECT_BYTES`] of a body; if it ends by then, the
/// whole body, else a stream of what was read followed by the rest.
/// Keeps a single upload's checksum, of the whole object.
fn keep_checksum(
    headers: &mut BTreeMap<String, String>,
    checksum: Option<(ChecksumAlgorithm, String)>,
) {
    if let Some((algorithm, value)) = checksum {
        checksum::keep_checksum(headers, algorithm, value, "FULL_OBJECT");
    }
}

async fn gather_small<'a, S, E>(body: S, checks: &UploadChecks) -> Result<Gathered<'a>, BucketError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'a,
    E: std::fmt::Display + 'a,
{
    use futures::StreamExt;
    if checks.length.is_some_and(|n| n > SMALL_OBJECT_BYTES as u64) {
        return Ok(Gathered::Large(Box::pin(
            body.map(|c| c.map_err(|e| e.to_string())),
        )));
    }
    let mut body = Box::pin(body.map(|c| c.map_err(|e| e.to_string())));
    let mut head: Vec<Bytes> = Vec::new();
    let mut size = 0;
    while size <= SMALL_OBJECT_BYTES {
        match body.next().await {
            None => {
                let whole = match head.len() {
                    0 => Bytes::new(),
                    1 => head.pop().expect("one chunk"),
                    _ => Bytes::from(head.concat()),
                };
                return Ok(Gathered::Small(whole));
            }
            Some(Ok(chunk)) => {
                size += chunk.len();
                head.push(chunk);
            }
            Some(Err(e)) => return Err(BucketError::Body(e)),
        }
    }
    let head = futures::stream::iter(head.into_iter().map(Ok));
    Ok(Gathered::Large(Box::pin(head.chain(body))))
}
