//! A throwaway S3 server for tests and benchmarks: moto's server mode
//! (`moto_server`, from PyPI's `moto[server]`; the test command installs it
//! into the Python tools venv `STRATO_PY`), on a free port of 127.0.0.1.
//! It stops when the [`MotoServer`] is dropped or, if it never is (a
//! static), when the process that started it exits: a small shell holds
//! it and stops it when its standard input, a pipe from this process,
//! closes. Not a mock: a real S3 API over HTTP, with its own
//! implementation of multipart uploads, listings and errors.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto S3 server.
pub struct MotoServer {
    port: u16,
    keeper: Child,
}

/// Where `moto_server` is: `$STRATO_PY/bin`, else on `PATH`.
fn moto_bin() -> PathBuf {
    if let Some(py) = std::env::var_os("STRATO_PY") {
        let bin = PathBuf::from(py).join("bin").join("moto_server");
        if bin.exists() {
            return bin;
        }
    }
    PathBuf::from("moto_server")
}

/// One HTTP/1.1 request without a body; the status code.
fn request(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {answer:.80}")))
}

impl MotoServer {
    /// Starts a server; blocks until it answers.
    pub fn start() -> Result<MotoServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let bin = moto_bin();
        let keeper = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#""$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 & pid=$!; read -r _; kill "$pid"; wait "$pid""#)
            .arg("sh")
            .arg(&bin)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let server = MotoServer { port, keeper };
        let deadline = Instant::now() + Duration::from_secs(30);
        while request(port, "GET", "/").is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer on port {port} in 30 s (install it with `pip install 'moto[server]'`)",
                    bin.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes any credentials).
    pub fn create_bucket(&self, name: &str) -> Result<(), String> {
        match request(self.port, "PUT", &format!("/{name}")) {
            Ok(200) => Ok(()),
            Ok(code) => Err(format!("creating bucket {name}: HTTP {code}")),
            Err(e) => Err(format!("creating bucket {name}: {e}")),
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.keeper.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.keeper.wait();
    }
}
