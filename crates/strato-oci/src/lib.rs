//! Strato's container executor: the image store and the runc driver.
//!
//! - [`ImageStore`]: imports `docker save` and OCI archives, plain rootfs
//!   tarballs and registry pulls into content-addressed blobs (digests
//!   verified, shared layers stored once) and unpacks each image once,
//!   safely ([`unpack`]), into a rootfs that every run of it shares. On a
//!   cluster it is a node's cache of an [`ImageCatalog`] every node shares.
//! - [`ContainerRuntime`]: runs a [`ContainerSpec`] to completion with runc
//!   on an overlay of that rootfs, in its own namespaces and cgroup, with
//!   output streamed as log lines and the end told apart
//!   ([`ContainerEnd`]: exit code, timeout, OOM kill).
//! - [`PlatformNetwork`]: the `platform` network mode's namespace with
//!   Strato's endpoints forwarded in.
//!
//! Like `strato-wasm`, it knows nothing of HTTP surfaces or storage
//! schemas: it takes a spec and returns an outcome plus log lines.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use strato_oci::*;
//! let images = ImageStore::open("data/images".as_ref())?;
//! images.import_archive(std::fs::File::open("busybox.tar")?, Some("busybox"))?;
//! let image = images.resolve("busybox")?;
//! let runtime = ContainerRuntime::new(RuntimeConfig {
//!     runtime: "runc".into(),
//!     state_dir: "data/runc".into(),
//!     runs_dir: "data/task-runs".into(),
//!     cgroup_parent: "strato".into(),
//! })?;
//! let (logs, _rx) = tokio::sync::mpsc::unbounded_channel();
//! let spec = ContainerSpec {
//!     id: "r1".into(),
//!     image_rootfs: images.rootfs(&image)?,
//!     args: vec!["echo".into(), "hi".into()],
//!     env: vec!["PATH=/bin".into()],
//!     cwd: "/".into(),
//!     user: String::new(),
//!     memory_bytes: Some(64 << 20),
//!     cpus: None,
//!     pids: Some(64),
//!     network: NetworkMode::None,
//!     timeout: None,
//!     stop_grace: std::time::Duration::from_secs(10),
//!     mounts: vec![],
//! };
//! let outcome = runtime.run(&spec, logs).await?;
//! # Ok(()) }
//! ```

mod archive;
mod bundle;
mod catalog;
mod cgroup;
mod digest;
mod images;
mod netns;
mod pull;
pub mod registry;
mod runc;
mod seccomp;
pub mod unpack;
mod user;

pub use catalog::ImageCatalog;
pub use digest::{BlobHasher, Digest};
pub use images::{ImageConfig, ImageError, ImageInfo, ImageStore, ImageSummary, normalize_name};
pub use netns::{Forward, PlatformNetwork};
pub use pull::{PullProgress, RegistryAuth, pull_image};
pub use runc::{
    ContainerEnd, ContainerOutcome, ContainerRuntime, ContainerSpec, NetworkMode, RuntimeConfig,
    RuntimeError, SharedNetwork,
};

pub(crate) use strato_core::time::now_ms;

/// A name no other staging file of this process or an earlier one uses:
/// the time, the process id and a counter.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{:x}-{n}", now_ms(), std::process::id())
}
