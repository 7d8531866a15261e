//! `strato services`: each live service's replicas (ready, draining,
//! starting), requests per second and latency; `strato services logs
//! NAME` prints its replicas' output; `strato services scale NAME N` pins
//! its replica count (`auto` scales on load again).

use crate::client::Client;
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct ServicesArgs {
    #[command(subcommand)]
    command: Option<ServicesCommand>,
    /// Only this app's services.
    #[arg(long)]
    app: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum ServicesCommand {
    /// Print a service's replicas' output (each replica is a run).
    Logs {
        /// `SERVICE` or `APP/SERVICE`.
        service: String,
        /// Keep streaming new lines as they arrive.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print the newest this-many lines.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Pin a service's replica count, or `auto` to scale on load again.
    Scale {
        /// `SERVICE` or `APP/SERVICE`.
        service: String,
        /// A replica count, or `auto`.
        replicas: String,
    },
}

pub async fn run(args: ServicesArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let services = list(&client, args.app.as_deref()).await?;
    match &args.command {
        Some(ServicesCommand::Logs {
            service,
            follow,
            limit,
        }) => {
            let (app, name) = find(&services, service)?;
            crate::commands::follow_logs(
                &client,
                Some(app),
                Some(name),
                None,
                *follow,
                *limit,
                args.output,
            )
            .await
        }
        Some(ServicesCommand::Scale { service, replicas }) => {
            let (app, name) = find(&services, service)?;
            let pinned = match replicas.as_str() {
                "auto" => Value::Null,
                n => json!(n.parse::<u32>().map_err(|_| anyhow::anyhow!(
                    "`{n}` is not a replica count; give a number or `auto`"
                ))?),
            };
            client
                .json(
                    client
                        .request(
                            Method::POST,
                            &format!("/api/v1/apps/{app}/services/{name}/scale"),
                        )
                        .json(&json!({ "replicas": pinned })),
                )
                .await?;
            match pinned.as_u64() {
                Some(n) => println!("{app}/{name} is pinned at {n} replicas"),
                None => println!("{app}/{name} scales on load again"),
            }
            Ok(())
        }
        None if args.output == Output::Json => {
            println!("{}", serde_json::to_string_pretty(&services)?);
            Ok(())
        }
        None => {
            print_table(&services);
            Ok(())
        }
    }
}

async fn list(client: &Client, app: Option<&str>) -> Result<Vec<Value>> {
    let mut request = client.request(Method::GET, "/api/v1/services");
    if let Some(app) = app {
        request = request.query(&[("app", app)]);
    }
    Ok(client
        .json(request)
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// `(app, name)` of `SERVICE` or `APP/SERVICE` among the live services.
fn find(services: &[Value], wanted: &str) -> Result<(String, String)> {
    let (app, name) = match wanted.split_once('/') {
        Some((a, n)) => (Some(a), n),
        None => (None, wanted),
    };
    let matches: Vec<_> = services
        .iter()
        .filter(|s| s["name"] == name && app.is_none_or(|a| s["app"] == a))
        .collect();
    match matches.as_slice() {
        [one] => Ok((
            one["app"].as_str().unwrap_or_default().to_string(),
            name.to_string(),
        )),
        [] => bail!("no live service `{wanted}`; see `strato services`"),
        _ => bail!("several apps have a service `{name}`; say which: APP/{name}"),
    }
}

fn print_table(services: &[Value]) {
    let mut table = Table::new(&[
        ("SERVICE", Align::Left),
        ("REVISION", Align::Right),
        ("REPLICAS", Align::Right),
        ("STATE", Align::Left),
        ("IN FLIGHT", Align::Right),
        ("REQ/S", Align::Right),
        ("P50", Align::Right),
        ("P99", Align::Right),
        ("LAST FAILURE", Align::Left),
    ]);
    for s in services {
        let replicas = s["replicas"].as_array().cloned().unwrap_or_default();
        let ready = replicas.iter().filter(|r| r["state"] == "ready").count();
        let draining = replicas.len() - ready;
        let starting = s["starting"].as_u64().unwrap_or(0);
        let state = match (ready, starting, draining) {
            (0, 0, 0) => "scaled to zero".to_string(),
            _ => [
                (ready, "ready"),
                (starting as usize, "starting"),
                (draining, "draining"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect::<Vec<_>>()
            .join(", "),
        };
        let range = match s["pinned"].as_u64() {
            Some(n) => format!("{ready}/{n} pinned"),
            None => format!("{ready} ({}..{})", s["min_replicas"], s["max_replicas"]),
        };
        let in_flight: u64 = replicas
            .iter()
            .map(|r| r["in_flight"].as_u64().unwrap_or(0))
            .sum();
        let requests = &s["requests"];
        let ms = |v: &Value| v.as_f64().map_or("-".into(), |v| format!("{v:.1} ms"));
        table.row(vec![
            format!(
                "{}/{}",
                s["app"].as_str().unwrap_or("?"),
                s["name"].as_str().unwrap_or("?")
            ),
            s["revision"].to_string(),
            range,
            state,
            in_flight.to_string(),
            format!(
                "{:.1}",
                requests["requests_per_second"].as_f64().unwrap_or(0.0)
            ),
            ms(&requests["p50_ms"]),
            ms(&requests["p99_ms"]),
            s["last_failure"]
                .as_str()
                .map(|f| f.lines().next().unwrap_or("").to_string())
                .unwrap_or_default(),
        ]);
    }
    table.print();
}
