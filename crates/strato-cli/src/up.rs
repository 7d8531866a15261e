//! `strato up`: dev mode. Starts an embedded server with its data in
//! `DIR/.strato`, builds and deploys the app, prints its URLs, streams its
//! logs, and rebuilds and redeploys when a source file or component changes.

use crate::client::Client;
use crate::server::{self, ServerArgs};
use crate::{Output, deploy};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(clap::Args)]
pub struct UpArgs {
    /// The app directory (holding strato.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    #[arg(long, default_value = "127.0.0.1:8090")]
    api: String,
    #[arg(long, default_value = "127.0.0.1:9000")]
    s3: String,
    #[arg(long, default_value = "127.0.0.1:5000")]
    registry: String,
    /// Don't watch for changes (build, deploy, serve, stream logs).
    #[arg(long)]
    no_watch: bool,
    /// Where Lambda runtime images are kept once built (as `strato server
    /// --runtime-cache`).
    #[arg(long = "runtime-cache", env = "STRATO_RUNTIME_CACHE")]
    runtime_cache: Option<PathBuf>,
    /// Trust this machine's extra CA certificates inside runtime image
    /// builds (as `strato server --trust-host-cas`).
    #[arg(long = "trust-host-cas", env = "STRATO_TRUST_HOST_CAS")]
    trust_host_cas: bool,
}

/// Directories never watched: build output, Strato's data, VCS metadata.
const IGNORED: [&str; 4] = ["target", ".strato", ".git", "node_modules"];

fn snapshot(dir: &Path, extra: &[PathBuf]) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if !IGNORED.iter().any(|i| name == *i) {
                    stack.push(path);
                }
            } else if let Ok(modified) = meta.modified() {
                out.insert(path, modified);
            }
        }
    }
    for path in extra {
        if let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) {
            out.insert(path.clone(), modified);
        }
    }
    out
}

fn components(dir: &Path) -> Vec<PathBuf> {
    deploy::load(dir)
        .map(|app| {
            app.spec
                .functions
                .values()
                .map(|f| dir.join(&f.component))
                .collect()
        })
        .unwrap_or_default()
}

async fn build_and_deploy(dir: &Path, client: &Client, gateway: &str) -> Result<()> {
    let app = deploy::load(dir)?;
    deploy::build(&app)?;
    let (_, spec) = deploy::deploy_built(&app, client).await?;
    for (name, f) in &spec.functions {
        for route in &f.spec.routes {
            println!("  {name}: {}{}", gateway, route);
        }
    }
    Ok(())
}

pub async fn run(args: UpArgs) -> Result<()> {
    let dir = args.dir.clone();
    // Fail early, before starting anything, if the manifest is wrong.
    let app = deploy::load(&dir)?;
    let server_args = ServerArgs {
        http: args.http,
        api: args.api,
        s3: args.s3,
        registry: args.registry,
        data_dir: dir.join(".strato"),
        max_instances: 1000,
        queue_wait: "2s".into(),
        runtime: "runc".into(),
        runtime_cache: args.runtime_cache.clone(),
        trust_host_cas: args.trust_host_cas,
        lifecycle_day: "24h".into(),
        s3_domain: "s3.localhost".into(),
        store: String::new(),
        blob: Default::default(),
        node_memory: None,
        node_cpus: None,
        sync_every: "500ms".into(),
        lease: "30s".into(),
        retention: "30d".into(),
        otlp_endpoint: std::env::var("STRATO_OTLP_ENDPOINT").ok(),
    };
    let server = server::start(&server_args).await?;
    let gateway = format!("http://{}", server.gateway);
    println!(
        "strato up: gateway http://{} · api http://{} · s3 http://{} · data {}",
        server.gateway,
        server.api,
        server.s3,
        server_args.data_dir.display()
    );
    let client = Client::with(
        format!("http://{}", server.api),
        Some(server.admin_token.clone()),
    );
    if let Err(e) = build_and_deploy(&dir, &client, &gateway).await {
        eprintln!("error: {e:#}");
    }

    let log_client = Client::with(
        format!("http://{}", server.api),
        Some(server.admin_token.clone()),
    );
    let app_name = app.spec.app.to_string();
    let logs = tokio::spawn(async move {
        if let Err(e) = crate::commands::follow_logs(
            &log_client,
            Some(app_name),
            None,
            None,
            true,
            1000,
            Output::Table,
        )
        .await
        {
            eprintln!("log stream stopped: {e:#}");
        }
    });

    let watch = async {
        if args.no_watch {
            std::future::pending::<()>().await;
        }
        let mut seen = snapshot(&dir, &components(&dir));
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = snapshot(&dir, &components(&dir));
            if now == seen {
                continue;
            }
            println!("change detected; rebuilding and redeploying");
            if let Err(e) = build_and_deploy(&dir, &client, &gateway).await {
                eprintln!("error: {e:#}");
            }
            // Our own build rewrote the component; don't redeploy for that.
            seen = snapshot(&dir, &components(&dir));
        }
    };
    tokio::select! {
        _ = watch => {}
        _ = server::shutdown_signal() => {}
    }
    logs.abort();
    println!("stopping");
    server.stop().await;
    Ok(())
}
