//! `strato usage [--app APP] [--since 30d]`: invocations, GB-seconds and
//! container CPU time per app and function, task or service.

use crate::client::Client;
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::Result;

#[derive(clap::Args)]
pub struct UsageArgs {
    /// Only this app.
    #[arg(long)]
    app: Option<String>,
    /// How far back from now (`24h`, `7d`).
    #[arg(long, default_value = "30d")]
    since: String,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

pub async fn run(args: UsageArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let mut query = vec![("since", args.since.clone())];
    if let Some(app) = &args.app {
        query.push(("app", app.clone()));
    }
    let rows = client
        .json(
            client
                .request(reqwest::Method::GET, "/api/v1/usage")
                .query(&query),
        )
        .await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("APP", Align::Left),
        ("NAME", Align::Left),
        ("RUNS", Align::Right),
        ("ERRORS", Align::Right),
        ("THROTTLED", Align::Right),
        ("COLD", Align::Right),
        ("BILLED", Align::Right),
        ("GB-S", Align::Right),
        ("CPU-S", Align::Right),
    ]);
    let (mut runs, mut gb_s, mut cpu_s) = (0u64, 0f64, 0f64);
    for r in rows.as_array().into_iter().flatten() {
        runs += r["runs"].as_u64().unwrap_or(0);
        gb_s += r["gb_seconds"].as_f64().unwrap_or(0.0);
        cpu_s += r["cpu_seconds"].as_f64().unwrap_or(0.0);
        table.row(vec![
            r["app"].as_str().unwrap_or("?").to_string(),
            r["function"].as_str().unwrap_or("?").to_string(),
            r["runs"].to_string(),
            r["errors"].to_string(),
            r["throttles"].to_string(),
            r["cold_starts"].to_string(),
            format!("{}ms", r["billed_ms"]),
            format!("{:.3}", r["gb_seconds"].as_f64().unwrap_or(0.0)),
            format!("{:.2}", r["cpu_seconds"].as_f64().unwrap_or(0.0)),
        ]);
    }
    table.print();
    println!(
        "total: {runs} runs, {gb_s:.3} GB-s, {cpu_s:.2} CPU-s since {} ago",
        args.since
    );
    Ok(())
}
