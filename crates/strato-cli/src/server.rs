//! `strato server`: wires the store, executor, engine and listeners, and
//! shuts them down gracefully on SIGTERM/SIGINT.

use anyhow::{Context, Result};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use strato_api::ControlConfig;
use strato_engine::{Platform, PlatformConfig, TokenIssuer};
use strato_store::Store;
use strato_store_sqlite::SqliteStore;
use strato_wasm::{WasmConfig, WasmEngine, WasmExecutor};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// Gateway listener (app routes).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    /// Control API listener.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub api: String,
    /// S3 API listener.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub s3: String,
    /// Image registry listener (the OCI Distribution API, `/v2/`).
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub registry: String,
    /// Where the database, components, compile cache and credentials live.
    #[arg(long = "data-dir", default_value = ".strato")]
    pub data_dir: PathBuf,
    /// Most function instances alive at once (sizes the instance pool).
    #[arg(long, default_value_t = 1000)]
    pub max_instances: u32,
    /// How long a request over a function's concurrency waits before a 429.
    #[arg(long, default_value = "2s")]
    pub queue_wait: String,
    /// OCI runtime for container tasks (runc; crun and youki take the same
    /// command line).
    #[arg(long, env = "STRATO_RUNTIME", default_value = "runc")]
    pub runtime: PathBuf,
    /// Where runtime images for Lambda functions (`runtime = "python3.11"`)
    /// are kept once built from Debian packages; share it between data
    /// dirs to build each runtime once per machine. Default:
    /// `<data-dir>/runtime-cache`.
    #[arg(long = "runtime-cache", env = "STRATO_RUNTIME_CACHE")]
    pub runtime_cache: Option<PathBuf>,
    /// Trust this machine's extra CA certificates
    /// (/usr/local/share/ca-certificates) inside runtime image builds, so
    /// pip reaches PyPI through a TLS-inspecting proxy.
    #[arg(long = "trust-host-cas", env = "STRATO_TRUST_HOST_CAS")]
    pub trust_host_cas: bool,
    /// Virtual-host-style S3 requests name their bucket in the host:
    /// `BUCKET.<this domain>` (resolve it to the S3 listener, e.g. with a
    /// wildcard DNS entry). Other hosts use path-style. Empty: path-style
    /// only.
    #[arg(long = "s3-domain", default_value = "s3.localhost")]
    pub s3_domain: String,
    /// How long a day is to bucket lifecycle rules; tests shorten it to
    /// see expirations happen.
    #[arg(long = "lifecycle-day", default_value = "24h", hide = true)]
    pub lifecycle_day: String,
    /// Where state lives: empty for SQLite in the data dir (one machine),
    /// or `postgres://USER:PASSWORD@HOST:PORT/DB` to join a cluster of
    /// nodes sharing that database.
    #[arg(long, env = "STRATO_STORE", default_value = "")]
    pub store: String,
    #[command(flatten)]
    pub blob: BlobArgs,
    /// Memory this node offers container work (default: the machine's).
    #[arg(long = "node-memory")]
    pub node_memory: Option<String>,
    /// CPUs this node offers container work (default: the machine's).
    #[arg(long = "node-cpus")]
    pub node_cpus: Option<f64>,
    /// How often a node of a cluster looks for other nodes' deploys and
    /// changes.
    #[arg(long = "sync-every", default_value = "500ms", hide = true)]
    pub sync_every: String,
    /// How long a node's hold on durable work (a delivery, an async
    /// invocation, a task run) lasts without its heartbeat: when a node
    /// dies, the others take its work over within this long.
    #[arg(long, default_value = "30s")]
    pub lease: String,
    /// How long runs, their logs and delivered bucket events are kept;
    /// older ones are removed hourly. `0` keeps them forever.
    #[arg(long, default_value = "30d")]
    pub retention: String,
    /// An OpenTelemetry collector's OTLP/HTTP base URL
    /// (`http://127.0.0.1:4318`): each run is exported as a span, its
    /// lines as log records.
    #[arg(long = "otlp-endpoint", env = "STRATO_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// Where bytes live, and how to reach them (`strato server`, `strato
/// admin migrate`).
#[derive(clap::Args, Clone, Default)]
pub struct BlobArgs {
    /// Where bytes live (objects, components, code packages): empty for
    /// the data dir; `s3://BUCKET/PREFIX` for an S3-compatible bucket every
    /// node of a cluster uses; or a directory every node mounts
    /// (`/mnt/strato-blobs` or `file:///mnt/strato-blobs`).
    #[arg(long, env = "STRATO_BLOBS", default_value = "")]
    pub blobs: String,
    /// The S3 service of `--blobs s3://…` (default: AWS's; for MinIO,
    /// Garage, Ceph and the like, their URL).
    #[arg(long = "blobs-endpoint", env = "AWS_ENDPOINT_URL_S3")]
    pub blobs_endpoint: Option<String>,
    /// Its region.
    #[arg(long = "blobs-region", env = "AWS_REGION", default_value = "us-east-1")]
    pub blobs_region: String,
    /// Its access key (the standard AWS variables are read too).
    #[arg(
        long = "blobs-access-key-id",
        env = "AWS_ACCESS_KEY_ID",
        default_value = ""
    )]
    pub blobs_access_key_id: String,
    #[arg(
        long = "blobs-secret-access-key",
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub blobs_secret_access_key: String,
}

/// Whether `--store` names PostgreSQL.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the store `--store` names.
async fn open_store(args: &ServerArgs, data_dir: &Path) -> Result<Arc<dyn Store>> {
    if args.store.is_empty() {
        return Ok(Arc::new(
            SqliteStore::open(&data_dir.join("strato.db")).context("opening the store")?,
        ));
    }
    if !is_postgres(&args.store) {
        anyhow::bail!(
            "--store {} is not a postgres:// URL (leave it empty for SQLite in the data dir)",
            args.store
        );
    }
    let store = strato_store_postgres::PostgresStore::connect(&args.store)
        .await
        .context("connecting to PostgreSQL (--store)")?;
    Ok(Arc::new(store))
}

/// Opens the blob store `--blobs` names.
pub async fn open_blobs(args: &BlobArgs, data_dir: &Path) -> Result<strato_engine::BlobStore> {
    if args.blobs.is_empty() {
        return strato_engine::BlobStore::local(&data_dir.join("blobs"))
            .context("opening the blob store");
    }
    if let Some(rest) = args.blobs.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            anyhow::bail!(
                "--blobs {}: name a bucket, as in s3://BUCKET/PREFIX",
                args.blobs
            );
        }
        let config = strato_engine::S3BlobConfig {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: args.blobs_endpoint.clone().filter(|e| !e.is_empty()),
            region: args.blobs_region.clone(),
            access_key_id: args.blobs_access_key_id.clone(),
            secret_access_key: args.blobs_secret_access_key.clone(),
        };
        return strato_engine::BlobStore::s3(&config)
            .await
            .with_context(|| format!("opening the S3 blob store {} (--blobs)", args.blobs));
    }
    let dir = args.blobs.strip_prefix("file://").unwrap_or(&args.blobs);
    Ok(strato_engine::BlobStore::local(Path::new(dir))
        .with_context(|| format!("opening the blob directory {dir} (--blobs)"))?
        .shared())
}

/// The machine's memory, from /proc/meminfo.
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib << 10)
        })
        .unwrap_or(1 << 30)
}

/// A started server.
pub struct RunningServer {
    pub gateway: SocketAddr,
    pub api: SocketAddr,
    pub s3: SocketAddr,
    pub registry: SocketAddr,
    pub admin_token: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    platform: Arc<Platform>,
    data_dir: PathBuf,
}

const GRACE: Duration = Duration::from_secs(30);
/// The region Strato reports to S3 clients and in events.
const REGION: &str = "us-east-1";

/// Writes a file only its owner may read.
fn write_owner_only(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Binds a listener's address without listening yet: the port is taken
/// (and known, for port 0), but nobody can connect until [`listen`], so a
/// client that sees the port open also sees the credentials written.
fn bind(what: &str, addr: &str) -> Result<tokio::net::TcpSocket> {
    let taken = || {
        format!(
            "binding the {what} listener to {addr} (is another server running? pass --{what} to pick another address)"
        )
    };
    let parsed: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .ok()
        .and_then(|mut all| all.next())
        .with_context(|| format!("--{what} {addr} is not a HOST:PORT address"))?;
    let socket = if parsed.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .with_context(taken)?;
    socket.set_reuseaddr(true).with_context(taken)?;
    socket.bind(parsed).with_context(taken)?;
    Ok(socket)
}

fn listen(socket: tokio::net::TcpSocket) -> Result<TcpListener> {
    socket.listen(1024).context("listening")
}

/// A secret every node must agree on (the admin token, the SSE master
/// key): the store keeps the first one any node offers; a node offers the
/// one in its data dir (an existing single-machine deployment's) or a new
/// one, and writes what the store kept back to `file` (owner-only).
async fn shared_secret(
    store: &dyn Store,
    data_dir: &Path,
    file: &str,
    make: impl FnOnce() -> String,
) -> Result<String> {
    let path = data_dir.join(file);
    let offered = std::fs::read_to_string(&path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(make);
    let kept = store
        .init_setting(file, &serde_json::Value::String(offered.clone()))
        .await
        .with_context(|| format!("agreeing on {file} with the store"))?;
    let kept = kept.as_str().unwrap_or(&offered).to_string();
    if std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .ok()
        != Some(kept.clone())
    {
        write_owner_only(&path, &format!("{kept}\n"))?;
    }
    Ok(kept)
}

/// The admin token, the same on every node.
async fn admin_token(store: &dyn Store, data_dir: &Path) -> Result<String> {
    shared_secret(store, data_dir, "admin.token", || {
        format!("stk_admin.{}", hex::encode(rand::random::<[u8; 32]>()))
    })
    .await
}

/// The key that seals SSE-S3 objects' data keys, made on first start and
/// kept in the store and the data dir (hex, owner-only), the same on every
/// node. Losing it loses every SSE-S3 object: back it up with the
/// database.
async fn sse_master_key(
    store: &dyn Store,
    data_dir: &Path,
) -> Result<strato_engine::buckets::sse::MasterKey> {
    let text = shared_secret(store, data_dir, "sse.key", || {
        hex::encode(rand::random::<[u8; 32]>())
    })
    .await?;
    let key: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .with_context(|| {
            format!(
                "{} is not a 32-byte hex key",
                data_dir.join("sse.key").display()
            )
        })?;
    Ok(strato_engine::buckets::sse::MasterKey::new(key))
}

/// This node's id, made on first start and kept in the data dir: the
/// owner of the leases it takes on durable work, the same across restarts
/// so a restarted node takes back its own work and no other node's.
fn node_id(data_dir: &Path) -> Result<strato_store::NodeId> {
    let path = data_dir.join("node.id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim().to_string();
        if !id.is_empty() {
            return Ok(strato_store::NodeId(id));
        }
    }
    let id = format!("n{}", hex::encode(rand::random::<[u8; 8]>()));
    write_owner_only(&path, &format!("{id}\n"))?;
    Ok(strato_store::NodeId(id))
}

pub async fn start(args: &ServerArgs) -> Result<RunningServer> {
    let data_dir = args.data_dir.clone();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let lifecycle_day = strato_core::units::parse_duration_ms(&args.lifecycle_day)
        .map_err(|e| anyhow::anyhow!("--lifecycle-day: {e}"))?
        .max(1);
    let queue_wait = strato_core::units::parse_duration_ms(&args.queue_wait)
        .map_err(|e| anyhow::anyhow!("bad --queue-wait: {e}"))?;
    let lease = strato_core::units::parse_duration_ms(&args.lease)
        .map_err(|e| anyhow::anyhow!("bad --lease: {e}"))?
        .max(300);
    let retention = strato_core::units::parse_duration_ms(&args.retention)
        .map_err(|e| anyhow::anyhow!("bad --retention: {e}"))?;
    let sync_every = strato_core::units::parse_duration_ms(&args.sync_every)
        .map_err(|e| anyhow::anyhow!("bad --sync-every: {e}"))?
        .max(10);
    let node_memory = match &args.node_memory {
        Some(text) => strato_core::units::parse_size_bytes(text)
            .map_err(|e| anyhow::anyhow!("bad --node-memory: {e}"))?,
        None => machine_memory(),
    };
    let store = open_store(args, &data_dir).await?;
    let token = admin_token(&*store, &data_dir).await?;

    let gateway_listener = bind("http", &args.http)?;
    let api_listener = bind("api", &args.api)?;
    let s3_listener = bind("s3", &args.s3)?;
    let registry_listener = bind("registry", &args.registry)?;
    let gateway = gateway_listener.local_addr()?;
    let api = api_listener.local_addr()?;
    let s3 = s3_listener.local_addr()?;
    let registry = registry_listener.local_addr()?;

    let mut wasm_config = WasmConfig::new(data_dir.join("cache").join("wasm"));
    wasm_config.max_instances = args.max_instances;
    let wasm = WasmEngine::new(wasm_config).context("starting the wasm executor")?;
    let blobs = open_blobs(&args.blob, &data_dir).await?;
    // One image store and one container runtime, shared by container
    // tasks and every executor that runs containers.
    let images = Arc::new(
        strato_engine::strato_oci::ImageStore::open(&data_dir.join("images"))
            .context("opening the image store")?,
    );
    images.serve_registry_at(registry);
    let containers = Arc::new(
        strato_engine::strato_oci::ContainerRuntime::new(
            strato_engine::strato_oci::RuntimeConfig {
                runtime: resolve_on_path(&args.runtime),
                state_dir: data_dir.join("runc"),
                runs_dir: data_dir.join("task-runs"),
                cgroup_parent: "strato".into(),
            },
        )
        .context("setting up the container runtime")?,
    );
    let lambda = strato_lambda::LambdaExecutor::new(
        strato_lambda::LambdaConfig {
            code_dir: data_dir.join("lambda").join("code"),
            api_addr: api,
            s3_addr: s3,
            region: REGION.to_string(),
            runtimes: strato_lambda::RuntimeImagesConfig {
                cache_dir: args
                    .runtime_cache
                    .clone()
                    .unwrap_or_else(|| data_dir.join("runtime-cache")),
                trust_host_cas: args
                    .trust_host_cas
                    .then(|| PathBuf::from("/usr/local/share/ca-certificates")),
                mirror: "http://deb.debian.org/debian".into(),
            },
        },
        images.clone(),
        containers.clone(),
    );
    let sse_master_key = sse_master_key(&*store, &data_dir).await?;
    let platform = Platform::start(
        store,
        blobs,
        vec![WasmExecutor::new(wasm), lambda],
        images,
        containers,
        TokenIssuer::new(token.clone()),
        PlatformConfig {
            components_dir: data_dir.join("components"),
            api_url: format!("http://{api}"),
            queue_wait: Duration::from_millis(queue_wait),
            s3_url: format!("http://{s3}"),
            region: REGION.to_string(),
            event_retry_base: Duration::from_secs(1),
            api_addr: api,
            s3_addr: s3,
            node_id: node_id(&data_dir)?,
            lifecycle_day: Duration::from_millis(lifecycle_day),
            sse_master_key,
            lease: Duration::from_millis(lease),
            retention: (retention > 0).then(|| Duration::from_millis(retention)),
            otlp: args
                .otlp_endpoint
                .clone()
                .map(|endpoint| strato_engine::OtlpConfig {
                    endpoint,
                    flush_every: Duration::from_millis(200),
                }),
            cluster: strato_engine::ClusterConfig {
                sync_every: is_postgres(&args.store).then_some(Duration::from_millis(sync_every)),
                addresses: serde_json::json!({
                    "gateway": format!("http://{gateway}"),
                    "api": format!("http://{api}"),
                    "s3": format!("http://{s3}"),
                }),
                memory_bytes: node_memory,
                cpus: args.node_cpus.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
                }),
            },
        },
    )
    .await
    .context("loading deployed apps")?;
    let orphans = platform
        .buckets()
        .collect_orphans()
        .await
        .context("cleaning up unreferenced object bytes")?;
    if orphans > 0 {
        tracing::info!(orphans, "deleted object bytes a crash left unreferenced");
    }
    let admin_key = platform
        .buckets()
        .keys()
        .admin()
        .await
        .context("creating the admin S3 key")?;
    write_owner_only(
        &data_dir.join("s3.credentials"),
        &format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\nregion = {REGION}\n",
            admin_key.id, admin_key.secret
        ),
    )?;

    let (gateway_listener, api_listener, s3_listener, registry_listener) = (
        listen(gateway_listener)?,
        listen(api_listener)?,
        listen(s3_listener)?,
        listen(registry_listener)?,
    );
    let (shutdown, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(strato_api::serve_http1(
        gateway_listener,
        strato_api::gateway::service(platform.clone()),
        stopped(rx.clone()),
        GRACE,
    )));
    tasks.push(tokio::spawn(strato_api::serve_http1(
        s3_listener,
        strato_api::s3::service(
            platform.buckets().clone(),
            REGION,
            Some(args.s3_domain.as_str()).filter(|d| !d.is_empty()),
        ),
        stopped(rx.clone()),
        GRACE,
    )));
    tasks.push(tokio::spawn(strato_api::serve_http1(
        registry_listener,
        strato_api::registry::service(platform.clone()),
        stopped(rx.clone()),
        GRACE,
    )));
    let router = strato_api::control::router(
        platform.clone(),
        ControlConfig {
            admin_token: token.clone().into(),
            max_component_bytes: 64 << 20,
            max_invoke_bytes: 6 << 20,
            region: REGION.into(),
        },
    );
    let api_rx = rx.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(api_listener, router).with_graceful_shutdown(stopped(api_rx));
        if let Err(e) = served.await {
            tracing::error!(error = %e, "control API stopped");
        }
    }));

    let endpoints = serde_json::json!({
        "gateway": format!("http://{gateway}"),
        "api": format!("http://{api}"),
        "s3": format!("http://{s3}"),
        "registry": format!("http://{registry}"),
        "pid": std::process::id(),
    });
    std::fs::write(data_dir.join("endpoints.json"), endpoints.to_string())?;
    Ok(RunningServer {
        gateway,
        api,
        s3,
        registry,
        admin_token: token,
        shutdown,
        tasks,
        platform,
        data_dir,
    })
}

impl RunningServer {
    /// Stops accepting, lets open requests and runs finish, flushes records.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.platform.drain(GRACE).await;
        let _ = std::fs::remove_file(self.data_dir.join("endpoints.json"));
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

pub async fn run(args: ServerArgs) -> Result<()> {
    let server = start(&args).await?;
    println!(
        "strato server ready: gateway http://{} · api http://{} · s3 http://{} · registry {} · data {}",
        server.gateway,
        server.api,
        server.s3,
        server.registry,
        args.data_dir.display()
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// `name` as the absolute path a shell would run, found once here rather
/// than searched along `PATH` by every container start; unchanged if it
/// is a path already or is not found (the runtime check then says so).
fn resolve_on_path(name: &std::path::Path) -> PathBuf {
    if name.components().count() != 1 {
        return name.to_path_buf();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| name.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_found_on_path_once() {
        let sh = resolve_on_path(std::path::Path::new("sh"));
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        let given = std::path::Path::new("/opt/runc");
        assert_eq!(resolve_on_path(given), given);
        let missing = std::path::Path::new("no-such-runtime-here");
        assert_eq!(resolve_on_path(missing), missing);
    }
}
