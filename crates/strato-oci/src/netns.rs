//! The `platform` network: a fresh network namespace with only loopback,
//! in which Strato's own endpoints answer at 127.0.0.1 on their usual
//! ports (design.md section 6).
//!
//! A short-lived thread enters a new namespace, brings `lo` up and binds
//! the listeners there; sockets stay in the namespace they were created
//! in, so the server's tokio tasks can accept on them from anywhere and
//! connect onwards to the real endpoints in the host namespace. The
//! namespace lives as long as [`PlatformNetwork`] holds its file (and
//! the container is in it); runc joins it through `/proc/<pid>/fd/<n>`.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener as StdListener};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// One endpoint made reachable inside the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// Port on 127.0.0.1 inside the namespace.
    pub port: u16,
    /// Where connections go, in the server's namespace.
    pub target: SocketAddr,
}

/// A network namespace and its forwarders; both go when it is dropped.
pub struct PlatformNetwork {
    ns: File,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PlatformNetwork {
    /// Creates the namespace and starts forwarding. Call within a tokio
    /// runtime.
    pub fn create(forwards: &[Forward]) -> io::Result<PlatformNetwork> {
        Self::create_serving(forwards, &[]).map(|(network, _)| network)
    }

    /// [`PlatformNetwork::create`], plus listeners on 127.0.0.1:`ports`
    /// inside the namespace that the caller serves itself (no forwarding
    /// hop: the server's own tasks accept on them).
    pub fn create_serving(
        forwards: &[Forward],
        ports: &[u16],
    ) -> io::Result<(PlatformNetwork, Vec<tokio::net::TcpListener>)> {
        let all: Vec<u16> = forwards
            .iter()
            .map(|f| f.port)
            .chain(ports.iter().copied())
            .collect();
        let (ns, mut listeners) = std::thread::spawn(move || enter_new_namespace(&all))
            .join()
            .map_err(|_| io::Error::other("network namespace thread panicked"))??;
        let served = listeners
            .split_off(forwards.len())
            .into_iter()
            .map(|l| {
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut tasks = Vec::new();
        for (listener, forward) in listeners.into_iter().zip(forwards) {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let target = forward.target;
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        // Out of file descriptors, say: back off rather
                        // than spin on the error.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    };
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            }));
        }
        Ok((PlatformNetwork { ns, tasks }, served))
    }

    /// A path runc can open to join the namespace.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.ns.as_raw_fd()
        ))
    }
}

impl Drop for PlatformNetwork {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Runs on a throwaway thread: after `unshare` this thread lives in the
/// new namespace, and it exits right after, so nothing else runs there.
fn enter_new_namespace(ports: &[u16]) -> io::Result<(File, Vec<StdListener>)> {
    // SAFETY: unshare only changes this thread's namespace membership.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loopback_up()?;
    let ns = File::open("/proc/thread-self/ns/net")?;
    let listeners = ports
        .iter()
        .map(|&port| StdListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)))
        .collect::<io::Result<Vec<_>>>()?;
    Ok((ns, listeners))
}

/// `ip link set lo up`, with the ioctl it boils down to.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq naming "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let result = if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        libc::close(fd);
        result
    }
}
