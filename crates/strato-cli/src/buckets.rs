//! `strato buckets`: buckets with their owner, versioning, default
//! encryption and what they hold; `strato buckets policy|lifecycle BUCKET`
//! shows a bucket's policy and lifecycle rules.

use crate::client::Client;
use crate::commands::format_time;
use crate::table::{Align, Table};
use crate::tasks::human_size;
use crate::{Output, Target};
use anyhow::{Result, bail};

#[derive(clap::Args)]
pub struct BucketsArgs {
    #[command(subcommand)]
    action: Option<BucketsAction>,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum BucketsAction {
    /// Show a bucket's policy (the JSON document set with PutBucketPolicy).
    Policy { bucket: String },
    /// Show a bucket's lifecycle rules.
    Lifecycle {
        bucket: String,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

pub async fn run(args: BucketsArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let buckets = client
        .json(client.request(reqwest::Method::GET, "/api/v1/buckets"))
        .await?;
    let find = |name: &str| -> Result<serde_json::Value> {
        match buckets
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["name"] == name)
        {
            Some(b) => Ok(b.clone()),
            None => bail!("no bucket `{name}` (or it is not yours); `strato buckets` lists them"),
        }
    };
    match args.action {
        None => list(&buckets, args.output),
        Some(BucketsAction::Policy { bucket }) => {
            let b = find(&bucket)?;
            match b["config"]["policy"]["text"].as_str() {
                Some(text) => {
                    let doc: serde_json::Value = serde_json::from_str(text)?;
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                None => println!("bucket `{bucket}` has no policy"),
            }
            Ok(())
        }
        Some(BucketsAction::Lifecycle { bucket, output }) => {
            let b = find(&bucket)?;
            let rules = b["config"]["lifecycle"].clone();
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&rules)?);
                return Ok(());
            }
            let Some(rules) = rules.as_array() else {
                println!("bucket `{bucket}` has no lifecycle rules");
                return Ok(());
            };
            let mut table = Table::new(&[
                ("ID", Align::Left),
                ("STATUS", Align::Left),
                ("PREFIX", Align::Left),
                ("EXPIRE OBJECTS", Align::Left),
                ("EXPIRE OLDER VERSIONS", Align::Left),
                ("ABORT UPLOADS", Align::Left),
            ]);
            let days = |v: &serde_json::Value| {
                v.as_u64()
                    .map(|d| format!("after {d} days"))
                    .unwrap_or("-".into())
            };
            for r in rules {
                let expire = match r["expiration_date_ms"].as_i64() {
                    Some(ms) => format!("from {}", format_time(ms)),
                    None => days(&r["expiration_days"]),
                };
                table.row(vec![
                    r["id"].as_str().unwrap_or("-").to_string(),
                    if r["enabled"] == true {
                        "enabled"
                    } else {
                        "disabled"
                    }
                    .to_string(),
                    r["prefix"].as_str().unwrap_or("").to_string(),
                    expire,
                    days(&r["noncurrent_days"]),
                    days(&r["abort_incomplete_days"]),
                ]);
            }
            table.print();
            Ok(())
        }
    }
}

fn list(buckets: &serde_json::Value, output: Output) -> Result<()> {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(buckets)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        ("BUCKET", Align::Left),
        ("APP", Align::Left),
        ("VERSIONING", Align::Left),
        ("ENCRYPTION", Align::Left),
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
            match b["config"]["encryption"].as_str() {
                Some(algorithm) => format!("{algorithm} by default"),
                None => "as asked".to_string(),
            },
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
