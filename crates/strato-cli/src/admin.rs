//! `strato admin migrate`: moves a single-machine deployment (SQLite and
//! blobs in a data dir) into a cluster's PostgreSQL and blob store, with
//! nothing lost, saying what it moved. Run it with the server stopped;
//! then start nodes on the new store.

use crate::server::{BlobArgs, open_blobs};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::sync::Arc;
use strato_store::prelude::*;

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Move a stopped single-machine deployment into PostgreSQL and a
    /// shared blob store (a new cluster's, still empty).
    Migrate(MigrateArgs),
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// The data dir of the deployment to move (its server stopped).
    #[arg(long = "data-dir", default_value = ".strato")]
    data_dir: PathBuf,
    /// The cluster's database: `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(long, env = "STRATO_STORE")]
    store: String,
    #[command(flatten)]
    blob: BlobArgs,
}

pub async fn run(args: AdminArgs) -> Result<()> {
    match args.command {
        AdminCommand::Migrate(args) => migrate(args).await,
    }
}

/// Rows moved per statement.
const BATCH: usize = 1000;

async fn migrate(args: MigrateArgs) -> Result<()> {
    let old = &args.data_dir;
    let db = old.join("strato.db");
    if !db.exists() {
        bail!(
            "{} has no strato.db: pass the data dir of the deployment to move with --data-dir",
            old.display()
        );
    }
    if let Ok(text) = std::fs::read_to_string(old.join("endpoints.json"))
        && let Some(pid) = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["pid"].as_u64())
        && std::path::Path::new(&format!("/proc/{pid}")).exists()
    {
        bail!(
            "a server (pid {pid}) is running on {}: stop it first, so nothing changes while it moves",
            old.display()
        );
    }
    if args.blob.blobs.is_empty() {
        bail!(
            "--blobs is required: the cluster's blob store (s3://BUCKET/PREFIX or a shared directory)"
        );
    }
    let source =
        strato_store_sqlite::SqliteStore::open(&db).context("opening the data dir's store")?;
    let target = Arc::new(
        strato_store_postgres::PostgresStore::connect(&args.store)
            .await
            .context("connecting to PostgreSQL (--store)")?,
    );
    if !target.is_empty().await? {
        bail!(
            "the database already holds a deployment (apps, buckets, keys or runs): migrate into an empty one"
        );
    }

    println!("moving state from {} into PostgreSQL", db.display());
    let runtime = tokio::runtime::Handle::current();
    for table in strato_store_sqlite::export::TABLES {
        let mut moved = 0;
        let exported = tokio::task::block_in_place(|| {
            source.export_table(table, BATCH, |rows| {
                moved += runtime.block_on(target.import_rows(table, rows))?;
                Ok(())
            })
        })
        .with_context(|| format!("moving table {table}"))?;
        if exported != moved {
            bail!("table {table}: read {exported} rows but wrote {moved}");
        }
        println!("  {table:<16} {moved:>9} rows");
    }
    target.finish_import().await?;
    // Secrets from before they were kept in the store.
    for file in ["admin.token", "sse.key"] {
        if let Ok(text) = std::fs::read_to_string(old.join(file)) {
            let value = serde_json::Value::String(text.trim().to_string());
            target.init_setting(file, &value).await?;
        }
    }

    let from =
        strato_engine::BlobStore::local(&old.join("blobs")).context("opening the old blobs")?;
    let to = open_blobs(&args.blob, old).await?;
    let ids = from.list_ids().await?;
    println!("moving {} object blobs to {}", ids.len(), args.blob.blobs);
    let mut bytes = 0;
    for id in &ids {
        bytes += from
            .copy_to(id, &to)
            .await
            .with_context(|| format!("copying blob {id}"))?;
    }
    let mut artifacts = 0;
    if let Ok(entries) = std::fs::read_dir(old.join("components")) {
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(digest) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wasm"))
            else {
                continue;
            };
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            to.put_artifact(digest, data.into()).await?;
            artifacts += 1;
        }
    }
    println!("  blobs            {:>9} ({bytes} bytes)", ids.len());
    println!("  artifacts        {artifacts:>9} (components and code packages)");
    let images = move_images(old, target.clone(), to).await?;
    println!("  images           {images:>9} (names, with their layers)");
    println!(
        "done: start nodes with --store {} --blobs {} (the admin token and S3 keys are the old ones)",
        redact(&args.store),
        args.blob.blobs
    );
    Ok(())
}

/// Publishes every image of the old image store to the cluster's catalog
/// (blobs into the shared store, then names); returns how many names.
async fn move_images(
    old: &std::path::Path,
    target: Arc<strato_store_postgres::PostgresStore>,
    to: strato_engine::BlobStore,
) -> Result<usize> {
    let dir = old.join("images");
    if !dir.is_dir() {
        return Ok(0);
    }
    let images =
        strato_engine::strato_oci::ImageStore::open(&dir).context("opening the old image store")?;
    images.share_through(Arc::new(strato_engine::SharedImages::new(target, to)));
    let moved = tokio::task::spawn_blocking(move || images.publish_local_images())
        .await?
        .context("moving images")?;
    Ok(moved)
}

/// A connection string without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}
