//! The image store: content-addressed blobs, an index of names, and
//! unpacked rootfs directories shared by every run of an image.
//!
//! Layout under its root (`<data-dir>/images`):
//! - `blobs/sha256/<hex>`: configs and layers as received, each stored
//!   once however many images share it, named by its verified digest;
//! - `index.json`: names -> image ids, and per id its config and layers;
//! - `rootfs/<id-hex>/`: the image's layers applied in order, read-only
//!   to runs (each run gets an overlay on top);
//! - `tmp/`: staging for imports, emptied at start.

use crate::archive::{self, ArchivedImage};
use crate::catalog::ImageCatalog;
use crate::digest::{Digest, copy_hashed};
use crate::unpack::{self, UnpackError, remove_any};
use crate::{now_ms, unique_suffix};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {0} not found (import it with `strato image import` or `strato image pull`)")]
    NotFound(String),
    #[error("bad image: {0}")]
    Invalid(String),
    #[error("{what} digest mismatch: expected {expected}, content is {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error(
        "bad image name {0:?}: use lowercase letters, digits and . _ - / with an optional :tag"
    )]
    BadName(String),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("registry: {0}")]
    Registry(String),
    /// The cluster's shared names or blobs failed (see `ImageCatalog`).
    #[error("the cluster's images: {0}")]
    Catalog(String),
    #[error("{0}")]
    Build(String),
}

impl ImageError {
    pub(crate) fn read(what: &str) -> impl Fn(io::Error) -> ImageError + '_ {
        move |source| ImageError::Read {
            what: what.to_string(),
            source,
        }
    }
    pub(crate) fn read_path(path: &Path) -> impl Fn(io::Error) -> ImageError + '_ {
        move |source| ImageError::Read {
            what: path.display().to_string(),
            source,
        }
    }
    pub(crate) fn write(path: &Path) -> impl Fn(io::Error) -> ImageError + '_ {
        move |source| ImageError::Write {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What a run needs from an image's config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// One stored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The config's digest: the image id.
    pub id: Digest,
    pub layers: Vec<Digest>,
    pub config: ImageConfig,
    /// Bytes of its blobs (compressed layers plus config).
    pub size: u64,
    pub created_ms: i64,
}

/// A name and the image it points at (one line of `strato image ls`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageSummary {
    pub name: String,
    pub id: String,
    pub size: u64,
    pub layers: usize,
    pub created_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Index {
    pub(crate) names: BTreeMap<String, Digest>,
    pub(crate) images: BTreeMap<Digest, ImageInfo>,
    /// Manifests and tags pushed to Strato's registry.
    #[serde(default)]
    pub(crate) registry: crate::registry::RegistryIndex,
}

/// Images on local disk. Cheap to share; methods block (call them from
/// `spawn_blocking`).
///
/// With an [`ImageCatalog`] (a cluster), names live in the catalog and
/// blobs in the cluster's shared blobs; this store is then the node's
/// cache of them, keyed by digest and filled on first use (see
/// `catalog.rs`).
pub struct ImageStore {
    root: PathBuf,
    pub(crate) index: Mutex<Index>,
    /// Held while a rootfs is being unpacked, so two runs of a missing
    /// rootfs don't unpack it twice.
    unpacking: Mutex<()>,
    /// Held while an image is fetched from the catalog, likewise.
    pub(crate) fetching: Mutex<()>,
    pub(crate) catalog: OnceLock<Arc<dyn ImageCatalog>>,
    /// Registry blobs pushed into a repository and not yet in a manifest.
    pub(crate) pending: Mutex<crate::registry::Pending>,
    /// `host:port/` prefixes naming Strato's own registry, stripped when
    /// resolving, so a manifest may say what `docker push` said.
    pub(crate) own_registry: OnceLock<Vec<String>>,
}

impl ImageStore {
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for dir in ["blobs/sha256", "rootfs", "tmp"] {
            fs::create_dir_all(root.join(dir)).map_err(ImageError::write(root))?;
        }
        // Staging left by an import that did not finish.
        if let Ok(entries) = fs::read_dir(root.join("tmp")) {
            for e in entries.flatten() {
                let _ = remove_any(&e.path());
            }
        }
        let index_path = root.join("index.json");
        let index = match fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ImageError::Invalid(format!("{} is corrupt: {e}", index_path.display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(ImageError::read_path(&index_path)(e)),
        };
        Ok(ImageStore {
            root: root.to_path_buf(),
            index: Mutex::new(index),
            unpacking: Mutex::new(()),
            fetching: Mutex::new(()),
            catalog: OnceLock::new(),
            pending: Mutex::default(),
            own_registry: OnceLock::new(),
        })
    }

    /// A fresh path under the store's staging dir for an upload or a
    /// pull (removed at the next start if left behind).
    pub fn staging_path(&self, what: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{what}-{}", unique_suffix()))
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub(crate) fn staging_dir(&self, what: &str) -> Result<tempdir::Staging, ImageError> {
        tempdir::Staging::new(&self.root.join("tmp"), what)
    }

    /// Imports every image of a `docker save` or OCI archive. `tag`, when
    /// given, names the (single) image instead of the archive's names.
    pub fn import_archive(
        &self,
        archive: impl Read + 'static,
        tag: Option<&str>,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let staging = self.staging_dir("import")?;
        archive::extract(archive, staging.path())?;
        let images = archive::describe(staging.path())?;
        if tag.is_some() && images.len() != 1 {
            return Err(ImageError::Invalid(format!(
                "the archive holds {} images; -t names exactly one",
                images.len()
            )));
        }
        let mut out = Vec::new();
        for image in images {
            let names = match tag {
                Some(t) => vec![t.to_string()],
                None => archive::dedupe_names(image.names.clone()),
            };
            if names.is_empty() {
                return Err(ImageError::Invalid(
                    "the archive does not name its image; pass -t NAME".into(),
                ));
            }
            let names = names
                .iter()
                .map(|n| normalize_name(n))
                .collect::<Result<Vec<_>, _>>()?;
            let info = self.store_archived(&image)?;
            out.extend(self.commit(info, &names)?);
        }
        Ok(out)
    }

    /// Imports a plain rootfs tarball (plain, gzip or zstd) as a
    /// one-layer image, as `docker import` does.
    pub fn import_rootfs(
        &self,
        tarball: impl Read,
        name: &str,
        config: ImageConfig,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let name = normalize_name(name)?;
        let staging = self.staging_dir("rootfs")?;
        let layer_path = staging.path().join("layer");
        let file = fs::File::create(&layer_path).map_err(ImageError::write(&layer_path))?;
        let (digest, size) = copy_hashed(tarball, io::BufWriter::new(file))
            .map_err(ImageError::read("the tarball"))?;
        let diff_id = diff_id_of(&layer_path)?;
        let config_json = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": config.entrypoint,
                "Cmd": config.cmd,
                "Env": config.env,
                "WorkingDir": config.working_dir,
                "User": config.user,
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id.as_str()]},
        });
        let config_bytes = serde_json::to_vec(&config_json).expect("json serializes");
        let id = Digest::of_bytes(&config_bytes);
        self.put_blob_bytes(&id, &config_bytes)?;
        self.put_blob_file(&digest, &layer_path)?;
        let info = ImageInfo {
            id,
            layers: vec![digest],
            config,
            size: size + config_bytes.len() as u64,
            created_ms: now_ms(),
        };
        self.commit(info, &[name])
    }

    /// Verifies an archived image's digests and moves its blobs in.
    fn store_archived(&self, image: &ArchivedImage) -> Result<ImageInfo, ImageError> {
        let config_bytes = fs::read(&image.config_path).map_err(|e| {
            ImageError::Invalid(format!(
                "the archive lacks its config {}: {e}",
                image.config_path.display()
            ))
        })?;
        let id = Digest::of_bytes(&config_bytes);
        if let Some(claimed) = &image.config_digest
            && *claimed != id
        {
            return Err(ImageError::DigestMismatch {
                what: "image config".into(),
                expected: claimed.to_string(),
                actual: id.to_string(),
            });
        }
        let config: Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| ImageError::Invalid(format!("image config is not JSON: {e}")))?;
        let diff_ids = archive::diff_ids(&config)?;
        if diff_ids.len() != image.layers.len() {
            return Err(ImageError::Invalid(format!(
                "the manifest lists {} layers but the config {} diff_ids",
                image.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        let mut size = config_bytes.len() as u64;
        for (layer, diff_id) in image.layers.iter().zip(&diff_ids) {
            let (digest, blob_size) = copy_hashed(archive::open(&layer.path)?, io::sink())
                .map_err(ImageError::read("a layer"))?;
            if let Some(claimed) = &layer.digest
                && *claimed != digest
            {
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {}", layer.path.display()),
                    expected: claimed.to_string(),
                    actual: digest.to_string(),
                });
            }
            let actual_diff = diff_id_of(&layer.path)?;
            if actual_diff != *diff_id {
                return Err(ImageError::DigestMismatch {
                    what: "layer content (diff_id)".into(),
                    expected: diff_id.to_string(),
                    actual: actual_diff.to_string(),
                });
            }
            self.put_blob_file(&digest, &layer.path)?;
            size += blob_size;
            layers.push(digest);
        }
        self.put_blob_bytes(&id, &config_bytes)?;
        Ok(ImageInfo {
            id,
            layers,
            config: image_config(&config),
            size,
            created_ms: now_ms(),
        })
    }

    /// Stores a blob fetched elsewhere (registry pulls), verifying it.
    pub(crate) fn put_verified_blob(
        &self,
        expected: &Digest,
        path: &Path,
    ) -> Result<u64, ImageError> {
        let (digest, size) =
            copy_hashed(archive::open(path)?, io::sink()).map_err(ImageError::read("a blob"))?;
        if digest != *expected {
            return Err(ImageError::DigestMismatch {
                what: "blob".into(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        self.put_blob_file(&digest, path)?;
        Ok(size)
    }

    pub(crate) fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub(crate) fn blob(&self, digest: &Digest) -> Result<fs::File, ImageError> {
        let path = self.blob_path(digest);
        fs::File::open(&path).map_err(ImageError::read_path(&path))
    }

    /// Registers a pulled image whose blobs are already stored.
    pub(crate) fn register(
        &self,
        config_bytes: &[u8],
        layers: Vec<Digest>,
        name: &str,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let name = normalize_name(name)?;
        let id = Digest::of_bytes(config_bytes);
        let config: Value = serde_json::from_slice(config_bytes)
            .map_err(|e| ImageError::Invalid(format!("image config is not JSON: {e}")))?;
        let diff_ids = archive::diff_ids(&config)?;
        if diff_ids.len() != layers.len() {
            return Err(ImageError::Invalid(
                "layer count and diff_ids differ".into(),
            ));
        }
        for (layer, diff_id) in layers.iter().zip(&diff_ids) {
            let actual = diff_id_of(&self.blob_path(layer))?;
            if actual != *diff_id {
                return Err(ImageError::DigestMismatch {
                    what: "layer content (diff_id)".into(),
                    expected: diff_id.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        self.put_blob_bytes(&id, config_bytes)?;
        let size = layers
            .iter()
            .map(|l| {
                fs::metadata(self.blob_path(l))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum::<u64>()
            + config_bytes.len() as u64;
        let info = ImageInfo {
            id,
            layers,
            config: image_config(&config),
            size,
            created_ms: now_ms(),
        };
        self.commit(info, &[name])
    }

    /// Unpacks the image (refusing bad layers before any name points at
    /// it), then records it under `names`, here and in the catalog.
    fn commit(&self, info: ImageInfo, names: &[String]) -> Result<Vec<ImageSummary>, ImageError> {
        let summaries = self.commit_local(info.clone(), names)?;
        self.publish(&info, names)?;
        Ok(summaries)
    }

    /// [`ImageStore::commit`] on this node only.
    pub(crate) fn commit_local(
        &self,
        info: ImageInfo,
        names: &[String],
    ) -> Result<Vec<ImageSummary>, ImageError> {
        self.ensure_rootfs(&info)?;
        let mut index = self.index.lock().unwrap();
        index.images.insert(info.id.clone(), info.clone());
        for name in names {
            index.names.insert(name.clone(), info.id.clone());
            // The name is no longer what was pushed under it.
            untag(&mut index, name);
        }
        self.save_index(&index)?;
        let removed = collect_unused(&mut index);
        drop(index);
        self.delete_unused(removed);
        Ok(names.iter().map(|name| summary(name, &info)).collect())
    }

    pub(crate) fn save_index(&self, index: &Index) -> Result<(), ImageError> {
        let path = self.root.join("index.json");
        let tmp = self.root.join("index.json.tmp");
        let bytes = serde_json::to_vec_pretty(index).expect("index serializes");
        let mut f = fs::File::create(&tmp).map_err(ImageError::write(&tmp))?;
        f.write_all(&bytes).map_err(ImageError::write(&tmp))?;
        f.sync_all().map_err(ImageError::write(&tmp))?;
        fs::rename(&tmp, &path).map_err(ImageError::write(&path))?;
        Ok(())
    }

    pub(crate) fn list_local(&self) -> Vec<ImageSummary> {
        let index = self.index.lock().unwrap();
        index
            .names
            .iter()
            .filter_map(|(name, id)| index.images.get(id).map(|info| summary(name, info)))
            .collect()
    }

    /// The image a local name (or an id, or an id prefix of 12+ digits)
    /// refers to.
    pub(crate) fn resolve_local(&self, name: &str, by_name: bool) -> Result<ImageInfo, ImageError> {
        let index = self.index.lock().unwrap();
        if by_name
            && let Ok(normal) = normalize_name(name)
            && let Some(info) = index.names.get(&normal).and_then(|id| index.images.get(id))
        {
            return Ok(info.clone());
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 12 {
            let found: Vec<_> = index
                .images
                .values()
                .filter(|i| i.id.hex().starts_with(hex))
                .collect();
            if found.len() == 1 {
                return Ok(found[0].clone());
            }
        }
        Err(ImageError::NotFound(name.to_string()))
    }

    /// Removes a local name; the image's blobs and rootfs go when no name
    /// is left pointing at it (layers shared with other images stay).
    pub(crate) fn remove_local(&self, name: &str) -> Result<(), ImageError> {
        let mut index = self.index.lock().unwrap();
        let normal = normalize_name(name)?;
        if index.names.remove(&normal).is_none() {
            return Err(ImageError::NotFound(name.to_string()));
        }
        untag(&mut index, &normal);
        self.save_index(&index)?;
        let removed = collect_unused(&mut index);
        drop(index);
        self.delete_unused(removed);
        Ok(())
    }

    fn delete_unused(&self, (images, blobs): (Vec<Digest>, Vec<Digest>)) {
        for id in images {
            let _ = remove_any(&self.root.join("rootfs").join(id.hex()));
        }
        for blob in blobs {
            let _ = fs::remove_file(self.blob_path(&blob));
        }
    }

    /// The image's unpacked rootfs, unpacking it first if it is missing.
    pub fn rootfs(&self, info: &ImageInfo) -> Result<PathBuf, ImageError> {
        self.ensure_rootfs(info)
    }

    fn ensure_rootfs(&self, info: &ImageInfo) -> Result<PathBuf, ImageError> {
        let dir = self.root.join("rootfs").join(info.id.hex());
        if dir.is_dir() {
            return Ok(dir);
        }
        let _guard = self.unpacking.lock().unwrap();
        if dir.is_dir() {
            return Ok(dir);
        }
        let staging = self.staging_dir("rootfs")?;
        let target = staging.path().join("rootfs");
        fs::create_dir(&target).map_err(ImageError::write(&target))?;
        fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(ImageError::write(&target))?;
        for layer in &info.layers {
            let reader =
                unpack::decompressed(self.blob(layer)?).map_err(ImageError::read("a layer"))?;
            unpack::apply_layer(&target, reader)?;
        }
        fs::rename(&target, &dir).map_err(ImageError::write(&dir))?;
        Ok(dir)
    }
}

/// Removes the registry's tag of a store name, if it has one.
fn untag(index: &mut Index, name: &str) {
    let repo = crate::registry::repository_of(name);
    if let Some(tags) = index.registry.tags.get_mut(repo) {
        tags.remove(&name[repo.len() + 1..]);
    }
}

/// Images no name or manifest points at, and blobs no remaining image or
/// manifest uses.
pub(crate) fn collect_unused(index: &mut Index) -> (Vec<Digest>, Vec<Digest>) {
    let used: std::collections::HashSet<&Digest> = index
        .names
        .values()
        .chain(index.registry.images())
        .collect();
    let gone: Vec<Digest> = index
        .images
        .keys()
        .filter(|id| !used.contains(id))
        .cloned()
        .collect();
    let mut blobs = Vec::new();
    let mut removed = Vec::new();
    for id in gone {
        if let Some(info) = index.images.remove(&id) {
            blobs.push(info.id.clone());
            blobs.extend(info.layers.clone());
            removed.push(id);
        }
    }
    let still: std::collections::HashSet<&Digest> = index
        .images
        .values()
        .flat_map(|i| i.layers.iter().chain(std::iter::once(&i.id)))
        .chain(index.registry.referenced())
        .collect();
    blobs.retain(|b| !still.contains(b));
    (removed, blobs)
}

pub(crate) fn summary(name: &str, info: &ImageInfo) -> ImageSummary {
    ImageSummary {
        name: name.to_string(),
        id: info.id.short().to_string(),
        size: info.size,
        layers: info.layers.len(),
        created_ms: info.created_ms,
    }
}

impl ImageStore {
    pub(crate) fn put_blob_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<(), ImageError> {
        let path = self.blob_path(digest);
        if path.is_file() {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes).map_err(ImageError::write(&tmp))?;
        fs::rename(&tmp, &path).map_err(ImageError::write(&path))
    }

    /// Moves a verified staged file in (a layer shared with a stored
    /// image is already there and is not written twice).
    pub(crate) fn put_blob_file(&self, digest: &Digest, staged: &Path) -> Result<(), ImageError> {
        let path = self.blob_path(digest);
        if path.is_file() {
            return Ok(());
        }
        fs::File::open(staged)
            .and_then(|f| f.sync_all())
            .map_err(ImageError::write(staged))?;
        match fs::rename(staged, &path) {
            Ok(()) => Ok(()),
            // The same layer listed twice in one archive: moved already.
            Err(_) if path.is_file() => Ok(()),
            Err(e) => Err(ImageError::write(&path)(e)),
        }
    }
}

/// The digest of a layer's uncompressed tar stream (its diff_id).
fn diff_id_of(path: &Path) -> Result<Digest, ImageError> {
    let reader = unpack::decompressed(archive::open(path)?).map_err(ImageError::read("a layer"))?;
    copy_hashed(reader, io::sink())
        .map(|(d, _)| d)
        .map_err(ImageError::read("a layer"))
}

pub(crate) fn image_config(config: &Value) -> ImageConfig {
    let c = &config["config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    ImageConfig {
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        env: strings(&c["Env"]),
        working_dir: c["WorkingDir"].as_str().unwrap_or("").to_string(),
        user: c["User"].as_str().unwrap_or("").to_string(),
    }
}

/// `name` with `:latest` added when it has no tag; refuses characters a
/// registry reference cannot hold.
pub fn normalize_name(name: &str) -> Result<String, ImageError> {
    let bad = || ImageError::BadName(name.to_string());
    if name.is_empty() || name.len() > 255 {
        return Err(bad());
    }
    let (repo, tag) = match name.rsplit_once(':') {
        // A colon before the last slash is a registry port, not a tag.
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, "latest"),
    };
    let repo_ok = !repo.is_empty()
        && !repo.starts_with(['/', '.', '-'])
        && !repo.contains("..")
        && repo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !repo_ok || !tag_ok {
        return Err(bad());
    }
    Ok(format!("{repo}:{tag}"))
}

mod tempdir {
    use super::ImageError;
    use std::path::{Path, PathBuf};

    /// A staging directory under the store's `tmp/`, removed when dropped.
    pub struct Staging(PathBuf);

    impl Staging {
        pub fn new(parent: &Path, what: &str) -> Result<Staging, ImageError> {
            let dir = parent.join(format!("{what}-{}", crate::unique_suffix()));
            std::fs::create_dir_all(&dir).map_err(ImageError::write(&dir))?;
            Ok(Staging(dir))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Staging {
        fn drop(&mut self) {
            let _ = super::remove_any(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_latest_and_bad_ones_are_refused() {
        assert_eq!(normalize_name("busybox").unwrap(), "busybox:latest");
        assert_eq!(
            normalize_name("thumbnailer/ffmpeg:1").unwrap(),
            "thumbnailer/ffmpeg:1"
        );
        assert_eq!(
            normalize_name("localhost:5000/a/b").unwrap(),
            "localhost:5000/a/b:latest"
        );
        for bad in ["", "UPPER", "../x", "a b", "a:b c", "-x"] {
            assert!(normalize_name(bad).is_err(), "{bad}");
        }
    }
}
