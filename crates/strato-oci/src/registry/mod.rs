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

mod gc;
mod manifests;

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
