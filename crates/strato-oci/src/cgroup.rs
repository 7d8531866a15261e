//! The per-run cgroup Strato owns around each container.
//!
//! runc creates the container's own cgroup (`<parent>/<run>/ctr`) and
//! removes it when the container exits, taking its counters with it. The
//! memory limit is therefore set one level up, on `<parent>/<run>`, which
//! Strato creates and removes itself: the OOM kill is counted where the
//! limit was hit, and that counter is still there to read after runc has
//! cleaned up. Works on cgroup v2 and on v1 (this machine's hybrid layout).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Unified,
    Legacy,
}

fn layout() -> Layout {
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        Layout::Unified
    } else {
        Layout::Legacy
    }
}

/// Strato's cgroup for one run.
#[derive(Debug)]
pub struct RunCgroup {
    /// Path relative to every hierarchy's root: `<parent>/<run>`.
    rel: PathBuf,
    layout: Layout,
}

impl RunCgroup {
    /// Creates `<parent>/<run>` with the memory limit (and no swap beyond
    /// it, where the kernel offers that knob).
    pub fn create(parent: &str, run: &str, memory_bytes: Option<u64>) -> io::Result<RunCgroup> {
        let cg = RunCgroup {
            rel: Path::new(parent).join(run),
            layout: layout(),
        };
        let dir = cg.memory_dir();
        fs::create_dir_all(&dir)?;
        // CPU time is charged up the tree: this level keeps the
        // container's total after runc removes the container's own cgroup.
        if cg.layout == Layout::Legacy {
            let _ = fs::create_dir_all(Path::new(ROOT).join("cpuacct").join(&cg.rel));
        }
        if let Some(limit) = memory_bytes {
            match cg.layout {
                Layout::Unified => {
                    // Children need the controller enabled on each level.
                    enable_memory_controller(Path::new(ROOT), &cg.rel)?;
                    fs::write(dir.join("memory.max"), limit.to_string())?;
                    let _ = fs::write(dir.join("memory.swap.max"), "0");
                }
                Layout::Legacy => {
                    fs::write(dir.join("memory.limit_in_bytes"), limit.to_string())?;
                    let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), limit.to_string());
                }
            }
        }
        Ok(cg)
    }

    /// The `cgroupsPath` to give runc for the container itself.
    pub fn container_path(&self) -> String {
        format!("/{}/ctr", self.rel.display())
    }

    /// Whether the kernel killed the container's process for exceeding
    /// the memory limit, given how it exited.
    pub fn oom_killed(&self, exit_code: i32) -> bool {
        let dir = self.memory_dir();
        let read = |file: &str| fs::read_to_string(dir.join(file)).unwrap_or_default();
        match self.layout {
            // v2 counts OOM kills of descendants in the parent's events.
            Layout::Unified => read("memory.events").lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            }),
            // v1 counts a kill only in the victim's own cgroup, which runc
            // has removed by now, and its failcnt stays 0 on this kernel;
            // the parent still remembers its peak: a SIGKILL after the peak
            // reached the limit is the OOM killer's.
            Layout::Legacy => {
                let number = |file: &str| read(file).trim().parse::<u64>().unwrap_or(0);
                let (peak, limit) = (
                    number("memory.max_usage_in_bytes"),
                    number("memory.limit_in_bytes"),
                );
                exit_code == 128 + libc::SIGKILL && limit > 0 && peak + 64 * 1024 >= limit
            }
        }
    }

    /// CPU time the run's processes have used (user and system), if the
    /// kernel counts it here (`cpuacct.usage` on v1, `cpu.stat` on v2).
    pub fn cpu_usage(&self) -> Option<std::time::Duration> {
        match self.layout {
            Layout::Unified => {
                let stat = fs::read_to_string(self.memory_dir().join("cpu.stat")).ok()?;
                let usec = stat
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(std::time::Duration::from_micros(usec))
            }
            Layout::Legacy => {
                let path = Path::new(ROOT)
                    .join("cpuacct")
                    .join(&self.rel)
                    .join("cpuacct.usage");
                let nanos = fs::read_to_string(path).ok()?.trim().parse().ok()?;
                Some(std::time::Duration::from_nanos(nanos))
            }
        }
    }

    /// The most memory the run's processes have used at once, if the
    /// kernel keeps that figure (`memory.max_usage_in_bytes` on v1,
    /// `memory.peak` on v2 from Linux 5.19).
    pub fn peak_of(parent: &str, run: &str) -> Option<u64> {
        let cg = RunCgroup {
            rel: Path::new(parent).join(run),
            layout: layout(),
        };
        let file = match cg.layout {
            Layout::Unified => "memory.peak",
            Layout::Legacy => "memory.max_usage_in_bytes",
        };
        fs::read_to_string(cg.memory_dir().join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn memory_dir(&self) -> PathBuf {
        match self.layout {
            Layout::Unified => Path::new(ROOT).join(&self.rel),
            Layout::Legacy => Path::new(ROOT).join("memory").join(&self.rel),
        }
    }
}

/// Removes `<rel>/ctr` and `<rel>` wherever they exist.
pub fn remove_run_cgroups(rel: &Path) {
    let hierarchies: Vec<PathBuf> = match layout() {
        Layout::Unified => vec![PathBuf::from(ROOT)],
        Layout::Legacy => fs::read_dir(ROOT)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default(),
    };
    for h in hierarchies {
        let dir = h.join(rel);
        let _ = fs::remove_dir(dir.join("ctr"));
        let _ = fs::remove_dir(&dir);
    }
}

fn enable_memory_controller(root: &Path, rel: &Path) -> io::Result<()> {
    let mut dir = root.to_path_buf();
    for part in rel.components() {
        let _ = fs::write(dir.join("cgroup.subtree_control"), "+memory +pids +cpu");
        dir.push(part);
    }
    let _ = fs::write(dir.join("cgroup.subtree_control"), "+memory +pids +cpu");
    Ok(())
}
