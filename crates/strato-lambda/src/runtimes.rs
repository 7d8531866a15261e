//! Runtime images for `runtime = ...` functions, built from Debian 12
//! packages with mmdebstrap the first time a runtime is needed: the
//! interpreter plus a runtime interface client (`awslambdaric` from PyPI
//! for Python). The built rootfs is kept as a tarball in a cache directory
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
        "runtime `{0}` has no image recipe in this build of Strato yet; use `python3.11` or `provided`, or bring an image with `image = ...`"
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
}

fn recipe(runtime: LambdaRuntime) -> Option<Recipe> {
    match runtime {
        LambdaRuntime::Python311 => Some(Recipe {
            packages: &["python3", "python3-pip", "ca-certificates"],
            commands: &[
                "pip install --quiet --no-cache-dir --break-system-packages awslambdaric==4.2.2",
            ],
        }),
        LambdaRuntime::Provided => Some(Recipe {
            packages: &["ca-certificates"],
            commands: &[],
        }),
        LambdaRuntime::Nodejs18 => None,
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
        assert!(recipe(LambdaRuntime::Nodejs18).is_none());
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
