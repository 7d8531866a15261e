//! Client verbs: apps, destroy, invoke, runs, logs.

use crate::client::Client;
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::time::Duration;

/// Exit the process with this code without printing an error.
#[derive(Debug)]
pub struct ExitCode(pub i32);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for ExitCode {}

pub async fn destroy(client: &Client, app: &str, force: bool) -> Result<()> {
    client
        .json(client.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/apps/{app}?force={force}"),
        ))
        .await?;
    println!("destroyed {app}");
    Ok(())
}

pub async fn apps(client: &Client, output: Output) -> Result<()> {
    let apps = client
        .json(client.request(reqwest::Method::GET, "/api/v1/apps"))
        .await?;
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&apps)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("APP", Align::Left),
        ("REVISION", Align::Right),
        ("FUNCTIONS", Align::Right),
        ("DEPLOYED", Align::Left),
    ]);
    for app in apps.as_array().into_iter().flatten() {
        table.row(vec![
            app["name"].as_str().unwrap_or("?").to_string(),
            app["live_revision"].to_string(),
            app["functions"].to_string(),
            format_time(app["deployed_at_ms"].as_i64().unwrap_or(0)),
        ]);
    }
    table.print();
    Ok(())
}

#[derive(clap::Args)]
pub struct InvokeArgs {
    /// `FUNCTION`, `APP/FUNCTION` or `APP.FUNCTION`.
    function: String,
    /// Path the function sees.
    #[arg(long, default_value = "/")]
    path: String,
    /// HTTP method the function sees.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Request body, or `@FILE` to read it from a file.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Extra request header, `NAME: VALUE` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Queue the invocation durably and return at once with its id; it
    /// runs with retries (`[functions.NAME.async]`).
    #[arg(long = "async")]
    is_async: bool,
    /// Priority of an --async invocation: high, normal or low.
    #[arg(long, requires = "is_async")]
    priority: Option<String>,
    /// Send this JSON event (or `@FILE`) as the function's event, as
    /// `aws lambda invoke` does, instead of an HTTP request; prints the
    /// result.
    #[arg(long, short = 'e', conflicts_with_all = ["path", "method", "data", "headers", "priority"])]
    event: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// `strato invoke --event`: the function's result on stdout, the run on
/// stderr; a function error exits 1.
async fn invoke_event(client: &Client, args: &InvokeArgs, event: &str) -> Result<()> {
    let event = match event.strip_prefix('@') {
        Some(file) => std::fs::read(file).with_context(|| format!("reading {file}"))?,
        None => event.as_bytes().to_vec(),
    };
    serde_json::from_slice::<serde_json::Value>(&event)
        .context("the event must be JSON, e.g. --event '{\"key\": \"value\"}'")?;
    let url = match args.function.split_once('/') {
        Some((app, f)) => format!("/api/v1/apps/{app}/functions/{f}/event"),
        None => format!("/api/v1/functions/{}/event", args.function),
    };
    let request = client
        .request(reqwest::Method::POST, &url)
        .query(&[("async", args.is_async)])
        .header("content-type", "application/json")
        .body(event);
    if args.is_async {
        let answer = client.json(request).await?;
        println!("{}", answer["invocation_id"].as_str().unwrap_or("?"));
        eprintln!("queued; see `strato runs --function {}`", args.function);
        return Ok(());
    }
    let response = client.send(request).await?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (run_id, failed) = (header("x-strato-run-id"), header("x-amz-function-error"));
    let body = response.bytes().await.context("reading the response")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).to_string());
        bail!("{message}");
    }
    std::io::stdout().write_all(&body)?;
    if !body.ends_with(b"\n") {
        println!();
    }
    let run = run_id.as_deref().unwrap_or("-");
    match failed {
        Some(kind) => {
            eprintln!(
                "function error ({kind}) · run {run}; see `strato logs {} --run {run}`",
                args.function
            );
            Err(ExitCode(1).into())
        }
        None => {
            eprintln!("run {run}");
            Ok(())
        }
    }
}

pub async fn invoke(mut args: InvokeArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    // The Lambda API's `APP.FUNCTION` works too (Strato names have no `.`).
    if !args.function.contains('/') {
        args.function = args.function.replacen('.', "/", 1);
    }
    if let Some(event) = &args.event {
        return invoke_event(&client, &args, event).await;
    }
    let url = match args.function.split_once('/') {
        Some((app, f)) => format!("/api/v1/apps/{app}/functions/{f}/invoke"),
        None => format!("/api/v1/functions/{}/invoke", args.function),
    };
    let method = reqwest::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("`{}` is not an HTTP method", args.method))?;
    let mut req = client
        .request(method, &url)
        .header("x-strato-path", &args.path);
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header `{h}` must look like `Name: value`"))?;
        req = req.header(name.trim(), value.trim());
    }
    if args.is_async {
        req = req.header("x-strato-invocation-type", "Event");
        if let Some(p) = &args.priority {
            req = req.header("x-strato-priority", p);
        }
    }
    if let Some(data) = &args.data {
        let body = match data.strip_prefix('@') {
            Some(file) => std::fs::read(file).with_context(|| format!("reading {file}"))?,
            None => data.clone().into_bytes(),
        };
        req = req.body(body);
    }
    let response = client.send(req).await?;
    let status = response.status();
    let run_id = response
        .headers()
        .get("x-strato-run-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let is_control_error = run_id.is_none() && status.as_u16() >= 400;
    let body = response.bytes().await.context("reading the response")?;
    if is_control_error {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).to_string());
        bail!("{message}");
    }
    if args.is_async {
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        println!("{}", answer["invocation_id"].as_str().unwrap_or("?"));
        eprintln!("queued; see `strato runs --function {}`", args.function);
        return Ok(());
    }
    std::io::stdout().write_all(&body)?;
    std::io::stdout().flush()?;
    eprintln!(
        "HTTP {} · run {}",
        status.as_u16(),
        run_id.as_deref().unwrap_or("-")
    );
    if status.as_u16() >= 400 {
        return Err(ExitCode(1).into());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[arg(long)]
    app: Option<String>,
    #[arg(long)]
    function: Option<String>,
    /// queued, running, succeeded, failed, timed_out, throttled or oom_killed.
    #[arg(long)]
    status: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

pub async fn runs(args: RunsArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let mut query = vec![("limit", args.limit.to_string())];
    for (k, v) in [
        ("app", &args.app),
        ("function", &args.function),
        ("status", &args.status),
    ] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    let runs = client
        .json(
            client
                .request(reqwest::Method::GET, "/api/v1/runs")
                .query(&query),
        )
        .await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("RUN", Align::Left),
        ("FUNCTION", Align::Left),
        ("TRIGGER", Align::Left),
        ("STATUS", Align::Left),
        ("STARTED", Align::Left),
        ("DURATION", Align::Right),
        ("COLD", Align::Right),
        ("MEMORY", Align::Right),
        ("BILLED", Align::Right),
        ("HTTP/EXIT", Align::Right),
        ("ERROR", Align::Left),
    ]);
    for r in runs.as_array().into_iter().flatten() {
        let duration_us = r["duration_us"].as_i64().unwrap_or(0);
        let cold = r["cold_start"].as_bool() == Some(true);
        table.row(vec![
            r["id"].as_str().unwrap_or("?").to_string(),
            format!(
                "{}/{}",
                r["app"].as_str().unwrap_or("?"),
                r["function"].as_str().unwrap_or("?")
            ),
            r["trigger"].as_str().unwrap_or("?").to_string(),
            r["status"].as_str().unwrap_or("?").to_string(),
            format_time(r["started_at_ms"].as_i64().unwrap_or(0)),
            format!("{:.2}ms", duration_us as f64 / 1000.0),
            match (cold, r["init_us"].as_i64()) {
                (true, Some(init)) => format!("init {:.1}ms", init as f64 / 1000.0),
                (true, None) => "yes".into(),
                (false, _) => "no".into(),
            },
            strato_core::units::format_size(r["memory_limit_bytes"].as_u64().unwrap_or(0)),
            format!("{}ms", r["billed_ms"]),
            // Functions answer with an HTTP status; tasks end with an exit code.
            match (r["http_status"].as_u64(), r["exit_code"].as_i64()) {
                (Some(s), _) => s.to_string(),
                (None, Some(code)) => format!("exit {code}"),
                _ => "-".into(),
            },
            r["error"].as_str().unwrap_or("").to_string(),
        ]);
    }
    table.print();
    Ok(())
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// `FUNCTION` or `APP/FUNCTION`.
    function: String,
    /// Only this run's lines.
    #[arg(long)]
    run: Option<String>,
    /// Keep streaming new lines as they arrive.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Print the newest this-many lines (then, with -f, every new one).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

pub async fn logs(args: LogsArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let (app, function) = match args.function.split_once('/') {
        Some((a, f)) => (Some(a.to_string()), Some(f.to_string())),
        None => (None, Some(args.function.clone())),
    };
    follow_logs(
        &client,
        app,
        function,
        args.run,
        args.follow,
        args.limit,
        args.output,
    )
    .await
}

/// Prints log lines, and with `follow` keeps polling for new ones.
pub async fn follow_logs(
    client: &Client,
    app: Option<String>,
    function: Option<String>,
    run: Option<String>,
    follow: bool,
    limit: usize,
    output: Output,
) -> Result<()> {
    // First the newest `limit` lines, then everything after them.
    let mut after = 0i64;
    let mut first = true;
    loop {
        let mut query = vec![
            ("after", after.to_string()),
            ("limit", limit.to_string()),
            ("tail", first.to_string()),
        ];
        for (k, v) in [("app", &app), ("function", &function), ("run", &run)] {
            if let Some(v) = v {
                query.push((k, v.clone()));
            }
        }
        let lines = client
            .json(
                client
                    .request(reqwest::Method::GET, "/api/v1/logs")
                    .query(&query),
            )
            .await?;
        let lines = lines.as_array().cloned().unwrap_or_default();
        let mut out = String::new();
        for line in &lines {
            after = after.max(line["seq"].as_i64().unwrap_or(after));
            if output == Output::Json {
                out.push_str(&format!("{line}\n"));
            } else {
                out.push_str(&format!(
                    "{} {}/{} {} {:<6} {}\n",
                    format_time(line["ts_ms"].as_i64().unwrap_or(0)),
                    line["app"].as_str().unwrap_or("?"),
                    line["function"].as_str().unwrap_or("?"),
                    line["run_id"].as_str().unwrap_or("?"),
                    line["stream"].as_str().unwrap_or("?"),
                    line["text"].as_str().unwrap_or("")
                ));
            }
        }
        {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
        if !follow {
            return Ok(());
        }
        // A full page may have more behind it: fetch again at once.
        if first || lines.len() < limit {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        first = false;
    }
}

/// Formats milliseconds since the epoch as RFC 3339 UTC.
pub fn format_time(ms: i64) -> String {
    strato_core::time::format_rfc3339_ms(ms)
}
