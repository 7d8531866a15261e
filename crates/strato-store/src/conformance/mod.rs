//! The behaviour every [`Store`] backend must show, one public async
//! function per check. Backends run them all with [`crate::conformance_tests!`],
//! which makes one test per check, each on a fresh, empty store.

use crate::{FinishedRun, LogFilter, RunFilter, RunRecorder, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use strato_core::spec::DeployedFunction;
use strato_core::{
    AppName, FunctionName, FunctionSpec, LogLine, LogStream, RevisionSpec, RunRecord, RunStatus,
    Trigger,
};

mod images;
mod messages;
mod nodes;
mod objects;
mod queues;
mod versions;
mod workflows;

pub use images::*;
pub use messages::*;
pub use nodes::*;
pub(crate) use objects::node;
pub use objects::*;
pub use queues::*;
pub use versions::*;
pub use workflows::*;

/// Generates one `#[tokio::test]` per conformance check, each on a fresh
/// store made by `$fresh` (an async block or expression giving an
/// `Arc<dyn Store>`), so one failing check does not hide the others:
///
/// ```ignore
/// strato_store::conformance_tests!(async { fresh_sqlite_store() });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@each $fresh;
            revisions_are_numbered_and_switch_live,
            destroy_removes_app_but_keeps_runs,
            runs_filter_and_order,
            a_trace_is_its_root_and_every_run_under_it,
            usage_sums_what_runs_used,
            logs_follow_by_sequence,
            followers_miss_no_line_of_concurrent_writers,
            recorder_flushes_everything_on_stop,
            components_and_settings,
            buckets_are_created_listed_and_deleted_only_when_empty,
            objects_and_their_events_are_written_together,
            objects_list_in_key_order_by_prefix,
            bucket_events_are_leased_retried_and_finished,
            multipart_uploads_complete_and_abort,
            conditional_writes_hold_atomically,
            versions_are_kept_hidden_restored_and_listed,
            bucket_configs_and_object_headers_are_kept,
            inline_objects_keep_their_bytes_in_the_store,
            access_keys_are_stored_and_revoked,
            leases_belong_to_the_node_that_took_them,
            task_runs_are_durable_from_queue_to_end,
            task_runs_are_leased_claimed_and_renewed,
            queued_task_runs_cancel_unless_a_node_holds_them,
            invocations_are_claimed_by_rank_leased_retried_and_settled,
            messages_are_received_hidden_deleted_and_dead_lettered,
            schedule_slots_fire_once_and_queue_their_work,
            nodes_beat_are_listed_and_drained,
            images_are_named_replaced_listed_and_removed,
            workflow_steps_advance_once_under_fences,
            branches_report_to_their_join_once,
            executions_are_listed_stopped_and_resumed_by_runs,
            completions_are_fenced_by_the_lease,
            old_history_is_cleaned_up,
        );
    };
    (@each $fresh:expr; $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::$check($fresh.await).await;
            }
        )*
    };
}

fn revision(app: &str, functions: &[&str]) -> RevisionSpec {
    RevisionSpec {
        app: AppName::new(app).unwrap(),
        buckets: ["media".to_string()].into(),
        functions: functions
            .iter()
            .map(|f| {
                (
                    FunctionName::new(*f).unwrap(),
                    DeployedFunction {
                        spec: FunctionSpec {
                            kind: Default::default(),
                            lambda: None,
                            component: format!("{f}.wasm"),
                            build: None,
                            routes: vec![strato_core::Route::parse(&format!("/{f}")).unwrap()],
                            env: BTreeMap::new(),
                            memory_bytes: 1 << 20,
                            timeout_ms: 1000,
                            concurrency: 1,
                            allowed_outbound_hosts: vec![],
                            on_bucket: vec![],
                            retries: 2,
                            max_age_ms: 60_000,
                            on_success: None,
                            on_failure: None,
                        },
                        component_digest: "0".repeat(64),
                    },
                )
            })
            .collect(),
        tasks: BTreeMap::new(),
        queues: BTreeMap::new(),
        schedules: BTreeMap::new(),
        workflows: BTreeMap::new(),
        services: BTreeMap::new(),
    }
}

pub(super) fn run(
    id: &str,
    app: &str,
    function: &str,
    status: RunStatus,
    started: i64,
) -> FinishedRun {
    FinishedRun {
        fence: None,
        effects: Vec::new(),
        record: RunRecord {
            id: id.into(),
            app: app.into(),
            function: function.into(),
            revision: 1,
            trigger: Trigger::Http,
            status,
            started_at_ms: started,
            duration_us: 1500,
            cold_start: false,
            memory_limit_bytes: 1 << 20,
            billed_ms: 2,
            http_status: Some(200),
            error: None,
            event_id: None,
            attempt: 1,
            exit_code: None,
            init_us: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            cpu_us: None,
        },
        logs: vec![
            LogLine {
                ts_ms: started,
                stream: LogStream::Stdout,
                text: format!("{id} out"),
            },
            LogLine {
                ts_ms: started,
                stream: LogStream::Stderr,
                text: format!("{id} err"),
            },
        ],
    }
}

pub async fn revisions_are_numbered_and_switch_live(store: Arc<dyn Store>) {
    assert!(store.live_revision("a").await.unwrap().is_none());
    assert_eq!(
        store
            .deploy_revision(&revision("a", &["f"]), 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .deploy_revision(&revision("a", &["f", "g"]), 20)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .deploy_revision(&revision("b", &["h"]), 30)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.live_revision_numbers().await.unwrap(),
        vec![("a".to_string(), 2), ("b".to_string(), 1)]
    );
    let live = store.live_revision("a").await.unwrap().unwrap();
    assert_eq!(live.number, 2);
    assert_eq!(live.spec, revision("a", &["f", "g"]));
    assert_eq!(live.deployed_at_ms, 20);
    let all = store.live_revisions().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.app.as_str(), l.number))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 1)]
    );
    let apps = store.list_apps().await.unwrap();
    assert_eq!(apps[0].functions, 2);
    // Every revision stays readable by number (executions run on theirs).
    let first = store.get_revision("a", 1).await.unwrap().unwrap();
    assert_eq!(first.functions.len(), 1);
    assert_eq!(
        store
            .get_revision("a", 2)
            .await
            .unwrap()
            .unwrap()
            .functions
            .len(),
        2
    );
    assert_eq!(store.get_revision("a", 9).await.unwrap(), None);
    assert_eq!(store.get_revision("zz", 1).await.unwrap(), None);
}

pub async fn destroy_removes_app_but_keeps_runs(store: Arc<dyn Store>) {
    store
        .deploy_revision(&revision("a", &["f"]), 1)
        .await
        .unwrap();
    store
        .record_runs(vec![run("r1", "a", "f", RunStatus::Succeeded, 5)].into())
        .await
        .unwrap();
    assert!(store.destroy_app("a").await.unwrap());
    assert!(!store.destroy_app("a").await.unwrap());
    assert!(store.live_revision("a").await.unwrap().is_none());
    assert!(store.list_apps().await.unwrap().is_empty());
    assert!(store.get_run("r1").await.unwrap().is_some());
    // A new deploy after destroy starts numbering again.
    assert_eq!(
        store
            .deploy_revision(&revision("a", &["f"]), 2)
            .await
            .unwrap(),
        1
    );
}

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

pub async fn components_and_settings(store: Arc<dyn Store>) {
    let digest = "ab".repeat(32);
    assert!(!store.has_component(&digest).await.unwrap());
    store.put_component(&digest, 10).await.unwrap();
    store.put_component(&digest, 10).await.unwrap();
    assert!(store.has_component(&digest).await.unwrap());
    assert_eq!(store.get_setting("x").await.unwrap(), None);
    store.put_setting("x", &serde_json::json!(1)).await.unwrap();
    // The first value of a key wins; later inits read it back.
    assert_eq!(
        store
            .init_setting("x", &serde_json::json!(9))
            .await
            .unwrap(),
        serde_json::json!(1)
    );
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.init_setting("secret", &serde_json::json!(i)).await })
        })
        .collect();
    let mut kept = std::collections::HashSet::new();
    for racer in racers {
        kept.insert(racer.await.unwrap().unwrap().to_string());
    }
    assert_eq!(kept.len(), 1, "racing inits agreed on one value: {kept:?}");
    assert_eq!(
        store
            .get_setting("secret")
            .await
            .unwrap()
            .map(|v| v.to_string()),
        kept.into_iter().next()
    );
    store.put_setting("x", &serde_json::json!(2)).await.unwrap();
    assert_eq!(
        store.get_setting("x").await.unwrap(),
        Some(serde_json::json!(2))
    );
}

/// Cleanup removes finished history older than the cutoff and expired
/// messages; it keeps what is newer, unfinished or undelivered.
pub async fn old_history_is_cleaned_up(store: Arc<dyn Store>) {
    let day = 86_400_000;
    let (old, new) = (10 * day, 40 * day);
    let with_logs = |id: &str, at: i64, status: RunStatus| {
        let mut r = run(id, "a", "f", status, at);
        r.logs = (0..3)
            .map(|i| LogLine {
                ts_ms: at,
                stream: LogStream::Stdout,
                text: format!("{id} line {i}"),
            })
            .collect();
        r
    };
    store
        .record_runs(
            vec![
                with_logs(&crate::run_id_bound(old), old, RunStatus::Succeeded),
                with_logs(
                    &format!("{}z", crate::run_id_bound(old)),
                    old,
                    RunStatus::Failed,
                ),
                with_logs(&crate::run_id_bound(new), new, RunStatus::Succeeded),
            ]
            .into(),
        )
        .await
        .unwrap();
    // An old task run still queued is not history.
    let queued = crate::TaskRunRequest {
        record: run(
            &format!("{}q", crate::run_id_bound(old)),
            "a",
            "t",
            RunStatus::Queued,
            old,
        )
        .record,
        request: serde_json::json!({}),
        due_ms: 0,
        cpus_milli: 0,
    };
    store
        .enqueue_task_run(&queued, &[], &objects::node(), 0)
        .await
        .unwrap();
    store
        .send_messages(
            "a",
            "q",
            &[
                crate::NewMessage {
                    id: "gone".into(),
                    body: b"x".to_vec(),
                    visible_ms: 0,
                    expires_ms: new - 1,
                    traceparent: None,
                },
                crate::NewMessage {
                    id: "kept".into(),
                    body: b"y".to_vec(),
                    visible_ms: 0,
                    expires_ms: new + day,
                    traceparent: None,
                },
            ],
            old,
        )
        .await
        .unwrap();
    // Two old events: one delivered (history), one not (work).
    store.create_bucket("b", None, 1).await.unwrap();
    let mut events = Vec::new();
    for key in ["delivered", "pending"] {
        let mut e = objects::event("ObjectCreated:Put");
        e.at_ms = old;
        let meta = objects::object("b", key, key);
        let written = store
            .put_object(&meta, &Default::default(), &[e])
            .await
            .unwrap()
            .unwrap();
        events.push(written.events[0].id);
    }
    store.finish_bucket_events(&events[..1]).await.unwrap();
    // Executions: an old ended one goes with its history; an old running
    // one and a new ended one stay.
    for (at, name, ends) in [
        (old, "old-ended", true),
        (old, "old-running", false),
        (new, "new-ended", true),
    ] {
        let mut e = workflows::execution(&format!("{}{name}", crate::execution_id_bound(at)), name);
        e.started_ms = at;
        let started = crate::NewHistoryEvent {
            ts_ms: at,
            kind: "ExecutionStarted".into(),
            details: serde_json::json!({}),
        };
        assert!(store.start_execution(&e, &[started], &[]).await.unwrap());
        if ends {
            let end = crate::ExecutionEnd {
                status: crate::ExecutionStatus::Succeeded,
                output: None,
                error: None,
                cause: None,
                stopped_ms: at,
            };
            assert!(store.end_execution(&e.id, &end, &[]).await.unwrap());
        }
    }
    let cleaned = store.clean_up(20 * day, new).await.unwrap();
    assert_eq!(
        cleaned,
        crate::Cleanup {
            runs: 2,
            log_lines: 6,
            events: 1,
            messages: 1,
            executions: 1,
        }
    );
    let kept: Vec<String> = store
        .list_executions(&crate::ExecutionFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(kept, ["new-ended", "old-running"]);
    let gone = format!("{}old-ended", crate::execution_id_bound(old));
    assert!(
        store
            .execution_history(&gone, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_bucket_events().await.unwrap(), 1);
    let left: Vec<String> = store
        .list_runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        left,
        [
            crate::run_id_bound(new),
            format!("{}q", crate::run_id_bound(old))
        ]
    );
    let lines = store
        .read_logs(&LogFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.run_id == crate::run_id_bound(new)));
    assert_eq!(store.queue_stats("a", "q", new).await.unwrap().visible, 1);
    // Nothing more to do.
    assert_eq!(
        store.clean_up(20 * day, new).await.unwrap(),
        crate::Cleanup::default()
    );
}
