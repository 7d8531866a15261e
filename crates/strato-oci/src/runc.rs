//! Running a container to completion with runc (or any runtime that
//! speaks runc's command line: crun, youki).
//!
//! Per run, under `runs_dir/<run-id>/`: `upper/` and `work/` (the run's
//! writable overlay layer), `rootfs/` (the overlay mount over the image's
//! cached rootfs, or a copy where overlayfs is unavailable) and
//! `config.json`. Everything is removed when the run ends, and
//! [`ContainerRuntime::clean_leftovers`] removes what a crash left.

use crate::bundle::{self, BundleSpec, NetworkNamespace};
use crate::cgroup::{self, RunCgroup};
use crate::netns::{Forward, PlatformNetwork};
use crate::now_ms;
use crate::unpack::copy_tree;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use strato_core::{LogLine, LogStream};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt as _, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// Settings of the container runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The OCI runtime binary (`runc`; `crun` or `youki` speak the same CLI).
    pub runtime: PathBuf,
    /// The runtime's state directory (its `--root`).
    pub state_dir: PathBuf,
    /// Where run bundles and their writable layers live.
    pub runs_dir: PathBuf,
    /// Cgroup under which each run gets its own (`strato` -> `strato/<run>`).
    pub cgroup_parent: String,
}

/// Why a container could not be run (not: the container failed).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Setup(String),
    #[error("starting {runtime}: {source} (install it with `apt-get install runc`)")]
    Spawn {
        runtime: String,
        #[source]
        source: io::Error,
    },
}

/// A [`PlatformNetwork`] shared between its maker and the container.
#[derive(Clone)]
pub struct SharedNetwork(pub std::sync::Arc<PlatformNetwork>);

impl PartialEq for SharedNetwork {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedNetwork {}

impl std::fmt::Debug for SharedNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedNetwork({})", self.0.path().display())
    }
}

fn setup(what: &str) -> impl Fn(io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Setup(format!("{what}: {e}"))
}

/// How the container is networked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Loopback only, with Strato's endpoints forwarded in.
    Platform(Vec<Forward>),
    /// A platform network the caller made (with listeners of its own in
    /// it, [`PlatformNetwork::create_serving`]), kept while the container
    /// runs.
    Joined(SharedNetwork),
    Host,
    /// Loopback only, nothing forwarded.
    None,
}

/// One container to run.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The run id; names the container, its bundle and its cgroup.
    pub id: String,
    /// The image's unpacked rootfs (never written to).
    pub image_rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `uid[:gid]` or `name[:group]`, looked up in the image; empty = root.
    pub user: String,
    pub memory_bytes: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub network: NetworkMode,
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL when the timeout strikes.
    pub stop_grace: Duration,
    /// Host directories bound read-only into the container: (host path,
    /// path inside), e.g. a Lambda function's code at `/var/task`.
    pub mounts: Vec<(PathBuf, PathBuf)>,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerEnd {
    Exited(i32),
    TimedOut,
    OomKilled,
}

#[derive(Debug, Clone)]
pub struct ContainerOutcome {
    pub end: ContainerEnd,
    /// Exit code as reported (128+signal for a killed process).
    pub exit_code: i32,
    pub duration: Duration,
    /// CPU time its processes used, when the kernel counted it.
    pub cpu: Option<Duration>,
}

/// Drives the OCI runtime.
pub struct ContainerRuntime {
    config: RuntimeConfig,
    /// Set once a check passed: asking `runc --version` costs a process
    /// spawn, too much to repeat on every run.
    checked: std::sync::Arc<std::sync::OnceLock<()>>,
}

impl ContainerRuntime {
    /// Checks the runtime can work here: the binary exists and we are root.
    pub fn new(config: RuntimeConfig) -> Result<ContainerRuntime, RuntimeError> {
        for dir in [&config.state_dir, &config.runs_dir] {
            fs::create_dir_all(dir).map_err(setup("creating the runtime's directories"))?;
        }
        Ok(ContainerRuntime {
            config,
            checked: Default::default(),
        })
    }

    /// Whether containers can run here, and if not what to install or do.
    pub fn check(&self) -> Result<(), String> {
        if self.checked.get().is_some() {
            return Ok(());
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("container tasks need the server to run as root (runc drives namespaces and cgroups)".into());
        }
        match std::process::Command::new(&self.config.runtime)
            .arg("--version")
            .output()
        {
            Ok(o) if o.status.success() => {
                let _ = self.checked.set(());
                Ok(())
            }
            _ => Err(format!(
                "the OCI runtime {} is not installed: apt-get install runc",
                self.config.runtime.display()
            )),
        }
    }

    fn clone_handle(&self) -> ContainerRuntime {
        ContainerRuntime {
            config: self.config.clone(),
            checked: self.checked.clone(),
        }
    }

    fn runtime_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.config.runtime);
        cmd.arg("--root").arg(&self.config.state_dir);
        cmd
    }

    /// Runs the container to completion, sending its output lines to
    /// `logs` as they come.
    pub async fn run(
        &self,
        spec: &ContainerSpec,
        logs: mpsc::UnboundedSender<LogLine>,
    ) -> Result<ContainerOutcome, RuntimeError> {
        self.run_then_clean(spec, logs, false).await
    }

    /// Like [`ContainerRuntime::run`], for a container that serves until
    /// it is killed: returns only once its bundle, mounts and cgroup are
    /// gone, so a server that stops it at shutdown leaves nothing behind.
    pub async fn run_to_removal(
        &self,
        spec: &ContainerSpec,
        logs: mpsc::UnboundedSender<LogLine>,
    ) -> Result<ContainerOutcome, RuntimeError> {
        self.run_then_clean(spec, logs, true).await
    }

    async fn run_then_clean(
        &self,
        spec: &ContainerSpec,
        logs: mpsc::UnboundedSender<LogLine>,
        wait_for_removal: bool,
    ) -> Result<ContainerOutcome, RuntimeError> {
        let dir = self.config.runs_dir.join(&spec.id);
        let prepared = Prepared::new(&dir, &self.config.cgroup_parent, &spec.id);
        let result = self.run_prepared(spec, &prepared, logs).await;
        // `runc run` deletes the container when it exits; only a run that
        // failed before or while starting may have left runc state. (A
        // crash before the cleanup finishes is handled by `clean_leftover`
        // at start.)
        let failed = result.is_err();
        if wait_for_removal {
            prepared.clean(self, failed).await;
        } else {
            // The outcome is known: tidy up off the caller's path.
            let runtime = self.clone_handle();
            tokio::spawn(async move { prepared.clean(&runtime, failed).await });
        }
        result
    }

    async fn run_prepared(
        &self,
        spec: &ContainerSpec,
        prepared: &Prepared,
        logs: mpsc::UnboundedSender<LogLine>,
    ) -> Result<ContainerOutcome, RuntimeError> {
        let dir = &prepared.dir;
        let rootfs = dir.join("rootfs");
        for sub in ["upper", "work", "rootfs"] {
            fs::create_dir_all(dir.join(sub)).map_err(setup("creating the run's bundle"))?;
        }
        if let Err(e) = mount_overlay(&spec.image_rootfs, dir) {
            tracing::warn!(error = %e, "overlayfs unavailable, copying the image for this run");
            copy_tree(&spec.image_rootfs, &rootfs).map_err(setup("copying the image rootfs"))?;
        }
        let (uid, gid, additional_gids) = crate::user::resolve(&rootfs, &spec.user)
            .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        let cgroup = RunCgroup::create(&self.config.cgroup_parent, &spec.id, spec.memory_bytes)
            .map_err(setup("creating the run's cgroup"))?;
        let network = match &spec.network {
            NetworkMode::Platform(forwards) => Some(std::sync::Arc::new(
                PlatformNetwork::create(forwards)
                    .map_err(setup("creating the network namespace"))?,
            )),
            NetworkMode::Joined(shared) => Some(shared.0.clone()),
            _ => None,
        };
        let (namespace, binds) = match (&spec.network, &network) {
            (NetworkMode::Host, _) => (
                NetworkNamespace::Host,
                vec![(
                    PathBuf::from("/etc/resolv.conf"),
                    PathBuf::from("/etc/resolv.conf"),
                )],
            ),
            (_, Some(net)) => (NetworkNamespace::Join(net.path()), vec![]),
            _ => (NetworkNamespace::New, vec![]),
        };
        let config = bundle::build(&BundleSpec {
            rootfs: &rootfs,
            args: &spec.args,
            env: &spec.env,
            cwd: &spec.cwd,
            uid,
            gid,
            additional_gids,
            hostname: &spec.id,
            cgroups_path: cgroup.container_path(),
            cpus: spec.cpus,
            pids: spec.pids,
            network: namespace,
            binds: binds
                .into_iter()
                .filter(|(s, _)| s.exists())
                .chain(spec.mounts.iter().cloned())
                .collect(),
        })
        .map_err(|e| RuntimeError::Setup(format!("building the OCI config: {e}")))?;
        let config_json = serde_json::to_vec(&config).expect("spec serializes");
        fs::write(dir.join("config.json"), config_json).map_err(setup("writing config.json"))?;

        let started = Instant::now();
        let mut child = self
            .runtime_cmd()
            .arg("run")
            .arg("--bundle")
            .arg(dir)
            .arg(&spec.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                runtime: self.config.runtime.display().to_string(),
                source,
            })?;
        let out = tokio::spawn(pump(child.stdout.take(), LogStream::Stdout, logs.clone()));
        let err = tokio::spawn(pump(child.stderr.take(), LogStream::Stderr, logs.clone()));
        let mut timed_out = false;
        let status = match spec.timeout {
            None => child.wait().await,
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    timed_out = true;
                    self.signal(&spec.id, "TERM").await;
                    match tokio::time::timeout(spec.stop_grace, child.wait()).await {
                        Ok(status) => status,
                        Err(_) => {
                            self.signal(&spec.id, "KILL").await;
                            child.wait().await
                        }
                    }
                }
            },
        }
        .map_err(setup("waiting for the container"))?;
        let duration = started.elapsed();
        let _ = out.await;
        let _ = err.await;
        drop(network);
        let exit_code = status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        });
        let end = if timed_out {
            ContainerEnd::TimedOut
        } else if spec.memory_bytes.is_some() && cgroup.oom_killed(exit_code) {
            ContainerEnd::OomKilled
        } else {
            ContainerEnd::Exited(exit_code)
        };
        Ok(ContainerOutcome {
            end,
            exit_code,
            duration,
            cpu: cgroup.cpu_usage(),
        })
    }

    /// The most memory a running container has used at once, if known.
    pub fn memory_peak(&self, id: &str) -> Option<u64> {
        crate::cgroup::RunCgroup::peak_of(&self.config.cgroup_parent, id)
    }

    /// Kills a running container (all its processes); its `run` then
    /// returns. For containers that serve until told to stop.
    pub async fn kill(&self, id: &str) {
        self.signal(id, "KILL").await;
    }

    /// Asks a running container to stop (SIGTERM to all its processes);
    /// the caller kills it if it has not ended after its grace period.
    pub async fn terminate(&self, id: &str) {
        self.signal(id, "TERM").await;
    }

    async fn signal(&self, id: &str, signal: &str) {
        let _ = self
            .runtime_cmd()
            .args(["kill", "--all", id, signal])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }

    /// Runs whose bundles are still on disk: left by a crash of the server
    /// (a finished run removes its own).
    pub fn leftovers(&self) -> Vec<String> {
        fs::read_dir(&self.config.runs_dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Kills a run's container if it still runs, and removes its bundle,
    /// overlay and cgroups.
    pub async fn clean_leftover(&self, id: &str) {
        let prepared = Prepared::new(
            &self.config.runs_dir.join(id),
            &self.config.cgroup_parent,
            id,
        );
        self.signal(id, "KILL").await;
        prepared.clean(self, true).await;
    }
}

/// A run's on-disk and kernel state, cleaned up in one place.
struct Prepared {
    dir: PathBuf,
    cgroup_rel: PathBuf,
    id: String,
}

impl Prepared {
    fn new(dir: &Path, cgroup_parent: &str, id: &str) -> Prepared {
        Prepared {
            dir: dir.to_path_buf(),
            cgroup_rel: Path::new(cgroup_parent).join(id),
            id: id.to_string(),
        }
    }

    async fn clean(&self, runtime: &ContainerRuntime, delete_container: bool) {
        if delete_container {
            let _ = runtime
                .runtime_cmd()
                .args(["delete", "--force", &self.id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
        }
        cgroup::remove_run_cgroups(&self.cgroup_rel);
        let rootfs = self.dir.join("rootfs");
        if let Ok(c) = CString::new(rootfs.as_os_str().as_bytes()) {
            // SAFETY: `c` is a valid path; a detached unmount of a path that
            // is not a mount point just fails.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove a run's bundle");
        }
    }
}

fn mount_overlay(lower: &Path, dir: &Path) -> io::Result<()> {
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let target = cstr(&dir.join("rootfs"))?;
    let fstype = CString::new("overlay").unwrap();
    let data = CString::new(options).map_err(io::Error::other)?;
    // SAFETY: all pointers are valid NUL-terminated strings for the call.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr() as *const libc::c_void,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Longest line kept whole; longer output is split.
const MAX_LINE: usize = 16 * 1024;

async fn pump(
    stream: Option<impl AsyncRead + Unpin>,
    kind: LogStream,
    logs: mpsc::UnboundedSender<LogLine>,
) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let mut limited = (&mut reader).take(MAX_LINE as u64);
        match limited.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                let _ = logs.send(LogLine {
                    ts_ms: now_ms(),
                    stream: kind,
                    text: String::from_utf8_lossy(&buf).into_owned(),
                });
            }
        }
    }
}
