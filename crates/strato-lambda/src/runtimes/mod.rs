//! Runtime images for `runtime = ...` functions, built from Debian 12
//! packages with mmdebstrap the first time a runtime is needed: the
//! interpreter plus a runtime interface client (`awslambdaric` from PyPI
//! for Python; for Node.js, `node-ric.mjs`, a small one Strato ships,
//! since npm's compiles curl and C++ at install). The built rootfs is kept as a tarball in a cache directory
//! named by the recipe's hash (shared by every data dir on the machine),
//! and imported into the image store as `strato/runtime-NAME:HASH`, where
//! `strato image ls` shows it.
//!
//! pip inside the build reaches PyPI through whatever TLS proxy the host
//! trusts when `trust_host_cas` is set: the host's extra CA certificates
//! (`/usr/local/share/ca-certificates`) are copied in and trusted.

use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strato_core::lambda::LambdaRuntime;
use strato_oci::{ImageConfig, ImageStore};

/// Where runtime images come from.
#[derive(Debug, Clone)]
pub struct RuntimeImagesConfig {
    /// Built rootfs tarballs, by recipe hash (e.g. `~/.cache/strato/runtimes`).
    pub cache_dir: PathBuf,
    /// Copy the host's extra CA certificates into the image and trust
    /// them (for pip behind a TLS-inspecting proxy).
    pub trust_host_cas: Option<PathBuf>,
    /// The Debian mirror mmdebstrap installs from.
    pub mirror: String,
}

/// Why a runtime image is not available.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeImageError {
    #[error(
        "runtime `{0}` has no image recipe in this build of Strato; use `python3.11`, `nodejs18` or `provided`, or bring an image with `image = ...`"
    )]
    NoRecipe(LambdaRuntime),
    #[error("building the {runtime} runtime image failed: {detail}")]
    Build {
        runtime: LambdaRuntime,
        detail: String,
    },
    #[error("importing the {runtime} runtime image: {source}")]
    Import {
        runtime: LambdaRuntime,
        source: strato_oci::ImageError,
    },
}

/// What goes into a runtime image.
struct Recipe {
    /// Debian packages (bookworm, minbase variant).
    packages: &'static [&'static str],
    /// Commands run in the new root after the packages are in.
    commands: &'static [&'static str],
    /// Files written into the root: (absolute path, contents).
    files: &'static [(&'static str, &'static str)],
}

/// Where the Node.js runtime image keeps Strato's interface client.
pub const NODE_RIC_PATH: &str = "/var/runtime/strato-ric.mjs";

fn recipe(runtime: LambdaRuntime) -> Option<Recipe> {
    match runtime {
        LambdaRuntime::Python311 => Some(Recipe {
            packages: &["python3", "python3-pip", "ca-certificates"],
            commands: &[
                "pip install --quiet --no-cache-dir --break-system-packages awslambdaric==4.2.2",
            ],
            files: &[],
        }),
        // Debian 12's nodejs is Node 18.
        LambdaRuntime::Nodejs18 => Some(Recipe {
            packages: &["nodejs", "ca-certificates"],
            commands: &[],
            files: &[(NODE_RIC_PATH, include_str!("node-ric.mjs"))],
        }),
        LambdaRuntime::Provided => Some(Recipe {
            packages: &["ca-certificates"],
            commands: &[],
            files: &[],
        }),
    }
}

impl Recipe {
    /// Names the recipe: a change of packages or commands builds anew.
    fn key(&self, runtime: LambdaRuntime) -> String {
        let mut hash = Sha256::new();
        hash.update(format!(
            "bookworm minbase {runtime}\n{:?}\n{:?}\n",
            self.packages, self.commands
        ));
        for (path, contents) in self.files {
            hash.update(format!("{path}\n{}\n{contents}\n", contents.len()));
        }
        hex::encode(hash.finalize())[..12].to_string()
    }
}

/// Builds, caches and imports runtime images.
pub struct RuntimeImages {
    config: RuntimeImagesConfig,
    images: Arc<ImageStore>,
    /// One build at a time (two functions on one new runtime build it once).
    building: tokio::sync::Mutex<()>,
}

impl RuntimeImages {
    pub fn new(config: RuntimeImagesConfig, images: Arc<ImageStore>) -> RuntimeImages {
        RuntimeImages {
            config,
            images,
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The image name of `runtime`'s image, built and imported if needed.
    pub async fn ensure(&self, runtime: LambdaRuntime) -> Result<String, RuntimeImageError> {
        let recipe = recipe(runtime).ok_or(RuntimeImageError::NoRecipe(runtime))?;
        let key = recipe.key(runtime);
        let name = format!("strato/runtime-{runtime}:{key}");
        let _one = self.building.lock().await;
        let images = self.images.clone();
        let config = self.config.clone();
        let wanted = name.clone();
        tokio::task::spawn_blocking(move || -> Result<(), RuntimeImageError> {
            if images.resolve(&wanted).is_ok() {
                return Ok(());
            }
            let tarball = config.cache_dir.join(format!("{runtime}-{key}.tar"));
            // Servers sharing the cache build each runtime once: the
            // first holds the lock while it builds, the others wait and
            // find the tarball.
            let _lock = lock_file(&config.cache_dir, &format!("{runtime}-{key}.lock"))
                .map_err(|detail| RuntimeImageError::Build { runtime, detail })?;
            if !tarball.exists() {
                tracing::info!(%runtime, "building the runtime image from Debian packages (once)");
                build(&config, &recipe, &tarball)
                    .map_err(|detail| RuntimeImageError::Build { runtime, detail })?;
            }
            let file = std::fs::File::open(&tarball).map_err(|e| RuntimeImageError::Build {
                runtime,
                detail: format!("opening {}: {e}", tarball.display()),
            })?;
            images
                .import_rootfs(
                    file,
                    &wanted,
                    ImageConfig {
                        env: vec![
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                .into(),
                        ],
                        working_dir: "/var/task".into(),
                        ..Default::default()
                    },
                )
                .map_err(|source| RuntimeImageError::Import { runtime, source })?;
            Ok(())
        })
        .await
        .map_err(|e| RuntimeImageError::Build {
            runtime,
            detail: e.to_string(),
        })??;
        Ok(name)
    }
}

/// An exclusive lock on `dir/name`, held until the file is dropped.
fn lock_file(dir: &Path, name: &str) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("locking {}: {e}", path.display()))?;
    Ok(file)
}

/// Runs mmdebstrap into a fresh directory and tars it to `tarball`.
fn build(config: &RuntimeImagesConfig, recipe: &Recipe, tarball: &Path) -> Result<(), String> {
    std::fs::create_dir_all(&config.cache_dir)
        .map_err(|e| format!("creating {}: {e}", config.cache_dir.display()))?;
    let root = config
        .cache_dir
        .join(format!("build-{:08x}", rand::random::<u32>()));
    let mut cmd = std::process::Command::new("mmdebstrap");
    cmd.args(["--quiet", "--variant=minbase"])
        .arg(format!("--include={}", recipe.packages.join(",")));
    if let Some(cas) = &config.trust_host_cas {
        cmd.arg(format!(
            "--customize-hook=mkdir -p \"$1/usr/local/share/ca-certificates\" && cp {}/*.crt \"$1/usr/local/share/ca-certificates/\" 2>/dev/null; chroot \"$1\" update-ca-certificates >/dev/null",
            shell_quote(&cas.display().to_string())
        ));
    }
    for command in recipe.commands {
        cmd.arg(format!("--customize-hook=chroot \"$1\" {command}"));
    }
    cmd.arg("bookworm").arg(&root).arg(&config.mirror);
    let output = cmd
        .output()
        .map_err(|e| format!("running mmdebstrap (apt-get install mmdebstrap): {e}"))?;
    let cleanup = |root: &Path| {
        let _ = std::fs::remove_dir_all(root);
    };
    if !output.status.success() {
        cleanup(&root);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!(
            "mmdebstrap exited with {}: {}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    for (path, contents) in recipe.files {
        let file = root.join(path.trim_start_matches('/'));
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&file, contents));
        if let Err(e) = written {
            cleanup(&root);
            return Err(format!("writing {path} into the runtime's root: {e}"));
        }
    }
    let partial = tarball.with_extension("tar.partial");
    let tarred = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-cf"])
        .arg(&partial)
        .arg(".")
        .status();
    cleanup(&root);
    match tarred {
        Ok(s) if s.success() => std::fs::rename(&partial, tarball)
            .map_err(|e| format!("keeping {}: {e}", tarball.display())),
        other => {
            let _ = std::fs::remove_file(&partial);
            Err(format!("tarring the runtime's root: {other:?}"))
        }
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_are_named_by_their_contents() {
        let python = recipe(LambdaRuntime::Python311).unwrap();
        let provided = recipe(LambdaRuntime::Provided).unwrap();
        assert_eq!(python.key(LambdaRuntime::Python311).len(), 12);
        assert_ne!(
            python.key(LambdaRuntime::Python311),
            provided.key(LambdaRuntime::Provided)
        );
        assert_eq!(
            python.key(LambdaRuntime::Python311),
            recipe(LambdaRuntime::Python311)
                .unwrap()
                .key(LambdaRuntime::Python311)
        );
        let node = recipe(LambdaRuntime::Nodejs18).unwrap();
        assert_eq!(node.files[0].0, NODE_RIC_PATH);
        assert!(node.files[0].1.contains("/invocation/next"));
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
