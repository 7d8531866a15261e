//! Reading image archives: `docker save` / `skopeo copy docker-archive:`
//! tars (a `manifest.json` naming config and layers) and OCI image layout
//! tars (`oci-layout`, `index.json`, `blobs/sha256/...`).
//!
//! The archive is first unpacked into a staging directory (regular files
//! only, paths checked like layer paths), then read into an [`Unpacked`]
//! description whose digests [`crate::images`] verifies as it stores them.

use crate::digest::Digest;
use crate::images::ImageError;
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// One image found in an archive, its files still in the staging dir.
#[derive(Debug)]
pub(crate) struct ArchivedImage {
    /// Names the archive gives it (`RepoTags`, OCI `ref.name`).
    pub names: Vec<String>,
    pub config_path: PathBuf,
    /// The digest the archive claims for the config, when it names one.
    pub config_digest: Option<Digest>,
    pub layers: Vec<ArchivedLayer>,
}

#[derive(Debug)]
pub(crate) struct ArchivedLayer {
    pub path: PathBuf,
    /// The digest of the blob as stored (compressed), when the archive
    /// claims one (OCI descriptors, `blobs/sha256/` names).
    pub digest: Option<Digest>,
}

/// Unpacks the outer tar into `staging` (regular files and directories;
/// symlinks between layer files, as old `docker save` writes, resolved
/// by copy). Anything trying to leave `staging` is refused.
pub(crate) fn extract(archive: impl Read + 'static, staging: &Path) -> Result<(), ImageError> {
    let reader = crate::unpack::decompressed(archive).map_err(ImageError::read("the archive"))?;
    let mut tar = tar::Archive::new(reader);
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    let unreadable =
        |e: std::io::Error| ImageError::Invalid(format!("the archive is not a readable tar: {e}"));
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let rel = safe_relative(&raw)?;
        let Some(rel) = rel else { continue };
        let dest = staging.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                fs::create_dir_all(&dest).map_err(ImageError::write(&dest))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(ImageError::write(parent))?;
                }
                let mut file = fs::File::create(&dest).map_err(ImageError::write(&dest))?;
                std::io::copy(&mut entry, &mut file).map_err(ImageError::write(&dest))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    rel.parent().unwrap_or(Path::new("")).to_path_buf()
                } else {
                    PathBuf::new()
                };
                let joined = base.join(Path::new(std::str::from_utf8(&target).unwrap_or("")));
                let target = normalize_inside(&joined).ok_or_else(|| {
                    ImageError::Invalid(format!(
                        "archive entry {} links out of the archive",
                        rel.display()
                    ))
                })?;
                links.push((rel, target));
            }
            _ => {
                return Err(ImageError::Invalid(format!(
                    "archive entry {} is neither a file nor a directory",
                    rel.display()
                )));
            }
        }
    }
    for (link, target) in links {
        let dest = staging.join(&link);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(ImageError::write(parent))?;
        }
        fs::copy(staging.join(&target), &dest).map_err(|e| {
            ImageError::Invalid(format!(
                "archive entry {} links to {}: {e}",
                link.display(),
                target.display()
            ))
        })?;
    }
    Ok(())
}

fn safe_relative(raw: &[u8]) -> Result<Option<PathBuf>, ImageError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| ImageError::Invalid("archive entry name is not UTF-8".into()))?;
    let mut out = PathBuf::new();
    for c in Path::new(text).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(ImageError::Invalid(format!(
                    "archive entry {text:?} is absolute or contains `..`"
                )));
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Resolves `..` lexically; `None` if it climbs above the start.
fn normalize_inside(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.iter().collect())
}

fn read_json(path: &Path) -> Result<Value, ImageError> {
    let bytes = fs::read(path).map_err(ImageError::read_path(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ImageError::Invalid(format!("{} is not valid JSON: {e}", path.display())))
}

fn staged_file(staging: &Path, rel: &str) -> Result<PathBuf, ImageError> {
    let rel = safe_relative(rel.as_bytes())?
        .ok_or_else(|| ImageError::Invalid("empty file name in the archive's manifest".into()))?;
    Ok(staging.join(rel))
}

/// Reads what the staged archive holds.
pub(crate) fn describe(staging: &Path) -> Result<Vec<ArchivedImage>, ImageError> {
    if staging.join("manifest.json").is_file() {
        docker_archive(staging)
    } else if staging.join("index.json").is_file() {
        oci_layout(staging)
    } else {
        Err(ImageError::Invalid(
            "not an image archive: it has neither manifest.json (docker save) nor index.json \
             (OCI layout); for a plain rootfs tarball use `strato image import --rootfs FILE -t NAME`"
                .into(),
        ))
    }
}

fn docker_archive(staging: &Path) -> Result<Vec<ArchivedImage>, ImageError> {
    let manifest = read_json(&staging.join("manifest.json"))?;
    let entries = manifest
        .as_array()
        .ok_or_else(|| ImageError::Invalid("manifest.json is not a list".into()))?;
    let mut images = Vec::new();
    for entry in entries {
        let config = entry["Config"]
            .as_str()
            .ok_or_else(|| ImageError::Invalid("manifest.json entry without Config".into()))?;
        let names = entry["RepoTags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let layers = entry["Layers"]
            .as_array()
            .ok_or_else(|| ImageError::Invalid("manifest.json entry without Layers".into()))?
            .iter()
            .map(|l| {
                let rel = l
                    .as_str()
                    .ok_or_else(|| ImageError::Invalid("a layer name is not a string".into()))?;
                Ok(ArchivedLayer {
                    path: staged_file(staging, rel)?,
                    digest: digest_in_name(rel),
                })
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        images.push(ArchivedImage {
            names,
            config_path: staged_file(staging, config)?,
            config_digest: digest_in_name(config),
            layers,
        });
    }
    Ok(images)
}

/// `<hex>.json` (classic docker save) and `blobs/sha256/<hex>` (docker
/// 25+, OCI) name their content's digest.
fn digest_in_name(rel: &str) -> Option<Digest> {
    let base = rel.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    Digest::parse(&format!("sha256:{hex}"))
}

fn oci_layout(staging: &Path) -> Result<Vec<ArchivedImage>, ImageError> {
    let index = read_json(&staging.join("index.json"))?;
    let mut images = Vec::new();
    let empty = Vec::new();
    for descriptor in index["manifests"].as_array().unwrap_or(&empty) {
        let name = descriptor["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_string);
        let manifest = resolve_manifest(staging, descriptor, 0)?;
        let config = &manifest["config"];
        let config_digest = descriptor_digest(config)?;
        let layers = manifest["layers"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|l| {
                let digest = descriptor_digest(l)?;
                Ok(ArchivedLayer {
                    path: blob_path(staging, &digest),
                    digest: Some(digest),
                })
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        images.push(ArchivedImage {
            names: name.into_iter().collect(),
            config_path: blob_path(staging, &config_digest),
            config_digest: Some(config_digest),
            layers,
        });
    }
    if images.is_empty() {
        return Err(ImageError::Invalid("index.json lists no image".into()));
    }
    Ok(images)
}

pub(crate) fn descriptor_digest(descriptor: &Value) -> Result<Digest, ImageError> {
    descriptor["digest"]
        .as_str()
        .and_then(Digest::parse)
        .ok_or_else(|| {
            ImageError::Invalid(format!(
                "descriptor without a valid sha256 digest: {descriptor}"
            ))
        })
}

fn blob_path(staging: &Path, digest: &Digest) -> PathBuf {
    staging.join("blobs/sha256").join(digest.hex())
}

/// Reads a manifest blob, checking its digest, and descends through image
/// indexes (multi-platform images) to the linux/amd64 manifest.
fn resolve_manifest(staging: &Path, descriptor: &Value, depth: u32) -> Result<Value, ImageError> {
    if depth > 4 {
        return Err(ImageError::Invalid("image indexes nest too deeply".into()));
    }
    let digest = descriptor_digest(descriptor)?;
    let bytes = fs::read(blob_path(staging, &digest)).map_err(|e| {
        ImageError::Invalid(format!("the archive lacks blob {digest} it refers to: {e}"))
    })?;
    let actual = Digest::of_bytes(&bytes);
    if actual != digest {
        return Err(ImageError::DigestMismatch {
            what: "manifest".into(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ImageError::Invalid(format!("manifest {digest} is not JSON: {e}")))?;
    match manifest.get("manifests").and_then(Value::as_array) {
        Some(list) => {
            let chosen = pick_platform(list).ok_or_else(|| {
                ImageError::Invalid(format!("image index {digest} has no linux/amd64 image"))
            })?;
            resolve_manifest(staging, chosen, depth + 1)
        }
        None => Ok(manifest),
    }
}

/// The linux/amd64 entry of an image index, or the only entry.
pub(crate) fn pick_platform(list: &[Value]) -> Option<&Value> {
    let arch = std::env::consts::ARCH;
    let want = if arch == "x86_64" { "amd64" } else { arch };
    list.iter()
        .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == want)
        .or_else(|| (list.len() == 1).then(|| &list[0]))
}

/// Names `config.rootfs.diff_ids` lists, in order.
pub(crate) fn diff_ids(config: &Value) -> Result<Vec<Digest>, ImageError> {
    let empty = Vec::new();
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|d| {
            d.as_str()
                .and_then(Digest::parse)
                .ok_or_else(|| ImageError::Invalid(format!("config lists a bad diff_id {d}")))
        })
        .collect()
}

/// The file holding each staged path, for callers that want to read it.
pub(crate) fn open(path: &Path) -> Result<fs::File, ImageError> {
    fs::File::open(path).map_err(|e| {
        ImageError::Invalid(format!(
            "the archive lacks {} it refers to: {e}",
            path.display()
        ))
    })
}

/// Maps names the archive uses twice to one image, keeping order.
pub(crate) fn dedupe_names(names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect()
}
