//! The floor of a service's scale from zero: bare `runc run -d` of a
//! bundle (runc's own default spec: a new network namespace), then, from a
//! thread that joined that namespace, connections to 127.0.0.1:PORT every
//! millisecond until one is accepted, and `GET /` until its first byte.
//! `svcfloor STATE_DIR BUNDLE PORT N` prints one line: the N times in ms.
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn runc(state: &str) -> Command {
    let mut cmd = Command::new("runc");
    cmd.arg("--root").arg(state);
    cmd
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (state, bundle) = (&args[1], &args[2]);
    let port: u16 = args[3].parse().expect("port");
    let n: usize = args[4].parse().expect("count");
    let mut times = Vec::new();
    for i in 0..n {
        let id = format!("floor{i}");
        let pid_file = format!("{bundle}/pid");
        let started = Instant::now();
        let status = runc(state)
            .args(["run", "-d", "--pid-file", &pid_file, "--bundle", bundle, &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .expect("runc run");
        assert!(status.success(), "runc run failed");
        let pid = std::fs::read_to_string(&pid_file).expect("pid file");
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", pid.trim())).expect("netns");
        // SAFETY: this thread joins the container's network namespace and
        // ends right after.
        let first_byte = std::thread::spawn(move || {
            assert_eq!(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
            let mut stream = loop {
                match std::net::TcpStream::connect(("127.0.0.1", port)) {
                    Ok(s) => break s,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            };
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: floor\r\n\r\n")
                .unwrap();
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).unwrap();
            started.elapsed()
        })
        .join()
        .unwrap();
        times.push(first_byte.as_secs_f64() * 1000.0);
        let _ = runc(state).args(["kill", &id, "KILL"]).status();
        for _ in 0..200 {
            if runc(state)
                .args(["delete", "-f", &id])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let text: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
    println!("{}", text.join(" "));
}
