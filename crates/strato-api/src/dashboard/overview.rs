//! The overview: per function, task and service over a chosen time range,
//! invocations, errors and success rate, throttles, cold starts, billed
//! GB-s (summed by the store), and p50/p95/p99 duration with a chart of
//! runs and errors over time (from the latest runs of the range).

use super::page::{duration_us, page, problem};
use super::session::Session;
use crate::control::Ctx;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use std::collections::BTreeMap;
use strato_core::RunStatus;
use strato_store::{RunFilter, UsageFilter};

/// The ranges offered: (label, milliseconds).
const RANGES: &[(&str, i64)] = &[
    ("1h", 3_600_000),
    ("24h", 86_400_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
];
/// Runs the percentiles and the chart are drawn from (the newest).
const SAMPLE: usize = 5000;
/// Points on the chart.
const POINTS: i64 = 60;

#[derive(Deserialize, Default)]
pub(super) struct OverviewQuery {
    #[serde(default)]
    range: String,
}

/// The value at quantile `q` of sorted `values`.
fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as f64) * q).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

pub(super) async fn handle_overview(
    State(ctx): State<Ctx>,
    Extension(session): Extension<Session>,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let (label, range_ms) = RANGES
        .iter()
        .find(|(l, _)| *l == q.range)
        .copied()
        .unwrap_or(RANGES[1]);
    let now = strato_core::time::now_ms();
    let since = now - range_ms;
    let app = session.caller.only_app().map(str::to_string);
    let store = ctx.platform.store();
    let usage = match store
        .usage(&UsageFilter {
            app: app.clone(),
            since_ms: since,
        })
        .await
    {
        Ok(u) => u,
        Err(e) => return problem(&session, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let recent = store
        .list_runs(&RunFilter {
            app,
            limit: SAMPLE,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let recent: Vec<_> = recent
        .into_iter()
        .filter(|r| r.started_at_ms >= since)
        .collect();
    let mut durations: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    let step = (range_ms / POINTS).max(1);
    let mut runs_at = vec![0u64; POINTS as usize + 1];
    let mut errors_at = vec![0u64; POINTS as usize + 1];
    for r in &recent {
        if !matches!(
            r.status,
            RunStatus::Queued | RunStatus::Running | RunStatus::Throttled
        ) {
            durations
                .entry((r.app.clone(), r.function.clone()))
                .or_default()
                .push(r.duration_us);
        }
        let i = (((r.started_at_ms - since) / step).clamp(0, POINTS)) as usize;
        runs_at[i] += 1;
        if matches!(
            r.status,
            RunStatus::Failed | RunStatus::TimedOut | RunStatus::OomKilled
        ) {
            errors_at[i] += 1;
        }
    }
    for d in durations.values_mut() {
        d.sort_unstable();
    }
    let xs: Vec<i64> = (0..=POINTS).map(|i| (since + i * step) / 1000).collect();
    let series = serde_json::json!([xs, runs_at, errors_at]).to_string();
    let (total, errors, gb_s) = usage.iter().fold((0, 0, 0.0), |(t, e, g), u| {
        (t + u.runs, e + u.errors, g + u.gb_seconds)
    });
    let content = html! {
        h1 { "Overview" }
        p {
            "Range: "
            @for (l, _) in RANGES { a.here[*l == label] href=(format!("/?range={l}")) { (l) } " " }
        }
        div.grid {
            div.card.stat { div.n #total-runs { (total) } div.l { "runs in " (label) } }
            div.card.stat { div.n { (errors) } div.l { "errors" } }
            div.card.stat { div.n { @if total > 0 { (format!("{:.1}%", 100.0 * (total - errors) as f64 / total as f64)) } @else { "-" } } div.l { "success rate" } }
            div.card.stat { div.n { (format!("{gb_s:.2}")) } div.l { "billed GB-s" } }
            div.card.stat { div.n { (ctx.platform.runs_in_flight()) } div.l { "running now (this node)" } }
        }
        div.card {
            h2 { "Runs and errors" }
            div.chart #runs-chart data-series=(series) data-labels="runs,errors" {}
            @if recent.len() >= SAMPLE { p.muted { "Drawn from the newest " (SAMPLE) " runs of the range." } }
        }
        div.card.scroll {
            table #by-function {
                thead { tr {
                    th { "App / name" } th.num { "Runs" } th.num { "Errors" } th.num { "Success" } th.num { "Throttled" }
                    th.num { "Cold" } th.num { "p50" } th.num { "p95" } th.num { "p99" } th.num { "GB-s" } th.num { "CPU-s" }
                } }
                tbody {
                    @for u in &usage {
                        @let d = durations.get(&(u.app.clone(), u.function.clone())).map(Vec::as_slice).unwrap_or(&[]);
                        tr {
                            td { a href=(format!("/runs?app={}&function={}", u.app, u.function)) { (u.app) " / " (u.function) } }
                            td.num { (u.runs) }
                            td.num { (u.errors) }
                            td.num { (format!("{:.1}%", 100.0 * (u.runs - u.errors - u.throttles) as f64 / u.runs.max(1) as f64)) }
                            td.num { (u.throttles) }
                            td.num { (u.cold_starts) }
                            td.num { (quantile(d, 0.5).map(duration_us).unwrap_or_else(|| "-".into())) }
                            td.num { (quantile(d, 0.95).map(duration_us).unwrap_or_else(|| "-".into())) }
                            td.num { (quantile(d, 0.99).map(duration_us).unwrap_or_else(|| "-".into())) }
                            td.num { (format!("{:.3}", u.gb_seconds)) }
                            td.num { (format!("{:.2}", u.cpu_seconds)) }
                        }
                    }
                    @if usage.is_empty() { tr { td colspan="11" .muted { "No runs in this range." } } }
                }
            }
        }
        link rel="stylesheet" href="/assets/uPlot.min.css";
        script src="/assets/uPlot.iife.min.js" {}
        script src="/assets/dashboard.js" {}
    };
    page(&session, "Overview", "/", content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_by_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&[7], 0.95), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
