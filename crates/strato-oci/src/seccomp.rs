//! The seccomp filter every container gets (task runs and Lambda
//! environments alike): the rules of Docker's default profile, written
//! out here. Calls not listed fail with EPERM; namespace-creating `clone`
//! flags, `unshare`, `mount`, `keyctl`, `bpf`, `ptrace`-free process
//! access and the like are refused because the containers hold none of the
//! capabilities Docker would need to allow them; `clone3` answers ENOSYS so
//! libc falls back to `clone`, whose flags can be checked. io_uring is left
//! out, as Docker has since 25.0 (its rings bypass the filter).

use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

/// Allowed whatever their arguments, by family (names split on whitespace).
const ALLOWED: &[(&str, &str)] = &[
    (
        "Files and directories",
        "access chdir chmod ioctl chown chown32 close close_range copy_file_range creat dup dup2 dup3 \
         faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod \
         fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock \
         fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate \
         ftruncate64 futimesat getcwd getdents getdents64 getxattr inotify_add_watch inotify_init \
         inotify_init1 inotify_rm_watch lchown lchown32 lgetxattr link linkat listxattr \
         llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 mkdir mkdirat mknod \
         mknodat name_to_handle_at newfstatat open openat openat2 pread64 preadv preadv2 pwrite64 \
         pwritev pwritev2 read readahead readlink readlinkat readv removexattr rename renameat \
         renameat2 rmdir sendfile sendfile64 setxattr splice stat stat64 statfs statfs64 statx \
         symlink symlinkat sync sync_file_range syncfs tee truncate truncate64 umask unlink \
         unlinkat utime utimensat utimensat_time64 utimes vmsplice write writev",
    ),
    (
        "Memory",
        "brk madvise membarrier memfd_create memfd_secret mincore mlock mlock2 mlockall mmap \
         mmap2 mprotect mremap msync munlock munlockall munmap pkey_alloc pkey_free pkey_mprotect \
         remap_file_pages",
    ),
    (
        "Processes, threads, signals, scheduling",
        "capget capset execve execveat exit exit_group fork futex futex_time64 futex_waitv \
         get_robust_list get_thread_area getcpu getegid getegid32 geteuid geteuid32 getgid \
         getgid32 getgroups getgroups32 getpgid getpgrp getpid getppid getpriority getresgid \
         getresgid32 getresuid getresuid32 getrlimit getrusage getsid gettid getuid getuid32 \
         ioprio_get ioprio_set kill pidfd_open pidfd_send_signal prctl prlimit64 process_mrelease \
         restart_syscall rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo \
         rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo \
         sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr \
         sched_getparam sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 \
         sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp \
         set_robust_list set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 \
         setgid setgid32 setgroups setgroups32 setpgid setpriority setregid setregid32 setresgid \
         setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setuid setuid32 \
         sigaltstack signalfd signalfd4 sigprocmask sigreturn tgkill tkill ugetrlimit vfork wait4 \
         waitid waitpid",
    ),
    (
        "Sandboxing a process may do to itself",
        "landlock_add_rule landlock_create_ruleset landlock_restrict_self",
    ),
    (
        "Time",
        "adjtimex alarm clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 \
         clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 getitimer \
         gettimeofday nanosleep setitimer time timer_create timer_delete timer_getoverrun \
         timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create \
         timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times",
    ),
    (
        "Waiting on many things",
        "epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait \
         epoll_wait_old eventfd eventfd2 _newselect pause pipe pipe2 poll ppoll ppoll_time64 \
         pselect6 pselect6_time64 select",
    ),
    (
        "Sockets (`socket` itself is below)",
        "accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom \
         recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown \
         socketcall socketpair",
    ),
    (
        "System V and POSIX IPC, async IO",
        "io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit \
         ipc mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend \
         mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd semctl semget semop semtimedop \
         semtimedop_time64 shmat shmctl shmdt shmget",
    ),
    ("Information", "getrandom sysinfo uname"),
    (
        "Allowed by Docker on kernels from 4.8, whose ptrace cannot escape seccomp",
        "process_vm_readv process_vm_writev ptrace",
    ),
    ("Docker grants CAP_SYS_CHROOT, and with it chroot", "chroot"),
];

/// `clone` flags that create namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET): a `clone` with any of them is refused.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `personality` values allowed: PER_LINUX, PER_LINUX32, UNAME26, both,
/// and the query 0xffffffff.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
const AF_VSOCK: u64 = 40;
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

fn allowed_names() -> Vec<&'static str> {
    ALLOWED
        .iter()
        .flat_map(|(_, names)| names.split_whitespace())
        .collect()
}

fn rule(
    names: &[&str],
    action: LinuxSeccompAction,
    arg: Option<(usize, LinuxSeccompOperator, u64, u64)>,
) -> Result<LinuxSyscall, OciSpecError> {
    let mut builder = LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .action(action);
    if let Some((index, op, value, value_two)) = arg {
        let mut arg = LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value);
        if op == LinuxSeccompOperator::ScmpCmpMaskedEq {
            arg = arg.value_two(value_two);
        }
        builder = builder.args(vec![arg.build()?]);
    }
    builder.build()
}

/// The filter: Docker's default profile for this machine's architecture.
pub fn docker_default() -> Result<LinuxSeccomp, OciSpecError> {
    use LinuxSeccompAction::{ScmpActAllow as Allow, ScmpActErrno as Errno};
    use LinuxSeccompOperator::{ScmpCmpEq as Eq, ScmpCmpMaskedEq as MaskedEq, ScmpCmpNe as Ne};
    let mut rules = vec![
        rule(&allowed_names(), Allow, None)?,
        rule(&["socket"], Allow, Some((0, Ne, AF_VSOCK, 0)))?,
        rule(
            &["clone"],
            Allow,
            Some((0, MaskedEq, CLONE_NAMESPACE_FLAGS, 0)),
        )?,
    ];
    for persona in PERSONALITIES {
        rules.push(rule(&["personality"], Allow, Some((0, Eq, persona, 0)))?);
    }
    let mut clone3 = rule(&["clone3"], Errno, None)?;
    clone3.set_errno_ret(Some(ENOSYS));
    rules.push(clone3);
    let architectures = if cfg!(target_arch = "aarch64") {
        rules.push(rule(
            &[
                "arm_fadvise64_64",
                "arm_sync_file_range",
                "sync_file_range2",
                "breakpoint",
                "cacheflush",
                "set_tls",
            ],
            Allow,
            None,
        )?);
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        rules.push(rule(&["arch_prctl", "modify_ldt"], Allow, None)?);
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    };
    LinuxSeccompBuilder::default()
        .default_action(Errno)
        .default_errno_ret(EPERM)
        .architectures(architectures)
        .syscalls(rules)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_by_default_and_allows_what_docker_allows() {
        let profile = docker_default().unwrap();
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        let allowed: Vec<&str> = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap())
            .collect();
        for needed in [
            "read",
            "ioctl",
            "execve",
            "futex",
            "epoll_wait",
            "openat",
            "chroot",
        ] {
            assert!(allowed.contains(&needed), "{needed}");
        }
        for refused in [
            "unshare",
            "mount",
            "keyctl",
            "add_key",
            "setns",
            "bpf",
            "io_uring_setup",
            "reboot",
        ] {
            assert!(!allowed.contains(&refused), "{refused}");
        }
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], CLONE_NAMESPACE_FLAGS);
        assert_eq!(clone["args"][0]["valueTwo"], 0);
        let clone3 = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["names"][0] == "clone3")
            .unwrap();
        assert_eq!(clone3["errnoRet"], ENOSYS);
    }
}
