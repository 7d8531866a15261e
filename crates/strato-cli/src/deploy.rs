//! `strato plan` and `strato deploy`: read the manifest, build, upload
//! components by content hash, and ask the server to plan or deploy.

use crate::client::{Client, ServerError};
use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use strato_core::manifest::{ManifestError, SourceMap, parse_manifest_with_sources};
use strato_core::plan::Plan;
use strato_core::spec::DeployedFunction;
use strato_core::{AppSpec, RevisionSpec};

/// A manifest read from disk.
pub struct LoadedApp {
    pub dir: PathBuf,
    pub spec: AppSpec,
    pub sources: SourceMap,
}

pub fn load(dir: &Path) -> Result<LoadedApp> {
    let path = dir.join("strato.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (is this an app directory?)", path.display()))?;
    let (spec, sources) = parse_manifest_with_sources(&text, &path.display().to_string())?;
    Ok(LoadedApp {
        dir: dir.to_path_buf(),
        spec,
        sources,
    })
}

/// Runs each distinct `build` command once, in the app directory.
pub fn build(app: &LoadedApp) -> Result<()> {
    let mut done = BTreeSet::new();
    for (name, f) in &app.spec.functions {
        let Some(command) = &f.build else { continue };
        if !done.insert(command.clone()) {
            continue;
        }
        eprintln!("building {name}: {command}");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&app.dir)
            .status()
            .with_context(|| format!("starting the build of function `{name}`"))?;
        if !status.success() {
            return Err(app
                .sources
                .error_at(
                    &format!("functions.{name}.build"),
                    format!(
                        "build of function `{name}` failed ({status}); fix the build and try again"
                    ),
                )
                .into());
        }
    }
    Ok(())
}

fn component_path(app: &LoadedApp, component: &str) -> PathBuf {
    app.dir.join(component)
}

/// Hashes every component; with `require`, a missing one is an error at its
/// manifest line, else it is planned with a placeholder digest.
/// An artifact the server may lack: a component file, or a Lambda
/// function's packaged code.
struct Artifact {
    /// What the user sees while it uploads.
    label: String,
    digest: String,
    bytes: ArtifactBytes,
}

enum ArtifactBytes {
    File(PathBuf),
    Packaged(Vec<u8>),
}

fn revision(app: &LoadedApp, require: bool) -> Result<(RevisionSpec, Vec<Artifact>)> {
    let mut functions = std::collections::BTreeMap::new();
    let mut files = Vec::new();
    for (name, f) in &app.spec.functions {
        if let Some(lambda) = &f.lambda {
            let (digest, package) = lambda_artifact(app, name, lambda)?;
            if let Some(bytes) = package {
                files.push(Artifact {
                    label: format!("the code of {name}"),
                    digest: digest.clone(),
                    bytes: ArtifactBytes::Packaged(bytes),
                });
            }
            functions.insert(
                name.clone(),
                DeployedFunction {
                    spec: f.clone(),
                    component_digest: digest,
                },
            );
            continue;
        }
        let path = component_path(app, &f.component);
        let digest = match std::fs::read(&path) {
            Ok(bytes) => {
                let digest = hex::encode(Sha256::digest(&bytes));
                files.push(Artifact {
                    label: path.display().to_string(),
                    digest: digest.clone(),
                    bytes: ArtifactBytes::File(path.clone()),
                });
                digest
            }
            Err(_) if !require && f.build.is_some() => {
                eprintln!(
                    "note: {name}: {} is not built yet; `strato deploy` will build it",
                    f.component
                );
                "0".repeat(64)
            }
            Err(e) => {
                return Err(app
                    .sources
                    .error_at(
                        &format!("functions.{name}.component"),
                        format!(
                            "component `{}` of function `{name}` cannot be read ({e}); build it first{}",
                            path.display(),
                            if f.build.is_none() { " or add a `build` command" } else { "" }
                        ),
                    )
                    .into());
            }
        };
        functions.insert(
            name.clone(),
            DeployedFunction {
                spec: f.clone(),
                component_digest: digest,
            },
        );
    }
    Ok((
        RevisionSpec {
            app: app.spec.app.clone(),
            buckets: app.spec.buckets.clone(),
            functions,
            tasks: app.spec.tasks.clone(),
            queues: app.spec.queues.clone(),
            schedules: app.spec.schedules.clone(),
            workflows: workflows(app)?,
            services: app.spec.services.clone(),
        },
        files,
    ))
}

/// Every workflow with its definition read and checked: a mistake is
/// reported at its line in the definition's file.
fn workflows(
    app: &LoadedApp,
) -> Result<std::collections::BTreeMap<strato_core::WorkflowName, strato_core::spec::WorkflowSpec>>
{
    let mut out = std::collections::BTreeMap::new();
    for (name, w) in &app.spec.workflows {
        let at = format!("workflows.{name}.definition");
        let path = app.dir.join(&w.file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            app.sources.error_at(
                &at,
                format!(
                    "the definition of workflow `{name}` ({}) cannot be read: {e}",
                    path.display()
                ),
            )
        })?;
        let yaml = !w.file.ends_with(".json");
        let value: serde_json::Value = if yaml {
            serde_yaml_ng::from_str(&text).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!("{}:{}:", l.line(), l.column()))
                    .unwrap_or_default();
                anyhow::anyhow!("{}:{at} not YAML: {e}", w.file)
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}:{}:{}: not JSON: {e}", w.file, e.line(), e.column())
            })?
        };
        strato_workflow::definition::parse(&value, Some(&text)).map_err(|e| {
            let line = e.line.map(|l| format!("{l}:")).unwrap_or_default();
            let state = e
                .state
                .as_ref()
                .map(|s| format!("state {s:?}: "))
                .unwrap_or_default();
            anyhow::anyhow!("{}:{line} {state}{} (workflow `{name}`)", w.file, e.message)
        })?;
        out.insert(
            name.clone(),
            strato_core::spec::WorkflowSpec {
                file: w.file.clone(),
                // Stored as JSON, as the Step Functions API gives it back.
                definition: if yaml {
                    serde_json::to_string_pretty(&value)?
                } else {
                    text
                },
                on_bucket: w.on_bucket.clone(),
            },
        );
    }
    Ok(out)
}

/// Points a server refusal at the manifest line it is about.
fn locate(app: &LoadedApp, error: anyhow::Error) -> anyhow::Error {
    let Some(server) = error.downcast_ref::<ServerError>() else {
        return error;
    };
    let (section, name) = match ["function", "service"]
        .into_iter()
        .find_map(|kind| Some((kind, server.body.get(kind)?.as_str()?)))
    {
        Some(found) => found,
        None => return error,
    };
    let routes: Option<Vec<String>> = match section {
        "function" => app
            .spec
            .functions
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, f)| f.routes.iter().map(|r| r.to_string()).collect()),
        _ => app
            .spec
            .services
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, s)| s.routes.iter().map(|r| r.to_string()).collect()),
    };
    let section = format!("{section}s.{name}");
    let key = match server.body.get("route").and_then(|v| v.as_str()) {
        Some(route) => match routes.and_then(|r| r.iter().position(|r| r == route)) {
            Some(i) => format!("{section}.routes.{i}"),
            None => section,
        },
        None if section.starts_with("functions.") => format!("{section}.component"),
        None => section,
    };
    let located: ManifestError = app.sources.error_at(&key, server.to_string());
    anyhow!(located)
}

pub async fn plan(dir: &Path, client: &Client) -> Result<()> {
    let app = load(dir)?;
    let (spec, _) = revision(&app, false)?;
    let body = client
        .json(
            client
                .request(reqwest::Method::POST, "/api/v1/plan")
                .json(&spec),
        )
        .await
        .map_err(|e| locate(&app, e))?;
    let plan: Plan = serde_json::from_value(body).context("decoding the plan")?;
    print!("{plan}");
    Ok(())
}

/// What names a Lambda function's artifact, with the bytes to upload: its
/// packaged code directory, or (no upload) the hash of its image
/// reference, which the server's image store resolves.
fn lambda_artifact(
    app: &LoadedApp,
    name: &strato_core::FunctionName,
    lambda: &strato_core::lambda::LambdaSpec,
) -> Result<(String, Option<Vec<u8>>)> {
    use strato_core::lambda::LambdaSource;
    match &lambda.source {
        LambdaSource::Code { code, .. } => {
            let dir = app.dir.join(code);
            let package = crate::package::package_code(&dir).map_err(|e| {
                app.sources.error_at(
                    &format!("functions.{name}.code"),
                    format!("packaging the code of function `{name}`: {e}"),
                )
            })?;
            Ok((package.digest, Some(package.bytes)))
        }
        LambdaSource::Image { image, .. } => {
            Ok((hex::encode(Sha256::digest(image.as_bytes())), None))
        }
    }
}

/// Uploads the artifacts the server lacks.
async fn upload(client: &Client, files: &[Artifact]) -> Result<()> {
    for Artifact {
        label,
        digest,
        bytes,
    } in files
    {
        let url = format!("/api/v1/components/{digest}");
        let head = client
            .send(client.request(reqwest::Method::HEAD, &url))
            .await?;
        if head.status().is_success() {
            continue;
        }
        let bytes = match bytes {
            ArtifactBytes::File(path) => {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            }
            ArtifactBytes::Packaged(bytes) => bytes.clone(),
        };
        eprintln!("uploading {label} ({} KiB)", bytes.len() / 1024);
        client
            .json(client.request(reqwest::Method::PUT, &url).body(bytes))
            .await
            .with_context(|| format!("uploading {label}"))?;
    }
    Ok(())
}

/// The Lambda runtimes `spec` uses whose images the server has not built
/// yet (the deploy builds them); empty if that cannot be told.
async fn runtimes_to_build(client: &Client, spec: &RevisionSpec) -> Vec<String> {
    let mut wanted: Vec<String> = spec
        .functions
        .values()
        .filter_map(|f| match f.spec.lambda.as_ref().map(|l| &l.source) {
            Some(strato_core::lambda::LambdaSource::Code { runtime, .. }) => {
                Some(runtime.as_str().to_string())
            }
            _ => None,
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return wanted;
    }
    let Ok(images) = client
        .json(client.request(reqwest::Method::GET, "/api/v1/images"))
        .await
    else {
        return Vec::new();
    };
    let built: Vec<String> = images
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect();
    wanted.retain(|runtime| {
        let prefix = format!("strato/runtime-{runtime}:");
        !built.iter().any(|name| name.starts_with(&prefix))
    });
    wanted
}

/// Builds, uploads and deploys; returns the revision number and spec.
pub async fn deploy(dir: &Path, client: &Client) -> Result<(i64, RevisionSpec)> {
    let app = load(dir)?;
    build(&app)?;
    deploy_built(&app, client).await
}

pub async fn deploy_built(app: &LoadedApp, client: &Client) -> Result<(i64, RevisionSpec)> {
    let (spec, files) = revision(app, true)?;
    upload(client, &files).await?;
    let started = std::time::Instant::now();
    let building = runtimes_to_build(client, &spec).await;
    let spinner = (!building.is_empty()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner().with_message(format!(
            "getting the {} runtime image{} ready (built from Debian packages once per machine, about a minute)",
            building.join(", "),
            if building.len() > 1 { "s" } else { "" }
        ));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let answer = client
        .json(
            client
                .request(reqwest::Method::POST, "/api/v1/deploy")
                .json(&spec),
        )
        .await;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let body = answer.map_err(|e| locate(app, e))?;
    let number = body
        .get("revision")
        .and_then(|r| r.as_i64())
        .ok_or_else(|| anyhow!("server answered without a revision number"))?;
    let plan: Plan = serde_json::from_value(body["plan"].clone()).context("decoding the plan")?;
    print!("{plan}");
    println!(
        "deployed {} revision {number} in {} ms",
        spec.app,
        started.elapsed().as_millis()
    );
    Ok((number, spec))
}
