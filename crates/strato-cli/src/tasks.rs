//! `strato task run` and `strato image import|pull|build|ls|rm|gc`.

use crate::client::Client;
use crate::commands::{ExitCode, format_time};
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(clap::Subcommand)]
enum TaskCommand {
    /// Start a run of a deployed task: `strato task run APP/TASK [-- CMD...]`.
    Run {
        /// `APP/TASK`.
        task: String,
        /// Extra environment variable `K=V` (repeatable).
        #[arg(long = "env", short = 'e')]
        env: Vec<String>,
        /// Replace the image's entrypoint.
        #[arg(long)]
        entrypoint: Option<String>,
        /// Stream the run's output and exit with its exit code.
        #[arg(long)]
        wait: bool,
        /// Replaces the task's command.
        #[arg(last = true)]
        command: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Cancel a queued or running task run: `strato task cancel RUN_ID`
    /// (a running one gets SIGTERM, then SIGKILL after its stop timeout).
    Cancel {
        /// The run's id (`strato runs`).
        run: String,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn task(args: TaskArgs) -> Result<()> {
    match args.command {
        TaskCommand::Run {
            task,
            env,
            entrypoint,
            wait,
            command,
            target,
        } => {
            let client = Client::new(&target)?;
            let (app, name) = task
                .split_once('/')
                .ok_or_else(|| anyhow!("name the task as APP/TASK, e.g. thumbnailer/ffmpeg"))?;
            let mut vars = BTreeMap::new();
            for kv in env {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--env takes K=V, not {kv:?}"))?;
                vars.insert(k.to_string(), v.to_string());
            }
            let mut body = serde_json::json!({ "env": vars });
            if !command.is_empty() {
                body["command"] = serde_json::json!(command);
            }
            if let Some(e) = entrypoint {
                body["entrypoint"] = serde_json::json!([e]);
            }
            let run = client
                .json(
                    client
                        .request(
                            reqwest::Method::POST,
                            &format!("/api/v1/apps/{app}/tasks/{name}/runs"),
                        )
                        .json(&body),
                )
                .await?;
            let id = run["id"].as_str().unwrap_or("?").to_string();
            if !wait {
                println!("{id}");
                return Ok(());
            }
            wait_for_run(&client, &id).await
        }
        TaskCommand::Cancel { run, target } => {
            let client = Client::new(&target)?;
            let answer = client
                .json(client.request(reqwest::Method::POST, &format!("/api/v1/runs/{run}/cancel")))
                .await?;
            match answer["status"].as_str() {
                Some("stopping") => println!("{run}: stopping its container"),
                _ => println!("{run}: cancelled before it started"),
            }
            Ok(())
        }
    }
}

/// Streams a run's output until it ends, then exits with its exit code.
async fn wait_for_run(client: &Client, id: &str) -> Result<()> {
    let mut after = 0i64;
    loop {
        // Long poll: answers at once when the run ends.
        let run = client
            .json(
                client
                    .request(reqwest::Method::GET, &format!("/api/v1/runs/{id}"))
                    .query(&[("wait", "250ms")]),
            )
            .await?;
        let status = run["status"].as_str().unwrap_or("?").to_string();
        // Read the logs after the status: a run seen ended has all its
        // lines stored.
        loop {
            let lines = client
                .json(
                    client
                        .request(reqwest::Method::GET, "/api/v1/logs")
                        .query(&[
                            ("run", id.to_string()),
                            ("after", after.to_string()),
                            ("limit", "1000".to_string()),
                        ]),
                )
                .await?;
            let lines = lines.as_array().cloned().unwrap_or_default();
            for line in &lines {
                after = after.max(line["seq"].as_i64().unwrap_or(after));
                let text = line["text"].as_str().unwrap_or("");
                if line["stream"] == "stderr" {
                    eprintln!("{text}");
                } else {
                    println!("{text}");
                }
            }
            if lines.len() < 1000 {
                break;
            }
        }
        std::io::stdout().flush()?;
        if !matches!(status.as_str(), "queued" | "running") {
            let code = run["exit_code"].as_i64();
            if status != "succeeded" {
                eprintln!(
                    "run {id} {status}: {}",
                    run["error"].as_str().unwrap_or("no detail")
                );
            }
            return match (status.as_str(), code) {
                ("succeeded", _) => Ok(()),
                (_, Some(c)) if c != 0 => Err(ExitCode(c as i32).into()),
                _ => Err(ExitCode(1).into()),
            };
        }
    }
}

#[derive(clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(clap::Subcommand)]
enum ImageCommand {
    /// Import a `docker save` / OCI archive (or, with --rootfs, a plain
    /// rootfs tarball) into the server's image store.
    Import {
        file: PathBuf,
        /// Name for the image (required with --rootfs).
        #[arg(long, short = 't')]
        tag: Option<String>,
        /// FILE is a plain rootfs tarball, imported as one layer.
        #[arg(long)]
        rootfs: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Pull an image from an OCI registry (`busybox`, `localhost:5000/app:1`).
    Pull {
        reference: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long, env = "STRATO_REGISTRY_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Build DIR's Dockerfile with buildah and import the result (or,
    /// with --push, push it to the server's registry as TAG).
    Build {
        dir: PathBuf,
        #[arg(long, short = 't')]
        tag: String,
        /// Push to Strato's registry instead of importing.
        #[arg(long)]
        push: bool,
        #[command(flatten)]
        registry: RegistryTarget,
        #[command(flatten)]
        target: Target,
    },
    /// List images.
    Ls {
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
        #[command(flatten)]
        target: Target,
    },
    /// Delete registry manifests no tag reaches and blobs nothing uses.
    Gc {
        /// Keep unused blobs younger than this (imports in flight).
        #[arg(long, default_value = "10m")]
        grace: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove an image name (its layers go when no image uses them).
    Rm {
        name: String,
        /// Remove it even if a deployed task uses it.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn image(args: ImageArgs) -> Result<()> {
    match args.command {
        ImageCommand::Import {
            file,
            tag,
            rootfs,
            target,
        } => import(&Client::new(&target)?, &file, tag.as_deref(), rootfs).await,
        ImageCommand::Pull {
            reference,
            username,
            password,
            target,
        } => pull(&Client::new(&target)?, &reference, username, password).await,
        ImageCommand::Build {
            dir,
            tag,
            push,
            registry,
            target,
        } => {
            let push = push.then(|| registry.resolve(&target)).transpose()?;
            build(&Client::new(&target)?, &dir, &tag, push).await
        }
        ImageCommand::Ls { output, target } => list(&Client::new(&target)?, output).await,
        ImageCommand::Gc { grace, target } => {
            let client = Client::new(&target)?;
            let report = client
                .json(
                    client
                        .request(reqwest::Method::POST, "/api/v1/images/gc")
                        .query(&[("grace", grace)]),
                )
                .await?;
            println!(
                "deleted {} manifests and {} blobs ({})",
                report["manifests"],
                report["blobs"],
                human_size(report["bytes"].as_u64().unwrap_or(0))
            );
            Ok(())
        }
        ImageCommand::Rm {
            name,
            force,
            target,
        } => {
            let client = Client::new(&target)?;
            client
                .json(
                    client
                        .request(reqwest::Method::DELETE, &format!("/api/v1/images/{name}"))
                        .query(&[("force", force.to_string())]),
                )
                .await?;
            println!("removed {name}");
            Ok(())
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
        .expect("a valid template")
        .progress_chars("=> ")
}

/// Uploads an archive with a progress bar and prints what was imported.
pub async fn import(client: &Client, file: &Path, tag: Option<&str>, rootfs: bool) -> Result<()> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let size = handle.metadata().await?.len();
    let bar = ProgressBar::new(size).with_style(bar_style());
    bar.set_message("uploading");
    let progress = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(handle, 1 << 20);
    let stream = futures::StreamExt::inspect(stream, move |chunk| {
        if let Ok(c) = chunk {
            progress.inc(c.len() as u64);
        }
    });
    let mut query = vec![("rootfs", rootfs.to_string())];
    if let Some(t) = tag {
        query.push(("tag", t.to_string()));
    }
    let req = client
        .request(reqwest::Method::POST, "/api/v1/images")
        .query(&query)
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(stream));
    let imported = client.json(req).await;
    bar.finish_and_clear();
    for image in imported?.as_array().cloned().unwrap_or_default() {
        println!(
            "imported {} ({}, {} layers, {})",
            image["name"].as_str().unwrap_or("?"),
            image["id"].as_str().unwrap_or("?"),
            image["layers"],
            human_size(image["size"].as_u64().unwrap_or(0))
        );
    }
    Ok(())
}

async fn pull(
    client: &Client,
    reference: &str,
    username: Option<String>,
    password: Option<String>,
) -> Result<()> {
    let mut body = serde_json::json!({ "reference": reference });
    if let (Some(u), Some(p)) = (username, password) {
        body["username"] = u.into();
        body["password"] = p.into();
    }
    let response = client
        .send(
            client
                .request(reqwest::Method::POST, "/api/v1/images/pull")
                .json(&body),
        )
        .await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "pull refused ({status}): {}",
            response.text().await.unwrap_or_default()
        );
    }
    let bars = MultiProgress::new();
    let mut by_layer: HashMap<String, ProgressBar> = HashMap::new();
    let mut pending = String::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        pending.push_str(&String::from_utf8_lossy(
            &chunk.context("reading the pull's progress")?,
        ));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let event: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
            if let Some(layer) = event["layer"].as_str() {
                let bar = by_layer.entry(layer.to_string()).or_insert_with(|| {
                    let b = bars.add(ProgressBar::new(0).with_style(bar_style()));
                    b.set_message(layer.to_string());
                    b
                });
                bar.set_length(event["total"].as_u64().unwrap_or(0));
                bar.set_position(event["done"].as_u64().unwrap_or(0));
            } else if let Some(error) = event["error"].as_str() {
                bars.clear().ok();
                bail!("{error}");
            } else if let Some(images) = event["images"].as_array() {
                bars.clear().ok();
                for image in images {
                    println!(
                        "pulled {} ({}, {} layers, {})",
                        image["name"].as_str().unwrap_or("?"),
                        image["id"].as_str().unwrap_or("?"),
                        image["layers"],
                        human_size(image["size"].as_u64().unwrap_or(0))
                    );
                }
                return Ok(());
            }
        }
    }
    bail!("the server ended the pull without a result")
}

/// Where `--push` sends an image, and with which access key.
#[derive(clap::Args)]
struct RegistryTarget {
    /// The registry's `host:port` (default: the local server's, else
    /// 127.0.0.1:5000).
    #[arg(long, env = "STRATO_REGISTRY")]
    registry: Option<String>,
    /// Access key id (default: AWS_ACCESS_KEY_ID, else the local server's
    /// admin key).
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "STRATO_REGISTRY_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// A registry address and the `id:secret` to push with.
struct Push {
    registry: String,
    creds: String,
}

impl RegistryTarget {
    fn resolve(self, target: &Target) -> Result<Push> {
        let data_dir = target
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".strato"));
        let registry = self
            .registry
            .filter(|r| !r.trim().is_empty())
            .or_else(|| {
                crate::client::read_endpoints(&data_dir)?["registry"]
                    .as_str()
                    .map(|r| r.trim_start_matches("http://").to_string())
            })
            .unwrap_or_else(|| "127.0.0.1:5000".to_string());
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let local = || -> Option<(String, String)> {
            let text = std::fs::read_to_string(data_dir.join("s3.credentials")).ok()?;
            let value = |key: &str| {
                text.lines().find_map(|l| {
                    l.strip_prefix(key)?
                        .trim()
                        .strip_prefix('=')
                        .map(|v| v.trim().to_string())
                })
            };
            Some((value("aws_access_key_id")?, value("aws_secret_access_key")?))
        };
        let (id, secret) = match (self.username, self.password) {
            (Some(id), Some(secret)) => (id, secret),
            (Some(_), None) | (None, Some(_)) => bail!("pass both --username and --password"),
            (None, None) => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => (id, secret),
                _ => local().context(
                    "no access key to push with: pass --username/--password, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run beside the server's data dir",
                )?,
            },
        };
        Ok(Push {
            registry,
            creds: format!("{id}:{secret}"),
        })
    }
}

async fn build(client: &Client, dir: &Path, tag: &str, push: Option<Push>) -> Result<()> {
    let have = std::process::Command::new("buildah")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        bail!("`strato image build` uses buildah, which is not installed: apt-get install buildah");
    }
    let archive = std::env::temp_dir().join(format!("strato-build-{}.tar", std::process::id()));
    let run = |args: &[&str]| -> Result<()> {
        let status = std::process::Command::new("buildah")
            .args(args)
            .status()
            .context("running buildah")?;
        if !status.success() {
            bail!("buildah {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    let dir_text = dir.display().to_string();
    // chroot isolation: RUN steps need no nested runtime or cgroup setup.
    run(&["bud", "--isolation", "chroot", "-t", tag, &dir_text])?;
    if let Some(push) = push {
        let dest = format!("docker://{}/{tag}", push.registry);
        // Strato's registry speaks plain HTTP on loopback by default.
        run(&[
            "push",
            "--tls-verify=false",
            "--creds",
            &push.creds,
            tag,
            &dest,
        ])?;
        println!("pushed {}/{tag}", push.registry);
        return Ok(());
    }
    let dest = format!("oci-archive:{}:{tag}", archive.display());
    run(&["push", tag, &dest])?;
    let result = import(client, &archive, Some(tag), false).await;
    let _ = std::fs::remove_file(&archive);
    result
}

async fn list(client: &Client, output: Output) -> Result<()> {
    let images = client
        .json(client.request(reqwest::Method::GET, "/api/v1/images"))
        .await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&images)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("ID", Align::Left),
        ("LAYERS", Align::Right),
        ("SIZE", Align::Right),
        ("CREATED", Align::Left),
    ]);
    for i in images.as_array().cloned().unwrap_or_default() {
        table.row(vec![
            i["name"].as_str().unwrap_or("?").to_string(),
            i["id"].as_str().unwrap_or("?").to_string(),
            i["layers"].to_string(),
            human_size(i["size"].as_u64().unwrap_or(0)),
            format_time(i["created_ms"].as_i64().unwrap_or(0)),
        ]);
    }
    table.print();
    Ok(())
}

pub(crate) fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
