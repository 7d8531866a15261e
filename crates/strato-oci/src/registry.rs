//! What Strato's own registry stores, in the image store: manifests as
//! pushed (by repository, content-addressed like every blob), tags, and
//! which blobs each repository may read. The OCI Distribution API over it
//! is `strato-api`'s; this is the state and its rules.
//!
//! A pushed image manifest also makes an image of the store: its tag is a
//! name (`repo:tag`) that tasks, services and Lambda image functions run,
//! listed by `strato image ls`, published to a cluster's catalog. Layers
//! are checked against the config's `diff_ids` before a name points at
//! them, as imports are, so no push can put other bytes under an image id
//! a run trusts. Blobs are the store's `blobs/sha256/`, shared with
//! imported and pulled images, each stored once.

use crate::archive::{self, pick_platform};
use crate::digest::{Digest, copy_hashed};
use crate::images::{ImageError, ImageInfo, ImageStore, image_config, normalize_name};
use crate::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
/// The largest manifest accepted (as Docker's registry).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Why a registry operation was refused, by the distribution spec's codes.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("manifest references a blob unknown to this repository: {0}")]
    ManifestBlobUnknown(Digest),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown")]
    ManifestUnknown,
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("invalid repository name or tag: {0}")]
    NameInvalid(String),
    #[error("provided digest did not match uploaded content")]
    DigestInvalid,
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl RegistryError {
    /// The distribution spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::BlobUnknown => "BLOB_UNKNOWN",
            RegistryError::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            RegistryError::ManifestInvalid(_) => "MANIFEST_INVALID",
            RegistryError::ManifestUnknown => "MANIFEST_UNKNOWN",
            RegistryError::NameUnknown => "NAME_UNKNOWN",
            RegistryError::NameInvalid(_) => "NAME_INVALID",
            RegistryError::DigestInvalid => "DIGEST_INVALID",
            RegistryError::Unsupported(_) => "UNSUPPORTED",
            RegistryError::Image(ImageError::DigestMismatch { .. }) => "MANIFEST_INVALID",
            RegistryError::Image(_) => "INTERNAL",
        }
    }
}

/// One manifest stored in a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub media_type: String,
    pub size: u64,
    /// Config and layers (an image or artifact manifest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<Digest>,
    /// The manifests an index lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// The image it runs (its config digest), for image manifests and for
    /// indexes with a linux/amd64 entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Digest>,
    pub created_ms: i64,
}

/// The registry's part of the image store's index.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct RegistryIndex {
    /// repository -> manifest digest -> entry.
    #[serde(default)]
    pub(crate) manifests: BTreeMap<String, BTreeMap<Digest, ManifestEntry>>,
    /// repository -> tag -> manifest digest.
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, BTreeMap<String, Digest>>,
    /// Layer blob -> the digest of its uncompressed tar, once checked.
    #[serde(default)]
    pub(crate) diff_ids: BTreeMap<Digest, Digest>,
}

impl RegistryIndex {
    /// Blobs (manifests included) some manifest keeps.
    pub(crate) fn referenced(&self) -> impl Iterator<Item = &Digest> {
        self.manifests.values().flat_map(|repo| {
            repo.iter()
                .flat_map(|(digest, entry)| std::iter::once(digest).chain(&entry.blobs))
        })
    }

    /// Images some manifest runs.
    pub(crate) fn images(&self) -> impl Iterator<Item = &Digest> {
        self.manifests
            .values()
            .flat_map(|repo| repo.values().filter_map(|e| e.image.as_ref()))
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl ManifestRef {
    pub fn parse(text: &str) -> Result<ManifestRef, RegistryError> {
        if text.contains(':') {
            return Digest::parse(text)
                .map(ManifestRef::Digest)
                .ok_or(RegistryError::DigestInvalid);
        }
        let valid = !text.is_empty()
            && text.len() <= 128
            && !text.starts_with(['.', '-'])
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if valid {
            Ok(ManifestRef::Tag(text.to_string()))
        } else {
            Err(RegistryError::NameInvalid(format!("tag {text:?}")))
        }
    }
}

/// Whether `name` is a repository name the distribution spec allows.
pub fn valid_repository(name: &str) -> bool {
    name.len() <= 255
        && !name.is_empty()
        && name.split('/').all(|part| {
            let bytes = part.as_bytes();
            !part.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && !part.contains("..")
        })
}

/// A manifest as read back.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What [`ImageStore::collect_garbage`] removed.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct GarbageReport {
    pub manifests: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// Blobs uploaded or mounted into a repository and not yet used by any of
/// its manifests. Kept in memory: after a restart a client whose push was
/// cut finds them unknown and uploads again (the bytes are kept once).
#[derive(Default)]
pub(crate) struct Pending(HashMap<String, HashSet<Digest>>);

impl ImageStore {
    /// Tells the store its registry listens on `addr`, so that
    /// `127.0.0.1:5000/app/web:1` (and `localhost:5000/...`) resolve to the
    /// pushed `app/web:1`. Set once, at start.
    pub fn serve_registry_at(&self, addr: std::net::SocketAddr) {
        let port = addr.port();
        let mut prefixes = vec![format!("{addr}/"), format!("localhost:{port}/")];
        if addr.ip().is_unspecified() || addr.ip().is_loopback() {
            prefixes.push(format!("127.0.0.1:{port}/"));
        }
        let _ = self.own_registry.set(prefixes);
    }

    /// `name` without a leading prefix naming this registry.
    pub(crate) fn without_own_registry<'a>(&self, name: &'a str) -> &'a str {
        self.own_registry
            .get()
            .into_iter()
            .flatten()
            .find_map(|prefix| name.strip_prefix(prefix.as_str()))
            .unwrap_or(name)
    }

    /// Where blob `digest` is, if stored on this node.
    pub fn blob_file(&self, digest: &Digest) -> Option<(PathBuf, u64)> {
        let path = self.blob_path(digest);
        let size = std::fs::metadata(&path).ok()?.len();
        Some((path, size))
    }

    /// Whether this node stores blob `digest`.
    pub fn has_blob_file(&self, digest: &Digest) -> bool {
        self.has_blob(digest)
    }

    /// Where blob `digest` is on this node, fetched (and verified) from a
    /// cluster's shared blobs first when another node stored it.
    pub fn fetch_blob(&self, digest: &Digest) -> Result<Option<(PathBuf, u64)>, ImageError> {
        if let Some(found) = self.blob_file(digest) {
            return Ok(Some(found));
        }
        let Some(catalog) = self.catalog.get() else {
            return Ok(None);
        };
        if !catalog.has_blob(digest)? {
            return Ok(None);
        }
        let staged = self.staging_path("blob");
        catalog.download_blob(digest, &staged)?;
        let stored = self.put_verified_blob(digest, &staged);
        let _ = std::fs::remove_file(&staged);
        stored?;
        Ok(self.blob_file(digest))
    }

    /// Whether `repo` may read blob `digest`: one of its manifests or
    /// images uses it, or it was pushed or mounted there.
    pub fn blob_in_repository(&self, repo: &str, digest: &Digest) -> bool {
        if self
            .pending
            .lock()
            .unwrap()
            .0
            .get(repo)
            .is_some_and(|p| p.contains(digest))
        {
            return true;
        }
        let index = self.index.lock().unwrap();
        let in_manifests = index.registry.manifests.get(repo).is_some_and(|m| {
            m.iter()
                .any(|(d, e)| d == digest || e.blobs.contains(digest))
        });
        in_manifests
            || index.names.iter().any(|(name, id)| {
                repository_of(name) == repo
                    && index
                        .images
                        .get(id)
                        .is_some_and(|i| i.id == *digest || i.layers.contains(digest))
            })
    }

    /// Stores an uploaded blob whose digest the caller computed while it
    /// arrived, and lets `repo` read it.
    pub fn accept_blob(
        &self,
        repo: &str,
        digest: &Digest,
        staged: &Path,
    ) -> Result<(), ImageError> {
        self.put_blob_file(digest, staged)?;
        self.link_blob(repo, digest);
        Ok(())
    }

    /// Lets `repo` read a stored blob (a mount, or an upload of bytes the
    /// store had already).
    pub fn link_blob(&self, repo: &str, digest: &Digest) {
        self.pending
            .lock()
            .unwrap()
            .0
            .entry(repo.to_string())
            .or_default()
            .insert(digest.clone());
    }

    /// Forgets that `repo` may read a blob it pushed (its bytes go at the
    /// next garbage collection if nothing else uses them).
    pub fn unlink_blob(&self, repo: &str, digest: &Digest) -> bool {
        let was = self.blob_in_repository(repo, digest);
        if let Some(p) = self.pending.lock().unwrap().0.get_mut(repo) {
            p.remove(digest);
        }
        was
    }

    /// Stores a pushed manifest under `reference` in `repo`. Its blobs (or
    /// an index's manifests) must be in the repository; an image manifest's
    /// layers are checked against its config, and a tag of a runnable image
    /// becomes a name of the store.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<(Digest, Option<Digest>), RegistryError> {
        if !valid_repository(repo) {
            return Err(RegistryError::NameInvalid(repo.to_string()));
        }
        let digest = Digest::of_bytes(bytes);
        if let ManifestRef::Digest(claimed) = reference
            && *claimed != digest
        {
            return Err(RegistryError::DigestInvalid);
        }
        let json: Value = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::ManifestInvalid(format!("not JSON: {e}")))?;
        let entry = self.parse_manifest(repo, &json, content_type, bytes.len() as u64)?;
        let image = match (&entry.image, entry.manifests.is_empty()) {
            (Some(_), true) => Some(self.image_of_manifest(&json, &entry)?),
            _ => None,
        };
        self.put_blob_bytes(&digest, bytes)?;
        let tag_name = match reference {
            ManifestRef::Tag(tag) => Some(
                normalize_name(&format!("{repo}:{tag}"))
                    .map_err(|_| RegistryError::NameInvalid(format!("{repo}:{tag}")))?,
            ),
            ManifestRef::Digest(_) => None,
        };
        let runs = entry.image.clone();
        let subject = entry.subject.clone();
        {
            let mut index = self.index.lock().unwrap();
            if let Some(info) = &image {
                index
                    .images
                    .entry(info.id.clone())
                    .or_insert_with(|| info.clone());
            }
            index
                .registry
                .manifests
                .entry(repo.to_string())
                .or_default()
                .insert(digest.clone(), entry.clone());
            if let (ManifestRef::Tag(tag), Some(name)) = (reference, &tag_name) {
                index
                    .registry
                    .tags
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.clone(), digest.clone());
                match &runs {
                    Some(id) if index.images.contains_key(id) => {
                        index.names.insert(name.clone(), id.clone());
                    }
                    _ => {
                        index.names.remove(name);
                    }
                }
            }
            self.save_index(&index)?;
            if let Some(p) = self.pending.lock().unwrap().0.get_mut(repo) {
                for blob in &entry.blobs {
                    p.remove(blob);
                }
            }
        }
        if let (Some(name), Some(id)) = (&tag_name, &runs) {
            let info = self.index.lock().unwrap().images.get(id).cloned();
            if let Some(info) = info {
                self.publish(&info, std::slice::from_ref(name))?;
            }
        }
        Ok((digest, subject))
    }

    /// Checks a manifest's shape and references and describes it.
    fn parse_manifest(
        &self,
        repo: &str,
        json: &Value,
        content_type: Option<&str>,
        size: u64,
    ) -> Result<ManifestEntry, RegistryError> {
        let invalid = |why: &str| RegistryError::ManifestInvalid(why.to_string());
        let media_type = json["mediaType"]
            .as_str()
            .or(content_type)
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
            .ok_or_else(|| invalid("no mediaType in the manifest or its Content-Type"))?;
        if let (Some(inner), Some(header)) = (json["mediaType"].as_str(), content_type)
            && !header.starts_with(inner)
            && header != "application/octet-stream"
        {
            return Err(invalid("its mediaType and Content-Type differ"));
        }
        if json["schemaVersion"] != 2 {
            return Err(RegistryError::Unsupported(
                "only schemaVersion 2 manifests are accepted".into(),
            ));
        }
        fn descriptor(v: &Value) -> Result<(Digest, Option<&str>), RegistryError> {
            let invalid = |why: &str| RegistryError::ManifestInvalid(why.to_string());
            let digest = archive::descriptor_digest(v)
                .map_err(|_| invalid("a descriptor lacks a valid sha256 digest"))?;
            if v["size"].as_u64().is_none() {
                return Err(invalid("a descriptor lacks its size"));
            }
            Ok((digest, v["mediaType"].as_str()))
        }
        let subject = match json.get("subject") {
            Some(s) if !s.is_null() => Some(descriptor(s)?.0),
            _ => None,
        };
        let mut entry = ManifestEntry {
            media_type: media_type.clone(),
            size,
            blobs: Vec::new(),
            manifests: Vec::new(),
            subject,
            artifact_type: json["artifactType"].as_str().map(str::to_string),
            annotations: json.get("annotations").filter(|a| a.is_object()).cloned(),
            image: None,
            created_ms: now_ms(),
        };
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let (config, config_type) = descriptor(&json["config"])?;
                entry.blobs.push(config.clone());
                let layers = json["layers"]
                    .as_array()
                    .ok_or_else(|| invalid("no layers"))?;
                for layer in layers {
                    let (d, _) = descriptor(layer)?;
                    entry.blobs.push(d);
                }
                if entry.artifact_type.is_none()
                    && !IMAGE_CONFIGS.contains(&config_type.unwrap_or(""))
                {
                    entry.artifact_type = config_type.map(str::to_string);
                }
                for blob in &entry.blobs {
                    if !self.has_blob(blob) || !self.blob_in_repository(repo, blob) {
                        return Err(RegistryError::ManifestBlobUnknown(blob.clone()));
                    }
                }
                if IMAGE_CONFIGS.contains(&config_type.unwrap_or("")) {
                    entry.image = Some(config);
                }
            }
            OCI_INDEX | DOCKER_LIST => {
                let list = json["manifests"]
                    .as_array()
                    .ok_or_else(|| invalid("an index without manifests"))?;
                let index = self.index.lock().unwrap();
                let known = index.registry.manifests.get(repo);
                for m in list {
                    let (d, _) = descriptor(m)?;
                    if !known.is_some_and(|k| k.contains_key(&d)) {
                        return Err(RegistryError::ManifestBlobUnknown(d));
                    }
                    entry.manifests.push(d);
                }
                entry.image = pick_platform(list)
                    .and_then(|m| archive::descriptor_digest(m).ok())
                    .and_then(|d| known?.get(&d)?.image.clone());
            }
            other => {
                return Err(RegistryError::Unsupported(format!(
                    "manifests of type {other} are not accepted"
                )));
            }
        }
        Ok(entry)
    }

    /// The image an image manifest runs, its layers checked against the
    /// config's `diff_ids` (each layer once: the result is kept).
    fn image_of_manifest(
        &self,
        json: &Value,
        entry: &ManifestEntry,
    ) -> Result<ImageInfo, RegistryError> {
        let id = entry.blobs[0].clone();
        let layers = entry.blobs[1..].to_vec();
        let config_bytes =
            std::fs::read(self.blob_path(&id)).map_err(ImageError::read("a config"))?;
        let config: Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| RegistryError::ManifestInvalid(format!("its config is not JSON: {e}")))?;
        let diff_ids = archive::diff_ids(&config)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        if diff_ids.len() != layers.len() {
            return Err(RegistryError::ManifestInvalid(format!(
                "{} layers but the config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        for (layer, want) in layers.iter().zip(&diff_ids) {
            let known = self
                .index
                .lock()
                .unwrap()
                .registry
                .diff_ids
                .get(layer)
                .cloned();
            let actual = match known {
                Some(d) => d,
                None => {
                    let reader = crate::unpack::decompressed(self.blob(layer)?)
                        .map_err(ImageError::read("a layer"))?;
                    let (d, _) = copy_hashed(reader, std::io::sink())
                        .map_err(ImageError::read("a layer"))?;
                    self.index
                        .lock()
                        .unwrap()
                        .registry
                        .diff_ids
                        .insert(layer.clone(), d.clone());
                    d
                }
            };
            if actual != *want {
                return Err(RegistryError::ManifestInvalid(format!(
                    "layer {layer} unpacks to {actual} but the config says {want}"
                )));
            }
        }
        let size = json["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["size"].as_u64())
            .sum::<u64>()
            + config_bytes.len() as u64;
        Ok(ImageInfo {
            id,
            layers,
            config: image_config(&config),
            size,
            created_ms: now_ms(),
        })
    }

    /// The manifest `reference` names in `repo`.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
    ) -> Result<StoredManifest, RegistryError> {
        let (digest, media_type) = {
            let index = self.index.lock().unwrap();
            let Some(manifests) = index.registry.manifests.get(repo) else {
                return Err(RegistryError::NameUnknown);
            };
            let digest = match reference {
                ManifestRef::Digest(d) => d.clone(),
                ManifestRef::Tag(t) => index
                    .registry
                    .tags
                    .get(repo)
                    .and_then(|tags| tags.get(t))
                    .cloned()
                    .ok_or(RegistryError::ManifestUnknown)?,
            };
            let entry = manifests
                .get(&digest)
                .ok_or(RegistryError::ManifestUnknown)?;
            (digest, entry.media_type.clone())
        };
        let bytes =
            std::fs::read(self.blob_path(&digest)).map_err(|_| RegistryError::ManifestUnknown)?;
        Ok(StoredManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// Deletes a tag, or a manifest and every tag of it.
    pub fn delete_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
    ) -> Result<(), RegistryError> {
        let mut index = self.index.lock().unwrap();
        if !index.registry.manifests.contains_key(repo) {
            return Err(RegistryError::NameUnknown);
        }
        let tags = index.registry.tags.entry(repo.to_string()).or_default();
        let untagged: Vec<String> = match reference {
            ManifestRef::Tag(t) => {
                tags.remove(t).ok_or(RegistryError::ManifestUnknown)?;
                vec![t.clone()]
            }
            ManifestRef::Digest(d) => {
                let gone: Vec<String> = tags
                    .iter()
                    .filter(|(_, m)| *m == d)
                    .map(|(t, _)| t.clone())
                    .collect();
                for t in &gone {
                    tags.remove(t);
                }
                let manifests = index
                    .registry
                    .manifests
                    .get_mut(repo)
                    .expect("checked above");
                if manifests.remove(d).is_none() {
                    return Err(RegistryError::ManifestUnknown);
                }
                gone
            }
        };
        let names: Vec<String> = untagged
            .iter()
            .filter_map(|t| normalize_name(&format!("{repo}:{t}")).ok())
            .collect();
        for name in &names {
            index.names.remove(name);
        }
        self.save_index(&index)?;
        drop(index);
        if let Some(catalog) = self.catalog.get() {
            for name in &names {
                catalog.remove(name)?;
            }
        }
        Ok(())
    }

    /// The tags of `repo`, sorted; `None` for a repository with none ever.
    pub fn tags(&self, repo: &str) -> Option<Vec<String>> {
        let index = self.index.lock().unwrap();
        index.registry.manifests.get(repo)?;
        Some(
            index
                .registry
                .tags
                .get(repo)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// Repositories holding manifests, sorted.
    pub fn repositories(&self) -> Vec<String> {
        let index = self.index.lock().unwrap();
        index
            .registry
            .manifests
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`,
    /// optionally only those of one artifact type.
    pub fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Vec<Value> {
        let index = self.index.lock().unwrap();
        let Some(manifests) = index.registry.manifests.get(repo) else {
            return Vec::new();
        };
        manifests
            .iter()
            .filter(|(_, e)| e.subject.as_ref() == Some(subject))
            .filter(|(_, e)| artifact_type.is_none() || e.artifact_type.as_deref() == artifact_type)
            .map(|(d, e)| {
                let mut desc = serde_json::json!({
                    "mediaType": e.media_type,
                    "digest": d,
                    "size": e.size,
                });
                if let Some(t) = &e.artifact_type {
                    desc["artifactType"] = t.clone().into();
                }
                if let Some(a) = &e.annotations {
                    desc["annotations"] = a.clone();
                }
                desc
            })
            .collect()
    }

    /// Removes manifests no tag reaches (directly, through an index, or as
    /// a referrer of one that is kept), then every blob nothing uses that
    /// is older than `grace` (a push in flight has uploaded but not yet
    /// referred to its blobs) and not pending in a repository.
    pub fn collect_garbage(&self, grace: Duration) -> Result<GarbageReport, ImageError> {
        let mut report = GarbageReport::default();
        let mut index = self.index.lock().unwrap();
        let tags = index.registry.tags.clone();
        for (repo, manifests) in index.registry.manifests.iter_mut() {
            let mut kept: BTreeSet<Digest> = tags
                .get(repo)
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default();
            loop {
                let before = kept.len();
                for (d, e) in manifests.iter() {
                    if kept.contains(d) {
                        let children: Vec<Digest> = e.manifests.clone();
                        kept.extend(children);
                    } else if e.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                        kept.insert(d.clone());
                    }
                }
                if kept.len() == before {
                    break;
                }
            }
            let before = manifests.len();
            manifests.retain(|d, _| kept.contains(d));
            report.manifests += before - manifests.len();
        }
        index.registry.manifests.retain(|_, m| !m.is_empty());
        let (images, _) = crate::images::collect_unused(&mut index);
        for id in &images {
            let _ = crate::unpack::remove_any(&self.root().join("rootfs").join(id.hex()));
        }
        let mut used: HashSet<Digest> = index
            .images
            .values()
            .flat_map(|i| std::iter::once(&i.id).chain(&i.layers))
            .chain(index.registry.referenced())
            .cloned()
            .collect();
        used.extend(self.pending.lock().unwrap().0.values().flatten().cloned());
        let known_diffs: Vec<Digest> = index.registry.diff_ids.keys().cloned().collect();
        for d in known_diffs {
            if !used.contains(&d) {
                index.registry.diff_ids.remove(&d);
            }
        }
        self.save_index(&index)?;
        drop(index);
        let dir = self.root().join("blobs/sha256");
        let now = std::time::SystemTime::now();
        for entry in std::fs::read_dir(&dir)
            .map_err(ImageError::read_path(&dir))?
            .flatten()
        {
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")))
            else {
                continue;
            };
            if used.contains(&digest) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let young = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age < grace);
            if young {
                continue;
            }
            if std::fs::remove_file(entry.path()).is_ok() {
                report.blobs += 1;
                report.bytes += meta.len();
            }
        }
        Ok(report)
    }
}

/// The repository part of a store name (`app/web` of `app/web:1`).
pub(crate) fn repository_of(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_repository_names_follow_the_spec() {
        assert_eq!(
            ManifestRef::parse("v1.0_x").unwrap(),
            ManifestRef::Tag("v1.0_x".into())
        );
        assert!(matches!(
            ManifestRef::parse(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            ManifestRef::Digest(_)
        ));
        assert!(ManifestRef::parse("sha256:xyz").is_err());
        assert!(ManifestRef::parse("-bad").is_err());
        assert!(ManifestRef::parse(&"t".repeat(129)).is_err());
        for ok in ["a", "app/web", "a.b-c_d/e0"] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in ["", "A", "app/", "/app", "app//web", "a/../b", "a/.b", "a:b"] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert_eq!(repository_of("app/web:1"), "app/web");
        assert_eq!(
            repository_of("localhost:5000/app/web"),
            "localhost:5000/app/web"
        );
    }
}
