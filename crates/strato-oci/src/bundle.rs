//! The OCI runtime `config.json` of a task run, built with `oci-spec`.
//!
//! Defaults follow Docker's: pid, mount, ipc, uts and (unless the host's
//! network is asked for) net namespaces; Docker's default capability set
//! and seccomp profile (`seccomp.rs`); no new privileges; the kernel paths Docker masks or makes read-only;
//! devices limited to the standard ones runc creates.

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder, UserBuilder, get_default_maskedpaths, get_default_mounts,
    get_default_readonly_paths,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Which network namespace the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// The host's network (no namespace of its own).
    Host,
    /// A new namespace: loopback only.
    New,
    /// An existing namespace (the platform network's).
    Join(PathBuf),
}

/// Everything the config needs to say.
#[derive(Debug, Clone)]
pub struct BundleSpec<'a> {
    pub rootfs: &'a Path,
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: &'a str,
    pub cgroups_path: String,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub network: NetworkNamespace,
    /// Files from the host bind-mounted read-only (e.g. resolv.conf for
    /// the host network).
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// What Docker grants by default (moby's `DefaultCapabilities`).
const DOCKER_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// CFS period runc is given with a CPU quota (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

pub fn build(spec: &BundleSpec<'_>) -> Result<Spec, oci_spec::OciSpecError> {
    let caps: HashSet<Capability> = DOCKER_CAPABILITIES.into_iter().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.additional_gids.clone())
        .build()?;
    // The server's own hard limit caps what a container may ask for
    // (raising it would fail here, where rlimits cannot go up).
    let (_, hard) = current_nofile();
    let nofile = hard.min(1_048_576);
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(spec.args.to_vec())
        .env(spec.env.to_vec())
        .cwd(if spec.cwd.is_empty() { "/" } else { spec.cwd })
        .no_new_privileges(true)
        .capabilities(capabilities)
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(nofile.min(1024))
                .hard(nofile)
                .build()?,
        ])
        .build()?;
    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ]
    .into_iter()
    .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
    .collect::<Result<Vec<_>, _>>()?;
    match &spec.network {
        NetworkNamespace::Host => {}
        NetworkNamespace::New => namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .build()?,
        ),
        NetworkNamespace::Join(path) => namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path.clone())
                .build()?,
        ),
    }
    let mut resources = LinuxResourcesBuilder::default().devices(vec![
        // Deny every device; runc adds the standard ones (null, zero,
        // full, random, urandom, tty) back.
        LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()?,
    ]);
    if let Some(cpus) = spec.cpus {
        resources = resources.cpu(
            LinuxCpuBuilder::default()
                .quota((cpus * CPU_PERIOD_US as f64).round() as i64)
                .period(CPU_PERIOD_US)
                .build()?,
        );
    }
    if let Some(pids) = spec.pids {
        resources = resources.pids(LinuxPidsBuilder::default().limit(pids).build()?);
    }
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources.build()?)
        .cgroups_path(PathBuf::from(&spec.cgroups_path))
        .masked_paths(get_default_maskedpaths())
        .readonly_paths(get_default_readonly_paths())
        .seccomp(crate::seccomp::docker_default()?)
        .build()?;
    let mut mounts: Vec<Mount> = get_default_mounts();
    for (source, dest) in &spec.binds {
        mounts.push(
            MountBuilder::default()
                .destination(dest.clone())
                .typ("bind")
                .source(source.clone())
                .options(vec![
                    "rbind".into(),
                    "ro".into(),
                    "nosuid".into(),
                    "nodev".into(),
                ])
                .build()?,
        );
    }
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(spec.rootfs.to_path_buf())
                .readonly(false)
                .build()?,
        )
        .process(process)
        .hostname(spec.hostname)
        .mounts(mounts)
        .linux(linux)
        .build()
}

fn current_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: getrlimit fills the struct it is given.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (lim.rlim_cur, lim.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_limits_namespaces_and_no_new_privileges() {
        let args = vec!["/bin/true".to_string()];
        let env = vec!["PATH=/bin".to_string()];
        let spec = BundleSpec {
            rootfs: Path::new("/tmp/rootfs"),
            args: &args,
            env: &env,
            cwd: "",
            uid: 1000,
            gid: 1000,
            additional_gids: vec![],
            hostname: "t",
            cgroups_path: "/strato/r1/ctr".into(),
            cpus: Some(0.5),
            pids: Some(64),
            network: NetworkNamespace::New,
            binds: vec![],
        };
        let json = serde_json::to_value(build(&spec).unwrap()).unwrap();
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert_eq!(json["process"]["user"]["uid"], 1000);
        assert_eq!(json["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], 64);
        let ns: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        for want in ["pid", "ipc", "uts", "mount", "network"] {
            assert!(ns.contains(&want), "{ns:?}");
        }
        let caps = json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert!(!caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
        assert!(json["linux"]["maskedPaths"].as_array().unwrap().len() > 3);
    }
}
