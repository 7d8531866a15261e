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
    let mut spans = trace["runs"].as_array().cloned().unwrap_or_default();
    let now = strato_core::time::now_ms();
    if let Some(executions) = trace["executions"].as_array() {
        spans.extend(executions.iter().map(|e| execution_span(e, now)));
    }
    spans.sort_by_key(|s| s["started_at_ms"].as_i64());
    for line in render(trace["trace_id"].as_str().unwrap_or("?"), &spans) {
        println!("{line}");
    }
    Ok(())
}

/// A workflow execution drawn as a run is: its Task states' runs hang
/// from it, and it from what started it.
fn execution_span(e: &Value, now_ms: i64) -> Value {
    let started = e["started_ms"].as_i64().unwrap_or(now_ms);
    let stopped = e["stopped_ms"].as_i64().unwrap_or(now_ms);
    serde_json::json!({
        "id": e["id"], "app": e["app"], "function": e["workflow"], "trigger": "execution",
        "status": e["status"], "started_at_ms": started,
        "duration_us": (stopped - started).max(0) * 1000, "error": e["error"],
        "span_id": e["span_id"], "parent_span_id": e["parent_span_id"],
    })
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
    let executions = runs.iter().filter(|r| r["trigger"] == "execution").count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let count = runs.len() - executions;
    let mut head = format!("trace {trace_id} · {count} run{}", plural(count));
    if executions > 0 {
        head += &format!(" · {executions} execution{}", plural(executions));
    }
    let mut lines = vec![format!("{head} · {} ms", end - start)];
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

    #[test]
    fn a_workflows_runs_hang_under_its_execution() {
        let execution = json!({"id": "x1", "app": "shop", "workflow": "orders",
            "status": "SUCCEEDED", "started_ms": 1000, "stopped_ms": 1030, "error": null,
            "span_id": "e", "parent_span_id": "a"});
        let runs = vec![
            json!({"id": "r1", "app": "shop", "function": "checkout", "trigger": "http",
                   "status": "succeeded", "started_at_ms": 990, "duration_us": 5000,
                   "span_id": "a", "parent_span_id": null}),
            execution_span(&execution, 5000),
            json!({"id": "r2", "app": "shop", "function": "charge", "trigger": "workflow",
                   "status": "succeeded", "started_at_ms": 1010, "duration_us": 3000,
                   "span_id": "b", "parent_span_id": "e"}),
        ];
        assert_eq!(
            render("t", &runs),
            [
                "trace t · 2 runs · 1 execution · 40 ms",
                "shop/checkout [http] succeeded r1 +0ms 5.0ms",
                "└─ shop/orders [execution] SUCCEEDED x1 +10ms 30.0ms",
                "   └─ shop/charge [workflow] succeeded r2 +20ms 3.0ms",
            ]
        );
    }
}
