//! `strato workflow start|ls|describe|history|stop`: executions of an
//! app's workflows (Step Functions state machines).

use crate::client::Client;
use crate::commands::{ExitCode, format_time};
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct WorkflowArgs {
    #[command(subcommand)]
    command: WorkflowCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum WorkflowCommand {
    /// Start an execution of APP/WORKFLOW.
    Start {
        /// APP/WORKFLOW.
        workflow: String,
        /// The input: JSON, or @FILE.
        #[arg(long, default_value = "{}")]
        input: String,
        /// The execution's name (unique per workflow; default: its id).
        #[arg(long)]
        name: Option<String>,
        /// Wait until it ends; print its output (exit 1 if it failed).
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// List executions, newest first.
    Ls {
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        workflow: Option<String>,
        /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Show an execution: status, input, output or error.
    Describe {
        id: String,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// An execution's history, one event per line.
    History {
        id: String,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Stop a running execution (it ends ABORTED).
    Stop {
        id: String,
        #[arg(long)]
        error: Option<String>,
        #[arg(long)]
        cause: Option<String>,
    },
}

pub async fn run(args: WorkflowArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    match args.command {
        WorkflowCommand::Start {
            workflow,
            input,
            name,
            wait,
            output,
        } => {
            let Some((app, workflow)) = workflow.split_once('/') else {
                bail!("name the workflow as APP/WORKFLOW (see `strato apps`)");
            };
            let text = match input.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading the input from {path}"))?,
                None => input,
            };
            let input: Value = serde_json::from_str(&text).context("the input is not JSON")?;
            let path = format!("/api/v1/apps/{app}/workflows/{workflow}/executions");
            let mut req = client
                .request(Method::POST, &path)
                .json(&json!({"name": name, "input": input}));
            if wait {
                req = req.query(&[("wait", "300s")]);
            }
            let mut execution = client.json(req).await?;
            while wait && execution["status"] == "RUNNING" {
                let id = execution["id"].as_str().unwrap_or_default().to_string();
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                execution = describe(&client, &id).await?;
            }
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&execution)?);
            } else if wait {
                print_execution(&execution);
            } else {
                println!(
                    "started {} ({})",
                    execution["id"].as_str().unwrap_or("?"),
                    execution["arn"].as_str().unwrap_or("?")
                );
            }
            if wait && execution["status"] != "SUCCEEDED" {
                return Err(ExitCode(1).into());
            }
            Ok(())
        }
        WorkflowCommand::Ls {
            app,
            workflow,
            status,
            limit,
            output,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            for (k, v) in [("app", app), ("workflow", workflow), ("status", status)] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            let list = client
                .json(
                    client
                        .request(Method::GET, "/api/v1/executions")
                        .query(&query),
                )
                .await?;
            let list = list.as_array().cloned().unwrap_or_default();
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                ("EXECUTION", Align::Left),
                ("WORKFLOW", Align::Left),
                ("NAME", Align::Left),
                ("STATUS", Align::Left),
                ("STARTED", Align::Left),
                ("DURATION", Align::Right),
            ]);
            for e in &list {
                table.row(vec![
                    text(&e["id"]),
                    format!("{}/{}", text(&e["app"]), text(&e["workflow"])),
                    text(&e["name"]),
                    text(&e["status"]),
                    format_time(e["started_ms"].as_i64().unwrap_or(0)),
                    duration(e),
                ]);
            }
            table.print();
            Ok(())
        }
        WorkflowCommand::Describe { id, output } => {
            let execution = describe(&client, &id).await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&execution)?);
            } else {
                print_execution(&execution);
            }
            Ok(())
        }
        WorkflowCommand::History { id, output } => {
            // Pages of up to 1,000 events, after the last one read.
            let mut events: Vec<Value> = Vec::new();
            loop {
                let after = events.last().and_then(|e| e["id"].as_i64()).unwrap_or(0);
                let page = client
                    .json(client.request(
                        Method::GET,
                        &format!("/api/v1/executions/{id}/history?after={after}&limit=1000"),
                    ))
                    .await?;
                let page = page.as_array().cloned().unwrap_or_default();
                let full = page.len() == 1000;
                events.extend(page);
                if !full {
                    break;
                }
            }
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&events)?);
                return Ok(());
            }
            let first = events
                .first()
                .and_then(|e| e["ts_ms"].as_i64())
                .unwrap_or(0);
            for e in &events {
                println!(
                    "{:>4} {:>+9.3}s  {:<24} {}",
                    e["id"],
                    (e["ts_ms"].as_i64().unwrap_or(0) - first) as f64 / 1000.0,
                    text(&e["type"]),
                    summary(&e["details"])
                );
            }
            Ok(())
        }
        WorkflowCommand::Stop { id, error, cause } => {
            let stopped = client
                .json(
                    client
                        .request(Method::POST, &format!("/api/v1/executions/{id}/stop"))
                        .json(&json!({"error": error, "cause": cause})),
                )
                .await?;
            if stopped["stopped_now"] == true {
                println!("stopped {id}");
            } else {
                println!("{id} had ended already ({})", text(&stopped["status"]));
            }
            Ok(())
        }
    }
}

async fn describe(client: &Client, id: &str) -> Result<Value> {
    client
        .json(client.request(Method::GET, &format!("/api/v1/executions/{id}")))
        .await
}

fn print_execution(e: &Value) {
    println!("execution  {}", text(&e["id"]));
    println!("arn        {}", text(&e["arn"]));
    println!(
        "workflow   {}/{} (revision {})",
        text(&e["app"]),
        text(&e["workflow"]),
        e["revision"]
    );
    println!("status     {}", text(&e["status"]));
    println!(
        "started    {}",
        format_time(e["started_ms"].as_i64().unwrap_or(0))
    );
    println!("duration   {}", duration(e));
    println!("input      {}", e["input"]);
    if !e["output"].is_null() {
        println!("output     {}", e["output"]);
    }
    if !e["error"].is_null() {
        println!("error      {}", text(&e["error"]));
        println!("cause      {}", text(&e["cause"]));
    }
}

fn duration(e: &Value) -> String {
    match (e["started_ms"].as_i64(), e["stopped_ms"].as_i64()) {
        (Some(a), Some(b)) => format!("{:.3}s", (b - a) as f64 / 1000.0),
        _ => "-".into(),
    }
}

/// The gist of an event's details: a state's name, an error, a resource.
fn summary(details: &Value) -> String {
    let mut parts = Vec::new();
    for key in ["name", "resource", "error", "cause", "output", "input"] {
        if let Some(v) = details.get(key).and_then(Value::as_str)
            && !v.is_empty()
        {
            let v = if v.len() > 80 {
                format!("{}…", &v[..v.floor_char_boundary(80)])
            } else {
                v.to_string()
            };
            parts.push(format!("{key}={v}"));
        }
        // A Map's iteration, a Map's size.
        if key == "name"
            && let Some(n) = details.get("index").and_then(Value::as_u64)
        {
            parts.push(format!("index={n}"));
        }
    }
    if let Some(n) = details.get("length").and_then(Value::as_u64) {
        parts.push(format!("length={n}"));
    }
    parts.join("  ")
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}
