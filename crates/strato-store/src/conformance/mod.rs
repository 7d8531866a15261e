//! The behaviour every [`Store`] backend must show, one public async
//! function per check. Backends run them all with [`crate::conformance_tests!`],
//! which makes one test per check, each on a fresh, empty store.

use crate::{FinishedRun, LogFilter, RunFilter, Store};
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
mod runs;
mod versions;
mod workflows;

pub use images::*;
pub use messages::*;
pub use nodes::*;
pub(crate) use objects::node;
pub use objects::*;
pub use queues::*;
pub use runs::*;
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
            queued_us: None,
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
        r.effects.push(crate::Effect::KeepPayload {
            run_id: id.into(),
            body: format!("{{\"event\": \"{id}\"}}").into_bytes(),
        });
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
    let old_id = crate::run_id_bound(old);
    assert_eq!(
        store.run_payload(&old_id).await.unwrap(),
        Some(format!("{{\"event\": \"{old_id}\"}}").into_bytes()),
        "a run's kept payload is written with its record"
    );
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
    assert_eq!(store.run_payload(&old_id).await.unwrap(), None);
    assert!(
        store
            .run_payload(&crate::run_id_bound(new))
            .await
            .unwrap()
            .is_some()
    );
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
