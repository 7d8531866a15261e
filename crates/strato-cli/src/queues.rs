//! `strato queue` and `strato schedules`.

use crate::client::Client;
use crate::commands::format_time;
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    command: QueueCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum QueueCommand {
    /// Send messages to APP/QUEUE (each argument one message; `@FILE`
    /// reads one from a file; none reads one from stdin).
    Send {
        queue: String,
        messages: Vec<String>,
        /// Hide the messages this long after sending (e.g. 30s).
        #[arg(long)]
        delay: Option<String>,
    },
    /// Receive messages from APP/QUEUE (and delete them unless --keep).
    Receive {
        queue: String,
        /// Most messages to receive (1 to 10).
        #[arg(long, default_value_t = 1)]
        max: usize,
        /// Wait this long for a message (long poll, at most 20s).
        #[arg(long, default_value = "0s")]
        wait: String,
        /// Leave the messages in the queue; they come back after their
        /// visibility timeout.
        #[arg(long)]
        keep: bool,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Show queues with their depth (all, or one APP/QUEUE).
    Stats {
        queue: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Move dead-lettered messages of APP/QUEUE (a dead-letter queue) back
    /// to the queues they came from.
    Redrive { queue: String },
    /// Delete every message of APP/QUEUE.
    Purge { queue: String },
}

fn split(queue: &str) -> Result<(&str, &str)> {
    queue
        .split_once('/')
        .filter(|(a, q)| !a.is_empty() && !q.is_empty() && !q.contains('/'))
        .with_context(|| format!("`{queue}` is not APP/QUEUE, e.g. shop/orders"))
}

fn duration_seconds(text: &str) -> Result<f64> {
    strato_core::units::parse_duration_ms(text)
        .map(|ms| ms as f64 / 1000.0)
        .map_err(|e| anyhow::anyhow!(e))
}

pub async fn queue(args: QueueArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    match args.command {
        QueueCommand::Send {
            queue,
            messages,
            delay,
        } => {
            let (app, name) = split(&queue)?;
            let mut bodies = Vec::new();
            for m in &messages {
                bodies.push(match m.strip_prefix('@') {
                    Some(path) => {
                        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
                    }
                    None => m.clone(),
                });
            }
            if bodies.is_empty() {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .context("reading a message from stdin")?;
                bodies.push(text);
            }
            let delay = delay.as_deref().map(duration_seconds).transpose()?;
            let mut ids = Vec::new();
            for chunk in bodies.chunks(strato_core::queue::MAX_BATCH) {
                let messages: Vec<Value> = chunk
                    .iter()
                    .map(|b| json!({ "body": b, "delay_seconds": delay }))
                    .collect();
                let sent = client
                    .json(
                        client
                            .request(
                                Method::POST,
                                &format!("/api/v1/apps/{app}/queues/{name}/messages"),
                            )
                            .json(&json!({ "messages": messages })),
                    )
                    .await?;
                ids.extend(sent["message_ids"].as_array().cloned().unwrap_or_default());
            }
            for id in ids {
                println!("{}", id.as_str().unwrap_or("?"));
            }
            Ok(())
        }
        QueueCommand::Receive {
            queue,
            max,
            wait,
            keep,
            output,
        } => {
            let (app, name) = split(&queue)?;
            let got = client
                .json(
                    client
                        .request(
                            Method::POST,
                            &format!("/api/v1/apps/{app}/queues/{name}/receive"),
                        )
                        .json(&json!({ "max": max, "wait_seconds": duration_seconds(&wait)? })),
                )
                .await?;
            let messages = got["messages"].as_array().cloned().unwrap_or_default();
            if !keep && !messages.is_empty() {
                let receipts: Vec<Value> = messages.iter().map(|m| m["receipt"].clone()).collect();
                client
                    .json(
                        client
                            .request(
                                Method::POST,
                                &format!("/api/v1/apps/{app}/queues/{name}/delete"),
                            )
                            .json(&json!({ "receipts": receipts })),
                    )
                    .await?;
            }
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&messages)?);
            } else {
                for m in &messages {
                    println!("{}", m["body"].as_str().unwrap_or(""));
                }
            }
            Ok(())
        }
        QueueCommand::Stats { queue, output } => {
            let listed = match &queue {
                Some(q) => {
                    let (app, name) = split(q)?;
                    let one = client
                        .json(
                            client
                                .request(Method::GET, &format!("/api/v1/apps/{app}/queues/{name}")),
                        )
                        .await?;
                    vec![one]
                }
                None => client
                    .json(client.request(Method::GET, "/api/v1/queues"))
                    .await?["queues"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            };
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                ("QUEUE", Align::Left),
                ("VISIBLE", Align::Right),
                ("IN FLIGHT", Align::Right),
                ("DELAYED", Align::Right),
                ("OLDEST", Align::Right),
                ("DEAD LETTER", Align::Left),
                ("CONSUMER", Align::Left),
            ]);
            for q in &listed {
                let s = &q["stats"];
                let oldest = s["oldest_age_ms"]
                    .as_i64()
                    .map(|ms| strato_core::units::format_duration(ms.max(0) as u64))
                    .unwrap_or_else(|| "-".into());
                table.row(vec![
                    format!(
                        "{}/{}",
                        q["app"].as_str().unwrap_or("?"),
                        q["name"].as_str().unwrap_or("?")
                    ),
                    s["visible"].to_string(),
                    s["in_flight"].to_string(),
                    s["delayed"].to_string(),
                    oldest,
                    q["dead_letter"].as_str().unwrap_or("-").to_string(),
                    q["consumer"].as_str().unwrap_or("-").to_string(),
                ]);
            }
            table.print();
            Ok(())
        }
        QueueCommand::Redrive { queue } => {
            let (app, name) = split(&queue)?;
            let moved = client
                .json(client.request(
                    Method::POST,
                    &format!("/api/v1/apps/{app}/queues/{name}/redrive"),
                ))
                .await?;
            println!("moved {} message(s) back", moved["moved"]);
            Ok(())
        }
        QueueCommand::Purge { queue } => {
            let (app, name) = split(&queue)?;
            let purged = client
                .json(client.request(
                    Method::POST,
                    &format!("/api/v1/apps/{app}/queues/{name}/purge"),
                ))
                .await?;
            println!("purged {} message(s)", purged["purged"]);
            Ok(())
        }
    }
}

#[derive(clap::Args)]
pub struct SchedulesArgs {
    /// Only this app's schedules.
    #[arg(long)]
    app: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

/// `strato schedules`: every schedule with its next fire times.
pub async fn schedules(args: SchedulesArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let mut request = client.request(Method::GET, "/api/v1/schedules");
    if let Some(app) = &args.app {
        request = request.query(&[("app", app)]);
    }
    let listed = client.json(request).await?;
    let schedules = listed["schedules"].as_array().cloned().unwrap_or_default();
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&schedules)?);
        return Ok(());
    }
    if schedules.is_empty() {
        bail!("no schedules are deployed; declare [schedules.NAME] in strato.toml");
    }
    let mut table = Table::new(&[
        ("SCHEDULE", Align::Left),
        ("EVERY", Align::Left),
        ("TARGET", Align::Left),
        ("NEXT", Align::Left),
        ("THEN", Align::Left),
        ("LAST", Align::Left),
    ]);
    for s in &schedules {
        let next: Vec<String> = s["next_ms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_i64())
            .map(format_time)
            .collect();
        let last = match (s["last_slot_ms"].as_i64(), s["last_outcome"].as_str()) {
            (Some(t), Some(o)) => format!("{} {o}", format_time(t)),
            _ => "-".into(),
        };
        table.row(vec![
            format!(
                "{}/{}",
                s["app"].as_str().unwrap_or("?"),
                s["name"].as_str().unwrap_or("?")
            ),
            format!(
                "{} {}",
                s["every"].as_str().unwrap_or("?"),
                s["timezone"].as_str().unwrap_or("")
            )
            .trim_end()
            .to_string(),
            s["target"].as_str().unwrap_or("?").to_string(),
            next.first().cloned().unwrap_or_else(|| "-".into()),
            next.get(1).cloned().unwrap_or_else(|| "-".into()),
            last,
        ]);
    }
    table.print();
    Ok(())
}
