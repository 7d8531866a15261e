//! Applying image layers to a directory, safely.
//!
//! A layer is a tar stream (plain, gzip or zstd) of the files a build step
//! added or changed, with whiteouts for what it removed: `.wh.NAME` deletes
//! NAME, `.wh..wh..opq` hides everything lower layers put in its directory.
//! Layers come from strangers, so every entry is checked before it touches
//! the disk: no absolute paths, no `..`, never a write through a symlink
//! that leads out of the rootfs (symlinks themselves are stored verbatim:
//! inside the container `/etc/alternatives/x` means the image's own file),
//! hard links only to files of the rootfs, device nodes skipped.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Why a layer could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {entry:?} refused: {why}")]
    Refused { entry: String, why: String },
    #[error("reading the layer: {0}")]
    Read(#[source] io::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// How a layer blob is compressed, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Opens a (possibly compressed) layer for reading its tar stream.
pub fn decompressed(reader: impl Read + 'static) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let head = reader.fill_buf()?;
    Ok(match detect(head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Compression::None => Box::new(reader),
    })
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Applies one uncompressed layer tar stream on top of `root`.
pub fn apply_layer(root: &Path, tar_stream: impl Read) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(tar_stream);
    // Paths this layer wrote, so an opaque marker that comes after some of
    // the directory's new entries hides only what lower layers put there.
    let mut written: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |why: &str| UnpackError::Refused {
            entry: shown.clone(),
            why: why.to_string(),
        };
        let Some(rel) = clean_relative(&raw).map_err(&refuse)? else {
            continue; // the layer's root directory itself
        };
        let name = rel.file_name().unwrap_or_default().as_bytes().to_vec();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = resolve_dir(root, &parent_rel, true).map_err(|why| refuse(&why))?;
        if name == b".wh..wh..opq" {
            hide_lower_entries(&parent, &parent_rel, &written).map_err(write_err(&parent))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(b".wh.") {
            let target = parent.join(OsStr::from_bytes(hidden));
            remove_any(&target).map_err(write_err(&target))?;
            continue;
        }
        let dest = parent.join(OsStr::from_bytes(&name));
        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let kind = header.entry_type();
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_any(&dest).map_err(write_err(&dest))?;
                        fs::create_dir(&dest).map_err(write_err(&dest))?;
                    }
                    Err(_) => fs::create_dir(&dest).map_err(write_err(&dest))?,
                }
                set_owner_and_mode(&dest, uid, gid, Some(mode))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_any(&dest).map_err(write_err(&dest))?;
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .map_err(write_err(&dest))?;
                io::copy(&mut entry, &mut file).map_err(write_err(&dest))?;
                drop(file);
                set_owner_and_mode(&dest, uid, gid, Some(mode))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse("symlink without a target"))?
                    .into_owned();
                remove_any(&dest).map_err(write_err(&dest))?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dest)
                    .map_err(write_err(&dest))?;
                set_owner_and_mode(&dest, uid, gid, None)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse("hard link without a target"))?
                    .into_owned();
                let target_rel = clean_relative(&target)
                    .map_err(|why| refuse(&format!("hard link target: {why}")))?
                    .ok_or_else(|| refuse("hard link to the root directory"))?;
                let target_parent =
                    resolve_dir(root, target_rel.parent().unwrap_or(Path::new("")), false)
                        .map_err(|why| refuse(&format!("hard link target: {why}")))?;
                let source = target_parent.join(target_rel.file_name().unwrap_or_default());
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_dir() => return Err(refuse("hard link to a directory")),
                    Ok(_) => {}
                    Err(_) => return Err(refuse("hard link to a file the layers do not have")),
                }
                remove_any(&dest).map_err(write_err(&dest))?;
                fs::hard_link(&source, &dest).map_err(write_err(&dest))?;
            }
            tar::EntryType::Fifo => {
                remove_any(&dest).map_err(write_err(&dest))?;
                let c = std::ffi::CString::new(dest.as_os_str().as_bytes())
                    .map_err(|_| refuse("NUL in path"))?;
                // SAFETY: `c` is a valid NUL-terminated path.
                if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } != 0 {
                    return Err(write_err(&dest)(io::Error::last_os_error()));
                }
                set_owner_and_mode(&dest, uid, gid, Some(mode))?;
            }
            // Device nodes would give a container a door to the host's
            // hardware; the runtime creates the standard ones itself.
            tar::EntryType::Char | tar::EntryType::Block => continue,
            // Metadata records (pax, GNU long names) are consumed by the tar
            // reader; anything else has no place in a rootfs.
            _ => continue,
        }
        written.insert(rel);
    }
    Ok(())
}

fn write_err(path: &Path) -> impl Fn(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// The entry's path relative to the rootfs, `None` for the root itself;
/// refuses absolute paths and `..`.
fn clean_relative(raw: &[u8]) -> Result<Option<PathBuf>, &'static str> {
    if raw.contains(&0) {
        return Err("NUL in path");
    }
    let path = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute path (layer paths must be relative)");
            }
            Component::ParentDir => return Err("`..` in path (it could escape the rootfs)"),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// The real directory for `rel` under `root`, with every symlink on the
/// way followed inside the rootfs. A symlink that points out of it
/// (absolute, or climbing above the root) is refused: writing through it
/// would write to the host. Missing directories are created when `create`.
fn resolve_dir(root: &Path, rel: &Path, create: bool) -> Result<PathBuf, String> {
    let mut parts: Vec<PathBuf> = Vec::new(); // resolved components under root
    let mut pending: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if parts.pop().is_none() {
                return Err("a symlink on its path climbs out of the rootfs".into());
            }
            continue;
        }
        if part == "." || part.is_empty() {
            continue;
        }
        let here: PathBuf = parts.iter().collect::<PathBuf>().join(&part);
        let full = root.join(&here);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err("too many levels of symbolic links".into());
                }
                let target = fs::read_link(&full).map_err(|e| e.to_string())?;
                if target.is_absolute() {
                    return Err(format!(
                        "it would be written through the symlink {} -> {}, which points out of the rootfs",
                        here.display(),
                        target.display()
                    ));
                }
                for c in target.components().rev() {
                    pending.push(c.as_os_str().to_os_string());
                }
            }
            Ok(m) if m.is_dir() => parts.push(PathBuf::from(&part)),
            Ok(_) => return Err(format!("{} is not a directory", here.display())),
            Err(_) if create => {
                fs::create_dir(&full).map_err(|e| format!("creating {}: {e}", here.display()))?;
                parts.push(PathBuf::from(&part));
            }
            Err(_) => return Err(format!("{} does not exist", here.display())),
        }
    }
    Ok(root.join(parts.iter().collect::<PathBuf>()))
}

/// Removes whatever is at `path` (never following a symlink); fine if
/// nothing is there.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// An opaque directory: removes the children lower layers put in `dir`,
/// keeping what this layer already wrote there.
fn hide_lower_entries(dir: &Path, dir_rel: &Path, written: &HashSet<PathBuf>) -> io::Result<()> {
    for child in fs::read_dir(dir)? {
        let child = child?;
        let rel = dir_rel.join(child.file_name());
        let keep = written.iter().any(|w| w.starts_with(&rel));
        if !keep {
            remove_any(&child.path())?;
        }
    }
    Ok(())
}

fn set_owner_and_mode(
    path: &Path,
    uid: u32,
    gid: u32,
    mode: Option<u32>,
) -> Result<(), UnpackError> {
    // Ownership matters inside the image (a daemon's user owning its
    // directories); lchown never follows the link it is given.
    if let Err(e) = std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        && e.raw_os_error() != Some(libc::EPERM)
    {
        return Err(write_err(path)(e));
    }
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(write_err(path))?;
    }
    Ok(())
}

/// Copies a directory tree (the fallback when overlayfs is unavailable):
/// files, symlinks, modes and owners; device nodes are not copied.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    fs::create_dir_all(to)?;
    fs::set_permissions(to, meta.permissions())?;
    let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let m = fs::symlink_metadata(&src)?;
        let kind = m.file_type();
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
            let _ = std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()));
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
            let _ = std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()));
            fs::set_permissions(&dst, m.permissions())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, body).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(kind);
        b.append_link(&mut h, path, target).unwrap();
    }

    /// Writes a raw ustar header with a name the tar builder would refuse.
    fn raw_file(b: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, body).unwrap();
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_files() {
        let root = tempfile::tempdir().unwrap();
        let lower = layer(|b| {
            file(b, "etc/keep", b"k");
            file(b, "etc/gone", b"g");
            file(b, "var/cache/a", b"a");
            file(b, "var/cache/b", b"b");
        });
        let upper = layer(|b| {
            file(b, "etc/.wh.gone", b"");
            file(b, "var/cache/new", b"n");
            file(b, "var/cache/.wh..wh..opq", b"");
        });
        apply_layer(root.path(), &lower[..]).unwrap();
        apply_layer(root.path(), &upper[..]).unwrap();
        let r = root.path();
        assert!(r.join("etc/keep").exists());
        assert!(!r.join("etc/gone").exists());
        assert!(!r.join("var/cache/a").exists());
        assert!(!r.join("var/cache/b").exists());
        assert_eq!(fs::read(r.join("var/cache/new")).unwrap(), b"n");
    }

    #[test]
    fn parent_dir_and_absolute_paths_are_refused() {
        for name in ["../escape", "a/../../escape", "/etc/escape"] {
            let root = tempfile::tempdir().unwrap();
            let t = layer(|b| raw_file(b, name, b"x"));
            let err = apply_layer(root.path(), &t[..]).unwrap_err();
            assert!(matches!(err, UnpackError::Refused { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn writing_through_a_symlink_out_of_the_rootfs_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let t = layer(|b| {
            link(
                b,
                tar::EntryType::Symlink,
                "evil",
                outside.path().to_str().unwrap(),
            );
            file(b, "evil/pwned", b"x");
        });
        let err = apply_layer(root.path(), &t[..]).unwrap_err().to_string();
        assert!(err.contains("points out of the rootfs"), "{err}");
        assert!(!outside.path().join("pwned").exists());
        let climb = layer(|b| {
            link(b, tar::EntryType::Symlink, "up", "../../../../..");
            file(b, "up/tmp/pwned", b"x");
        });
        let root = tempfile::tempdir().unwrap();
        let err = apply_layer(root.path(), &climb[..])
            .unwrap_err()
            .to_string();
        assert!(err.contains("climbs out"), "{err}");
    }

    #[test]
    fn relative_symlinks_inside_the_rootfs_are_followed_and_kept_verbatim() {
        let root = tempfile::tempdir().unwrap();
        let t = layer(|b| {
            file(b, "usr/bin/tool", b"t");
            link(b, tar::EntryType::Symlink, "bin", "usr/bin");
            file(b, "bin/other", b"o");
            link(b, tar::EntryType::Symlink, "etc/alt", "/usr/bin/tool");
        });
        apply_layer(root.path(), &t[..]).unwrap();
        assert_eq!(fs::read(root.path().join("usr/bin/other")).unwrap(), b"o");
        assert_eq!(
            fs::read_link(root.path().join("etc/alt")).unwrap(),
            Path::new("/usr/bin/tool")
        );
    }

    #[test]
    fn hard_links_must_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        let ok = layer(|b| {
            file(b, "a", b"data");
            link(b, tar::EntryType::Link, "b", "a");
        });
        apply_layer(root.path(), &ok[..]).unwrap();
        assert_eq!(fs::read(root.path().join("b")).unwrap(), b"data");
        for target in ["/etc/passwd", "../outside"] {
            let root = tempfile::tempdir().unwrap();
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_old();
            h.set_entry_type(tar::EntryType::Link);
            h.as_old_mut().name[..4].copy_from_slice(b"copy");
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
            let t = b.into_inner().unwrap();
            let err = apply_layer(root.path(), &t[..]).unwrap_err();
            assert!(
                matches!(err, UnpackError::Refused { .. }),
                "{target}: {err}"
            );
        }
    }

    #[test]
    fn device_nodes_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        let t = layer(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Block);
            h.set_size(0);
            h.set_device_major(8).unwrap();
            h.set_device_minor(0).unwrap();
            b.append_data(&mut h, "dev/sda", &[][..]).unwrap();
            file(b, "ok", b"1");
        });
        apply_layer(root.path(), &t[..]).unwrap();
        assert!(!root.path().join("dev/sda").exists());
        assert!(root.path().join("ok").exists());
    }

    #[test]
    fn compression_is_detected_from_magic_bytes() {
        let t = layer(|b| file(b, "f", b"zz"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&t[..], 1).unwrap();
        assert_eq!(detect(&gz), Compression::Gzip);
        assert_eq!(detect(&zst), Compression::Zstd);
        assert_eq!(detect(&t), Compression::None);
        for blob in [gz, zst, t] {
            let root = tempfile::tempdir().unwrap();
            let r = decompressed(io::Cursor::new(blob)).unwrap();
            apply_layer(root.path(), r).unwrap();
            assert_eq!(fs::read(root.path().join("f")).unwrap(), b"zz");
        }
    }
}
