//! A throwaway PostgreSQL server for tests and benchmarks: `initdb` in a
//! temporary directory, started on a free port of 127.0.0.1, as an
//! unprivileged user when run as root (PostgreSQL refuses root). The
//! server stops when the [`TestCluster`] is dropped or, if it never is
//! (a static), when the process that started it exits: a small shell
//! holds the server and stops it when its standard input, a pipe from
//! this process, closes.
//!
//! Not a mock: the real server from Debian's `postgresql` package
//! (`/usr/lib/postgresql/*/bin`, or `STRATO_PG_BIN`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running PostgreSQL server and its data directory.
pub struct TestCluster {
    port: u16,
    dir: PathBuf,
    keeper: Child,
    databases: AtomicUsize,
}

/// Where PostgreSQL's programs are.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("STRATO_PG_BIN") {
        return Ok(dir.into());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("PostgreSQL is not installed (/usr/lib/postgresql: {e}); install Debian's `postgresql` package or set STRATO_PG_BIN"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_string())
}

/// A command run as the unprivileged `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    if unsafe { libc_geteuid() } == 0 {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

impl TestCluster {
    /// Creates and starts a server; blocks until it accepts connections.
    pub fn start() -> Result<TestCluster, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let bin = bin_dir()?;
        let dir = std::env::temp_dir().join(format!(
            "strato-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let root = unsafe { libc_geteuid() } == 0;
        if root {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(&dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("chown postgres: failed (does the `postgres` user exist?)".into());
            }
        }
        let data = dir.join("data");
        let out = as_owner(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "strato",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port()?;
        // The keeper: starts the server, waits for its stdin to close (this
        // process dropping the cluster, or exiting), then stops the server
        // (fast shutdown) and removes the directory.
        let script = r#"
            "$1/postgres" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
                -c max_connections=300 -c shared_buffers=64MB >"$2/log" 2>&1 &
            pid=$!
            read -r _
            kill -INT "$pid"
            wait "$pid"
            rm -rf "$2"
        "#;
        let keeper = as_owner(Path::new("/bin/sh"))
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&bin)
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let cluster = TestCluster {
            port,
            dir,
            keeper,
            databases: AtomicUsize::new(0),
        };
        cluster.wait_ready(&bin)?;
        Ok(cluster)
    }

    fn wait_ready(&self, bin: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                return Err(format!("postgres did not start in 30 s: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://strato@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::SeqCst));
        self.create_database(&name).await;
        self.url(&name)
    }

    /// Creates database `name` (owned by the cluster's superuser).
    pub async fn create_database(&self, name: &str) {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .expect("connecting to the test cluster");
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        drop(client);
        let _ = task.await;
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.keeper.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.keeper.wait();
    }
}
