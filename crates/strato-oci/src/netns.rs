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

    /// A connection to 127.0.0.1:`port` inside the namespace (a
    /// service's replica listening there), made from a throwaway thread
    /// that joins the namespace: the socket stays in it, and the caller
    /// uses it from anywhere, as containerd's port-forward does. No bridge
    /// and no address on the host.
    pub async fn connect(&self, port: u16) -> io::Result<tokio::net::TcpStream> {
        let ns = self.ns.try_clone()?;
        let stream = tokio::task::spawn_blocking(move || {
            // SAFETY: setns only changes this (blocking-pool) thread's
            // namespace membership, and it is moved back below before the
            // thread serves anything else.
            let home = File::open("/proc/thread-self/ns/net")?;
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let connected =
                std::net::TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
            // SAFETY: back to the namespace the thread came from, so the
            // pool thread serves other work in the host's network.
            if unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                // A pool thread stuck in another namespace would misroute
                // later work: better to stop here.
                panic!(
                    "cannot return a thread to the host's network namespace: {}",
                    io::Error::last_os_error()
                );
            }
            connected
        })
        .await
        .map_err(|_| io::Error::other("the connecting thread panicked"))??;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        tokio::net::TcpStream::from_std(stream)
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Needs root (a new network namespace), as the suite runs.
    #[tokio::test]
    async fn connections_reach_listeners_inside_the_namespace_not_the_hosts() {
        // The same port on the host's loopback, to show which one answers.
        let host = StdListener::bind("127.0.0.1:0").unwrap();
        let port = host.local_addr().unwrap().port();
        let (network, mut inside) = PlatformNetwork::create_serving(&[], &[port]).unwrap();
        let inside = inside.remove(0);
        let mut client = network.connect(port).await.unwrap();
        let (mut served, _) = inside.accept().await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        served.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        // The host's listener saw nothing.
        host.set_nonblocking(true).unwrap();
        assert_eq!(
            host.accept().map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        // Nothing listens on another port inside: refused, not the host's.
        let other = StdListener::bind("127.0.0.1:0").unwrap();
        let free = other.local_addr().unwrap().port();
        assert!(network.connect(free).await.is_err());
        // And the pool thread went home: a host connection still works.
        std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
    }
}
