//! Packaging a Lambda function's `code` directory as a deploy ships it:
//! one tar whose bytes depend only on the tree (entries sorted, times,
//! owners and names of owners zeroed, modes kept so a `bootstrap` stays
//! executable), so its SHA-256 names the code like a component's hash.

use sha2::{Digest, Sha256};
use std::path::Path;

/// Largest code tree a function may ship, as AWS's unzipped limit.
pub const MAX_CODE_BYTES: u64 = 250 << 20;

/// A packaged code directory.
pub struct CodePackage {
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub digest: String,
}

/// Why a code directory could not be packaged.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a regular file, directory or symlink; remove it from the code directory"
    )]
    Special { path: String },
    #[error(
        "the code directory holds more than 250 MiB (AWS's limit for unzipped code); ship large dependencies in an image instead"
    )]
    TooLarge,
}

/// Packages `dir` (its contents, not the directory itself).
pub fn package_code(dir: &Path) -> Result<CodePackage, PackageError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut total = 0u64;
    add_dir(&mut builder, dir, Path::new(""), &mut total)?;
    let bytes = builder
        .into_inner()
        .map_err(|source| read_error(dir, source))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok(CodePackage { bytes, digest })
}

fn read_error(path: &Path, source: std::io::Error) -> PackageError {
    PackageError::Read {
        path: path.display().to_string(),
        source,
    }
}

fn add_dir(
    builder: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    rel: &Path,
    total: &mut u64,
) -> Result<(), PackageError> {
    let here = root.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)
        .map_err(|e| read_error(&here, e))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(&here, e))?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Deterministic);
        // Deterministic mode keeps only the executable bit; keep the rest
        // of the permissions as the user set them.
        header.set_mode(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777);
        let kind = meta.file_type();
        if kind.is_dir() {
            header.set_size(0);
            builder
                .append_data(&mut header, &rel, std::io::empty())
                .map_err(|e| read_error(&path, e))?;
            add_dir(builder, root, &rel, total)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| read_error(&path, e))?;
            header.set_size(0);
            builder
                .append_link(&mut header, &rel, &target)
                .map_err(|e| read_error(&path, e))?;
        } else if kind.is_file() {
            *total += meta.len();
            if *total > MAX_CODE_BYTES {
                return Err(PackageError::TooLarge);
            }
            let file = std::fs::File::open(&path).map_err(|e| read_error(&path, e))?;
            builder
                .append_data(&mut header, &rel, file)
                .map_err(|e| read_error(&path, e))?;
        } else {
            return Err(PackageError::Special {
                path: path.display().to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("app.py"), "def handler(e, c):\n    return e\n").unwrap();
        std::fs::write(dir.join("lib/util.py"), "X = 1\n").unwrap();
        std::fs::write(dir.join("bootstrap"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            dir.join("bootstrap"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("lib/util.py", dir.join("util.py")).unwrap();
    }

    #[test]
    fn the_same_tree_packs_to_the_same_bytes_and_keeps_modes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(a.path());
        tree(b.path());
        // Different times do not change the package.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(b.path().join("app.py"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let (pa, pb) = (
            package_code(a.path()).unwrap(),
            package_code(b.path()).unwrap(),
        );
        assert_eq!(pa.digest, pb.digest);
        let mut archive = tar::Archive::new(pa.bytes.as_slice());
        let entries: Vec<(String, u32, tar::EntryType)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.entry_type(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["app.py", "bootstrap", "lib", "lib/util.py", "util.py"]
        );
        assert_eq!(entries[1].1 & 0o777, 0o755);
        assert_eq!(entries[4].2, tar::EntryType::Symlink);
        // A change in content changes the digest.
        std::fs::write(
            b.path().join("app.py"),
            "def handler(e, c):\n    return 1\n",
        )
        .unwrap();
        assert_ne!(package_code(b.path()).unwrap().digest, pa.digest);
    }

    #[test]
    fn special_files_and_missing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert!(matches!(
            package_code(dir.path()),
            Err(PackageError::Special { .. })
        ));
        assert!(matches!(
            package_code(&dir.path().join("nope")),
            Err(PackageError::Read { .. })
        ));
    }
}
