//! `strato trace RUN_ID|TRACE_ID`: every run of a chain of work, as a tree
//! of who caused whom, with each run's offset from the first and duration.

use crate::client::Client;
use crate::{Output, Target};
use anyhow::Result;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

#[derive(clap::Args)]
pub struct TraceArgs {
    /// A run id (`strato runs`) or a trace id (32 hex digits).
    id: String,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    target: Target,
}

pub async fn run(args: TraceArgs) -> Result<()> {
    let client = Client::new(&args.target)?;
    let path = if strato_core::trace::parse_trace_id(&args.id).is_some() {
        format!("/api/v1/traces/{}", args.id.to_ascii_lowercase())
    } else {
        format!("/api/v1/runs/{}/trace", args.id)
    };
    let trace = client
        .json(client.request(reqwest::Method::GET, &path))
        .await?;
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
        return Ok(());
    }
    let runs = trace["runs"].as_array().cloned().unwrap_or_default();
    for line in render(trace["trace_id"].as_str().unwrap_or("?"), &runs) {
        println!("{line}");
    }
    Ok(())
}

/// The trace as lines: a header, then each run under the run that caused
/// it (runs whose cause is outside Strato, or unseen, start the tree).
fn render(trace_id: &str, runs: &[Value]) -> Vec<String> {
    let start = runs
        .iter()
        .filter_map(|r| r["started_at_ms"].as_i64())
        .min()
        .unwrap_or(0);
    let end = runs
        .iter()
        .filter_map(|r| Some(r["started_at_ms"].as_i64()? + r["duration_us"].as_i64()? / 1000))
        .max()
        .unwrap_or(start);
    let spans: HashSet<&str> = runs.iter().filter_map(|r| r["span_id"].as_str()).collect();
    let mut children: BTreeMap<Option<&str>, Vec<&Value>> = BTreeMap::new();
    for run in runs {
        let parent = run["parent_span_id"].as_str().filter(|p| spans.contains(p));
        children.entry(parent).or_default().push(run);
    }
    let mut lines = vec![format!(
        "trace {trace_id} · {} run{} · {} ms",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        end - start
    )];
    fn walk<'a>(
        parent: Option<&'a str>,
        prefix: &str,
        children: &BTreeMap<Option<&'a str>, Vec<&'a Value>>,
        start: i64,
        lines: &mut Vec<String>,
    ) {
        let Some(runs) = children.get(&parent) else {
            return;
        };
        for (i, run) in runs.iter().enumerate() {
            let last = i + 1 == runs.len();
            let (branch, next) = match (parent, last) {
                (None, _) => ("", String::new()),
                (Some(_), true) => ("└─ ", format!("{prefix}   ")),
                (Some(_), false) => ("├─ ", format!("{prefix}│  ")),
            };
            let offset = run["started_at_ms"].as_i64().unwrap_or(start) - start;
            let duration_ms = run["duration_us"].as_i64().unwrap_or(0) as f64 / 1000.0;
            let error = run["error"]
                .as_str()
                .map(|e| format!("  {e}"))
                .unwrap_or_default();
            lines.push(format!(
                "{prefix}{branch}{}/{} [{}] {} {} +{offset}ms {duration_ms:.1}ms{error}",
                run["app"].as_str().unwrap_or("?"),
                run["function"].as_str().unwrap_or("?"),
                run["trigger"].as_str().unwrap_or("?"),
                run["status"].as_str().unwrap_or("?"),
                run["id"].as_str().unwrap_or("?"),
            ));
            let child_prefix = if parent.is_none() {
                String::new()
            } else {
                next
            };
            walk(
                run["span_id"].as_str(),
                &child_prefix,
                children,
                start,
                lines,
            );
        }
    }
    walk(None, "", &children, start, &mut lines);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runs_hang_under_their_cause() {
        let run = |id: &str, function: &str, span: &str, parent: Option<&str>, at: i64| {
            json!({"id": id, "app": "thumbnailer", "function": function, "trigger": "bucket",
                   "status": "succeeded", "started_at_ms": at, "duration_us": 2000,
                   "span_id": span, "parent_span_id": parent})
        };
        let runs = vec![
            // Its parent is the client that uploaded: outside Strato.
            run("r1", "on-video", "a", Some("client"), 1000),
            run("r2", "ffmpeg", "b", Some("a"), 1010),
            run("r3", "on-thumbnail", "c", Some("b"), 1500),
            run("r4", "audit", "d", Some("a"), 1020),
        ];
        assert_eq!(
            render("t", &runs),
            [
                "trace t · 4 runs · 502 ms",
                "thumbnailer/on-video [bucket] succeeded r1 +0ms 2.0ms",
                "├─ thumbnailer/ffmpeg [bucket] succeeded r2 +10ms 2.0ms",
                "│  └─ thumbnailer/on-thumbnail [bucket] succeeded r3 +500ms 2.0ms",
                "└─ thumbnailer/audit [bucket] succeeded r4 +20ms 2.0ms",
            ]
        );
    }
}
