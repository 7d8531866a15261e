//! Checks of runs and their logs: listing and paging, traces, usage,
//! following logs, the recorder.

use super::run;
use crate::{FinishedRun, LogFilter, RunFilter, RunRecorder, Store};
use std::sync::Arc;
use strato_core::{LogStream, RunStatus, Trigger};

/// `run` as the `span`-th span of trace `trace`, caused by span `parent`.
fn traced(mut run: FinishedRun, trace: &str, span: u64, parent: Option<u64>) -> FinishedRun {
    run.record.trace_id = Some(trace.into());
    run.record.span_id = Some(format!("{span:016x}"));
    run.record.parent_span_id = parent.map(|p| format!("{p:016x}"));
    run
}

pub async fn runs_filter_and_order(store: Arc<dyn Store>) {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    store
        .record_runs(
            vec![
                traced(run("r1", "a", "f", RunStatus::Succeeded, 1), trace, 1, None),
                run("r2", "a", "g", RunStatus::Failed, 2),
                traced(
                    run("r3", "b", "f", RunStatus::TimedOut, 3),
                    trace,
                    2,
                    Some(1),
                ),
            ]
            .into(),
        )
        .await
        .unwrap();
    let ids = async |f: RunFilter| {
        store
            .list_runs(&f)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(RunFilter::default()).await, ["r3", "r2", "r1"]);
    assert_eq!(
        ids(RunFilter {
            app: Some("a".into()),
            ..Default::default()
        })
        .await,
        ["r2", "r1"]
    );
    assert_eq!(
        ids(RunFilter {
            function: Some("f".into()),
            ..Default::default()
        })
        .await,
        ["r3", "r1"]
    );
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .await,
        ["r2"]
    );
    assert_eq!(
        ids(RunFilter {
            limit: 1,
            ..Default::default()
        })
        .await,
        ["r3"]
    );
    assert_eq!(
        ids(RunFilter {
            before: Some("r3".into()),
            ..Default::default()
        })
        .await,
        ["r2", "r1"],
        "the page after r3"
    );
    // An app's runs come newest first across its functions, a page at a
    // time (merged function by function).
    store
        .record_runs(
            vec![
                run("r4", "a", "f", RunStatus::Succeeded, 4),
                run("r5", "a", "h", RunStatus::Succeeded, 5),
                run("r6", "a", "g", RunStatus::Failed, 6),
            ]
            .into(),
        )
        .await
        .unwrap();
    let app_a = |before: Option<&str>| RunFilter {
        app: Some("a".into()),
        before: before.map(str::to_string),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(ids(app_a(None)).await, ["r6", "r5"]);
    assert_eq!(ids(app_a(Some("r5"))).await, ["r4", "r2"]);
    assert_eq!(ids(app_a(Some("r2"))).await, ["r1"]);
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Failed),
            ..app_a(None)
        })
        .await,
        ["r6", "r2"]
    );
    assert_eq!(
        ids(RunFilter {
            log_text: Some("r2 out".into()),
            ..Default::default()
        })
        .await,
        ["r2"]
    );
    assert!(
        ids(RunFilter {
            log_text: Some("%".into()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "the search text is literal"
    );
    assert!(
        ids(RunFilter {
            trigger: Some(Trigger::Queue),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    let r3 = store.get_run("r3").await.unwrap().unwrap();
    assert_eq!(
        r3,
        traced(
            run("r3", "b", "f", RunStatus::TimedOut, 3),
            trace,
            2,
            Some(1)
        )
        .record
    );
    let r2 = store.get_run("r2").await.unwrap().unwrap();
    assert_eq!(r2, run("r2", "a", "g", RunStatus::Failed, 2).record);
    assert!(store.get_run("nope").await.unwrap().is_none());
}

pub async fn a_trace_is_its_root_and_every_run_under_it(store: Arc<dyn Store>) {
    let root_id = "r018f2a3b4c5d00000007";
    let trace = format!(
        "{:032x}",
        strato_core::trace::trace_id_for_run(root_id, 0xabc)
    );
    let other = "4bf92f3577b34da6a3ce929d0e0e4736";
    store
        .record_runs(
            vec![
                // The root's trace id follows from its id and span: its
                // row need not keep it.
                traced(
                    run(root_id, "a", "f", RunStatus::Succeeded, 1),
                    &trace,
                    0xabc,
                    None,
                ),
                traced(
                    run("r1", "a", "t", RunStatus::Succeeded, 2),
                    &trace,
                    2,
                    Some(0xabc),
                ),
                traced(
                    run("r2", "b", "g", RunStatus::Failed, 3),
                    &trace,
                    3,
                    Some(2),
                ),
                // Another trace, and a parentless run of this trace that is
                // not the run it is named after (an imported record, say).
                traced(run("r3", "a", "f", RunStatus::Succeeded, 4), other, 4, None),
                traced(
                    run("r4", "a", "f", RunStatus::Succeeded, 5),
                    &trace,
                    5,
                    None,
                ),
            ]
            .into(),
        )
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .runs_in_trace(&trace, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    assert_eq!(ids, [root_id, "r1", "r2"]);
    let root = store.get_run(root_id).await.unwrap().unwrap();
    assert_eq!(root.trace_id.as_deref(), Some(trace.as_str()));
    assert!(store.runs_in_trace(other, 100).await.unwrap().is_empty());
    assert_eq!(store.runs_in_trace(&trace, 2).await.unwrap().len(), 2);
}

pub async fn usage_sums_what_runs_used(store: Arc<dyn Store>) {
    let mut cold = run("r1", "a", "f", RunStatus::Succeeded, 100);
    cold.record.cold_start = true;
    let mut task = run("r4", "a", "t", RunStatus::OomKilled, 100);
    task.record.cpu_us = Some(2_500_000);
    task.record.billed_ms = 1000;
    let mut queued = run("r5", "a", "t", RunStatus::Queued, 100);
    queued.record.billed_ms = 99_999;
    store
        .record_runs(
            vec![
                cold,
                run("r2", "a", "f", RunStatus::Failed, 200),
                run("r3", "a", "f", RunStatus::Throttled, 300),
                task,
                queued,
                run("old", "a", "f", RunStatus::Succeeded, 10),
                run("r6", "b", "f", RunStatus::Succeeded, 100),
            ]
            .into(),
        )
        .await
        .unwrap();
    let rows = store
        .usage(&crate::UsageFilter {
            app: Some("a".into()),
            since_ms: 50,
        })
        .await
        .unwrap();
    let mib_ms = |ms: f64| (1 << 20) as f64 * ms / 1073741824000.0;
    assert_eq!(
        rows,
        [
            crate::UsageRow {
                app: "a".into(),
                function: "f".into(),
                runs: 3,
                errors: 1,
                throttles: 1,
                cold_starts: 1,
                billed_ms: 6,
                gb_seconds: mib_ms(6.0),
                cpu_seconds: 0.0,
            },
            crate::UsageRow {
                app: "a".into(),
                function: "t".into(),
                runs: 1,
                errors: 1,
                throttles: 0,
                cold_starts: 0,
                billed_ms: 1000,
                gb_seconds: mib_ms(1000.0),
                cpu_seconds: 2.5,
            },
        ],
        "runs still queued or running, older ones and other apps' are left out"
    );
    let all = store.usage(&crate::UsageFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].app, "b");
}

/// A follower reading `after` its last sequence number while several
/// writers commit (nodes of a cluster) sees every line: no line commits
/// with a number below one a follower has already seen.
pub async fn followers_miss_no_line_of_concurrent_writers(store: Arc<dyn Store>) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 60;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let batch: Vec<FinishedRun> = (0..3)
                    .map(|i| run(&format!("w{w}-{b}-{i}"), "a", "f", RunStatus::Succeeded, 1))
                    .collect();
                store.record_runs(batch.into()).await.unwrap();
            }
        }));
    }
    let mut seen = std::collections::HashSet::new();
    let mut after = 0;
    let follow = async |after: &mut i64, seen: &mut std::collections::HashSet<String>| {
        let lines = store
            .read_logs(&LogFilter {
                after: *after,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let read = lines.len();
        for line in lines {
            *after = (*after).max(line.seq);
            seen.insert(line.line.text);
        }
        read
    };
    while !writers.iter().all(|w| w.is_finished()) {
        follow(&mut after, &mut seen).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    while follow(&mut after, &mut seen).await > 0 {}
    assert_eq!(
        seen.len(),
        WRITERS * BATCHES * 3 * 2,
        "a follower skipped lines committed after a later-numbered one"
    );
}

pub async fn logs_follow_by_sequence(store: Arc<dyn Store>) {
    store
        .record_runs(vec![run("r1", "a", "f", RunStatus::Succeeded, 1)].into())
        .await
        .unwrap();
    let first = store
        .read_logs(&LogFilter {
            function: Some("f".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|l| l.line.text.as_str())
            .collect::<Vec<_>>(),
        ["r1 out", "r1 err"]
    );
    assert_eq!(first[1].line.stream, LogStream::Stderr);
    store
        .record_runs(
            vec![
                run("r2", "a", "f", RunStatus::Succeeded, 2),
                run("r3", "a", "g", RunStatus::Succeeded, 3),
            ]
            .into(),
        )
        .await
        .unwrap();
    let after = store
        .read_logs(&LogFilter {
            app: Some("a".into()),
            function: Some("f".into()),
            after: first.last().unwrap().seq,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|l| l.line.text.as_str())
            .collect::<Vec<_>>(),
        ["r2 out", "r2 err"]
    );
    // A tail is the newest lines, still in order.
    let tail = store
        .read_logs(&LogFilter {
            app: Some("a".into()),
            limit: 3,
            tail: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        tail.iter()
            .map(|l| l.line.text.as_str())
            .collect::<Vec<_>>(),
        ["r2 err", "r3 out", "r3 err"]
    );
    let by_run = store
        .read_logs(&LogFilter {
            run_id: Some("r3".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_run.len(), 2);
    assert!(by_run.iter().all(|l| l.function == "g"));
}

pub async fn recorder_flushes_everything_on_stop(store: Arc<dyn Store>) {
    let recorder = RunRecorder::spawn(store.clone());
    for i in 0..500 {
        recorder.record(run(
            &format!("run{i:04}"),
            "a",
            "f",
            RunStatus::Succeeded,
            i,
        ));
    }
    recorder.flush_and_stop().await;
    let runs = store
        .list_runs(&RunFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 500);
    let logs = store
        .read_logs(&LogFilter {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1000);
}
