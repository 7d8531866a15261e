//! `strato nodes`: the nodes of a deployment (one on the embedded store,
//! several on PostgreSQL), their state, load and last heartbeat; `strato
//! nodes drain ID` asks one to stop taking work and leave.

use crate::client::Client;
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::Result;
use reqwest::Method;
use serde_json::Value;

#[derive(clap::Args)]
pub struct NodesArgs {
    #[command(subcommand)]
    command: Option<NodesCommand>,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum NodesCommand {
    /// Stop a node taking new work; it finishes what it holds, then shows
    /// `left` and can be stopped without losing anything.
    Drain {
        /// The node's id (first column of `strato nodes`).
        id: String,
    },
}

pub async fn run(args: NodesArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    if let Some(NodesCommand::Drain { id }) = &args.command {
        client
            .json(client.request(Method::POST, &format!("/api/v1/nodes/{id}/drain")))
            .await?;
        println!("node {id} is draining: it takes no new work and leaves once it holds none");
        return Ok(());
    }
    let nodes = client
        .json(client.request(Method::GET, "/api/v1/nodes"))
        .await?;
    let nodes = nodes.as_array().cloned().unwrap_or_default();
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&nodes)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("NODE", Align::Left),
        ("STATE", Align::Left),
        ("API", Align::Left),
        ("RUNS", Align::Right),
        ("WORK", Align::Right),
        ("MEMORY", Align::Right),
        ("CPUS", Align::Right),
        ("HEARTBEAT", Align::Right),
        ("HOLDING", Align::Left),
    ]);
    for n in &nodes {
        let load = &n["load"];
        table.row(vec![
            text(&n["id"]),
            text(&n["state"]),
            text(&n["addresses"]["api"]),
            load["runs_in_flight"].to_string(),
            load["work_in_hand"].to_string(),
            format!("{} MiB", n["memory_bytes"].as_u64().unwrap_or(0) >> 20),
            n["cpus"].to_string(),
            format!(
                "{:.1}s ago",
                n["heartbeat_age_ms"].as_i64().unwrap_or(0) as f64 / 1000.0
            ),
            holding(&load["holding"]),
        ]);
    }
    table.print();
    Ok(())
}

/// The first pieces of work a node holds, and how many more.
fn holding(v: &Value) -> String {
    let all: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str())
        .collect();
    match all.len() {
        0 => "-".into(),
        n if n <= 2 => all.join(" "),
        n => format!("{} (+{})", all[..2].join(" "), n - 2),
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}
