//! `strato buckets`: buckets with their owner, versioning state and what
//! they hold.

use crate::client::Client;
use crate::commands::format_time;
use crate::table::{Align, Table};
use crate::tasks::human_size;
use crate::{Output, Target};
use anyhow::Result;

#[derive(clap::Args)]
pub struct BucketsArgs {
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

pub async fn run(args: BucketsArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let buckets = client
        .json(client.request(reqwest::Method::GET, "/api/v1/buckets"))
        .await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&buckets)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("BUCKET", Align::Left),
        ("APP", Align::Left),
        ("VERSIONING", Align::Left),
        ("OBJECTS", Align::Right),
        ("SIZE", Align::Right),
        ("OLDER VERSIONS", Align::Right),
        ("CREATED", Align::Left),
    ]);
    for b in buckets.as_array().into_iter().flatten() {
        let usage = &b["usage"];
        let count = |field: &str| usage[field].as_u64().unwrap_or(0);
        table.row(vec![
            b["name"].as_str().unwrap_or("?").to_string(),
            b["app"].as_str().unwrap_or("-").to_string(),
            b["versioning"].as_str().unwrap_or("?").to_string(),
            count("objects").to_string(),
            human_size(count("bytes")),
            format!(
                "{} ({})",
                count("versions"),
                human_size(count("version_bytes"))
            ),
            format_time(b["created_at_ms"].as_i64().unwrap_or(0)),
        ]);
    }
    table.print();
    Ok(())
}
