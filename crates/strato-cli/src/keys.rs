//! `strato keys`: S3 access keys.

use crate::client::Client;
use crate::commands::format_time;
use crate::table::{Align, Table};
use crate::{Output, Target};
use anyhow::Result;

#[derive(clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum KeysAction {
    /// List access keys (ids only; secrets are shown once, at creation).
    Ls {
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Create a key pair: an admin key, or one scoped to an app's buckets.
    Create {
        #[arg(long)]
        app: Option<String>,
        /// `json` prints the new pair as a JSON object (`id`, `secret`,
        /// `app`, `created_at_ms`) for scripts.
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Revoke a key at once.
    Revoke { id: String },
}

pub async fn run(args: KeysArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    match args.action {
        KeysAction::Ls { output } => {
            let keys = client
                .json(client.request(reqwest::Method::GET, "/api/v1/keys"))
                .await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                ("ACCESS KEY ID", Align::Left),
                ("SCOPE", Align::Left),
                ("CREATED", Align::Left),
            ]);
            for k in keys.as_array().into_iter().flatten() {
                table.row(vec![
                    k["id"].as_str().unwrap_or("?").to_string(),
                    k["app"]
                        .as_str()
                        .map(|a| format!("app {a}"))
                        .unwrap_or("admin".into()),
                    format_time(k["created_at_ms"].as_i64().unwrap_or(0)),
                ]);
            }
            table.print();
        }
        KeysAction::Create { app, output } => {
            let key = client
                .json(
                    client
                        .request(reqwest::Method::POST, "/api/v1/keys")
                        .json(&serde_json::json!({ "app": app })),
                )
                .await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&key)?);
                return Ok(());
            }
            println!("AWS_ACCESS_KEY_ID={}", key["id"].as_str().unwrap_or("?"));
            println!(
                "AWS_SECRET_ACCESS_KEY={}",
                key["secret"].as_str().unwrap_or("?")
            );
            eprintln!("(the secret is shown only now; store it)");
        }
        KeysAction::Revoke { id } => {
            client
                .json(client.request(reqwest::Method::DELETE, &format!("/api/v1/keys/{id}")))
                .await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
