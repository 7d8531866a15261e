//! Test support: guest components compiled by the test setup, and a real
//! `strato server` process on ephemeral ports driven by the real CLI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Builds the guest components (once per test binary) and returns the
/// directory holding `kitchen.wasm`, `wstd-hello.wasm`, `cli-only.wasm`.
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = workspace_root();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => PathBuf::from(dir).join("guests"),
            None => root.join("guests/target"),
        };
        let status = Command::new("cargo")
            .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target)
            .current_dir(root.join("guests"))
            .env_remove("RUSTFLAGS")
            .status()
            .expect("running cargo to build guest components");
        assert!(
            status.success(),
            "building guest components failed; is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)"
        );
        target.join("wasm32-wasip2/release")
    })
}

/// Builds the `provided` Lambda function (a native `bootstrap` on AWS's
/// `lambda_runtime` crate, `guests/lambda-native`) once per test binary
/// and returns its path.
pub fn lambda_bootstrap() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => PathBuf::from(dir).join("guests-native"),
            None => root.join("guests/lambda-native/target"),
        };
        let status = Command::new("cargo")
            .args(["build", "--release", "--target-dir"])
            .arg(&target)
            .current_dir(root.join("guests/lambda-native"))
            .env_remove("RUSTFLAGS")
            .status()
            .expect("running cargo to build the provided Lambda function");
        assert!(status.success(), "building guests/lambda-native failed");
        target.join("release/bootstrap")
    })
}

pub fn guest(name: &str) -> String {
    guests().join(format!("{name}.wasm")).display().to_string()
}

pub fn strato_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strato")
}

/// A running `strato server` with its own data dir.
pub struct Server {
    pub data_dir: tempfile::TempDir,
    pub gateway: String,
    pub api: String,
    pub s3: String,
    /// The registry's `host:port`.
    pub registry: String,
    pub token: String,
    child: Option<Child>,
    extra_args: Vec<String>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let mut server = Server {
            data_dir,
            gateway: String::new(),
            api: String::new(),
            s3: String::new(),
            registry: String::new(),
            token: String::new(),
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        server.boot();
        server
    }

    fn boot(&mut self) {
        let endpoints = self.data_dir.path().join("endpoints.json");
        let _ = std::fs::remove_file(&endpoints);
        let log = std::fs::File::create(self.data_dir.path().join("server.log")).unwrap();
        let child = Command::new(strato_bin())
            .args([
                "server",
                "--http",
                "127.0.0.1:0",
                "--api",
                "127.0.0.1:0",
                "--s3",
                "127.0.0.1:0",
                "--registry",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(self.data_dir.path())
            .args(&self.extra_args)
            // Lambda runtime images are built once per machine, outside
            // the clone, and pip inside the build trusts this machine's
            // extra CAs (see ./scripts/env.sh).
            .env("STRATO_RUNTIME_CACHE", runtime_cache())
            .env("STRATO_TRUST_HOST_CAS", "true")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting strato server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&endpoints)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                self.gateway = v["gateway"].as_str().unwrap().to_string();
                self.api = v["api"].as_str().unwrap().to_string();
                self.s3 = v["s3"].as_str().unwrap().to_string();
                self.registry = v["registry"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://")
                    .to_string();
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited early ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.token = std::fs::read_to_string(self.data_dir.path().join("admin.token"))
            .unwrap()
            .trim()
            .to_string();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("server.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a graceful exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(
                        status.success(),
                        "server exited with {status}: {}",
                        self.log()
                    );
                    return;
                }
                assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_stop(&mut self) -> Child {
        let child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child
    }

    pub fn restart(&mut self) {
        self.stop();
        self.boot();
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(strato_bin())
            .args(args)
            .env("STRATO_DATA_DIR", self.data_dir.path())
            .env_remove("STRATO_URL")
            .env_remove("STRATO_TOKEN")
            .output()
            .expect("running the strato CLI")
    }

    /// Runs the CLI and insists it succeeds; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "strato {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI and insists it fails; returns stderr.
    pub fn cli_err(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            !out.status.success(),
            "strato {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// Runs recorded so far (the recorder writes off the request path, so
    /// wait until `want` runs match or a deadline passes).
    pub fn runs_eventually(&self, query: &str, want: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let runs: Vec<serde_json::Value> = reqwest::blocking::Client::new()
                .get(format!("{}/api/v1/runs?{query}", self.api))
                .bearer_auth(&self.token)
                .send()
                .unwrap()
                .json()
                .unwrap();
            if runs.len() >= want || Instant::now() > deadline {
                return runs;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The runs `/api/v1/runs?QUERY` lists now.
    pub fn runs(&self, query: &str) -> Vec<serde_json::Value> {
        client()
            .get(format!("{}/api/v1/runs?{query}", self.api))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// The text of every log line of `app` so far, oldest first.
    pub fn log_texts(&self, app: &str) -> Vec<String> {
        let logs: Vec<serde_json::Value> = client()
            .get(format!("{}/api/v1/logs?app={app}&limit=10000", self.api))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        logs.iter()
            .map(|l| l["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    pub fn metric(&self, name: &str) -> f64 {
        let text = reqwest::blocking::get(format!("{}/metrics", self.api))
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("metric {name} not found in {text}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_containers(self.data_dir.path());
    }
}

/// Removes what a killed server left of its containers (replicas, Lambda
/// environments, task runs) and their mounts. A server restarted on the
/// same data dir would clean them up itself; a test's data dir is going
/// away, and without this each test left them running on the machine.
fn remove_containers(data_dir: &std::path::Path) {
    let state = data_dir.join("runc");
    if state.exists() {
        let listed = std::process::Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["list", "-q"])
            .output();
        for id in listed
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
        {
            let _ = std::process::Command::new("runc")
                .arg("--root")
                .arg(&state)
                .args(["delete", "--force", id])
                .output();
        }
    }
    let data = data_dir.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|t| t.starts_with(data.as_str()))
        .collect();
    // The deepest first.
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for target in targets {
        if let Ok(c) = std::ffi::CString::new(target) {
            // SAFETY: `c` is a valid path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// `runc list` of a server's runc state directory (`<data-dir>/runc`).
pub fn runc_list(state_dir: &std::path::Path) -> String {
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(state_dir)
        .arg("list")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where every test server keeps Lambda runtime images.
pub fn runtime_cache() -> std::path::PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    std::path::PathBuf::from(home).join(".cache/strato-runtimes")
}

/// A temporary app directory with a `strato.toml`.
pub struct AppDir {
    pub dir: tempfile::TempDir,
}

impl AppDir {
    pub fn new(manifest: &str) -> AppDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("strato.toml"), manifest).unwrap();
        AppDir { dir }
    }

    pub fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// Writes `text` to `rel` inside the app directory.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn rewrite(&self, manifest: &str) {
        std::fs::write(self.dir.path().join("strato.toml"), manifest).unwrap();
    }
}

/// Polls `check` every 50 ms until it holds; fails the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl Server {
    /// Boots again on the same data dir after the process exited by itself.
    pub fn restart_after_exit(&mut self) {
        assert!(self.child.is_none());
        self.boot();
    }
}

impl Server {
    /// Kills the server with SIGKILL (no shutdown work at all).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// The admin S3 key pair from `<data-dir>/s3.credentials`.
    pub fn admin_key(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.data_dir.path().join("s3.credentials")).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
                .unwrap_or_else(|| panic!("{name} missing from s3.credentials"))
        };
        (field("aws_access_key_id"), field("aws_secret_access_key"))
    }

    /// An AWS SDK S3 client signed with the admin key.
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        let (id, secret) = self.admin_key();
        self.s3_client_with(&id, &secret)
    }

    /// An AWS SDK S3 client for this server with the given key pair.
    pub fn s3_client_with(&self, id: &str, secret: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .endpoint_url(&self.s3)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "strato-test",
            ))
            .force_path_style(true)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// A runtime for tests driving async clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Bucket events not yet delivered (from the metrics).
    pub fn pending_events(&self) -> u64 {
        self.metric("strato_bucket_events_pending") as u64
    }
}

/// Python that starts Debian's headless Chromium under Selenium (no browser
/// download): `driver = chrome()`, with a fresh profile in `$PROFILE`; and
/// `serve_page(page)`, a page of another origin.
pub const CHROME_PY: &str = r#"
import os
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

def serve_page(page):
    """Serves page["html"] (as it is when asked) on a port of its own: a
    page of another origin. Returns the port."""
    import http.server, socketserver, threading
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]

def chrome(size="1280,900"):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--window-size={size}", f"--user-data-dir={os.environ['PROFILE']}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
"#;

/// The venv with the aws CLI and boto3 from PyPI that `scripts/test.sh`
/// installs (`STRATO_PY`).
pub fn py_tools() -> std::path::PathBuf {
    let dir = std::env::var_os("STRATO_PY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("HOME")).join(".cache/strato-py"));
    assert!(
        dir.join("bin/aws").exists() && dir.join("bin/python").exists(),
        "no aws CLI and boto3 in {}; run ./scripts/test.sh, which installs them from PyPI",
        dir.display()
    );
    dir
}

impl Server {
    /// Runs a boto3 script against this server's S3 API, as the admin key
    /// (`ENDPOINT`, `KEY`, `SECRET` in its environment); fails the test
    /// with its output if it fails.
    pub fn boto3(&self, what: &str, script: &str) -> String {
        self.boto3_with(what, script, &[])
    }

    /// [`Server::boto3`] with more environment for the script.
    pub fn boto3_with(&self, what: &str, script: &str, env: &[(&str, &str)]) -> String {
        let (key, secret) = self.admin_key();
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("script.py");
        std::fs::write(&path, script).unwrap();
        let out = std::process::Command::new(py_tools().join("bin/python"))
            .arg(&path)
            .env("ENDPOINT", &self.s3)
            .env("KEY", &key)
            .env("SECRET", &secret)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{what} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs the aws CLI from PyPI against this server's S3 API as the
    /// admin key: its exit success, stdout and stderr.
    pub fn aws(&self, args: &[&str]) -> (bool, String, String) {
        let (key, secret) = self.admin_key();
        let out = std::process::Command::new(py_tools().join("bin/aws"))
            .args(["--endpoint-url", &self.s3, "--region", "us-east-1"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// [`Server::aws`] that must succeed; its stdout.
    pub fn aws_ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.aws(args);
        assert!(ok, "aws {args:?}: {stdout}\n{stderr}");
        stdout
    }
}
