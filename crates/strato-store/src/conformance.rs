//! The behaviour every [`Store`] backend must show. Backends call
//! [`run_all`] from their tests with a factory of fresh, empty stores.

use crate::{FinishedRun, LogFilter, RunFilter, RunRecorder, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use strato_core::spec::DeployedFunction;
use strato_core::{
    AppName, FunctionName, FunctionSpec, LogLine, LogStream, RevisionSpec, RunRecord, RunStatus,
    Trigger,
};

/// Runs every conformance check, each on a fresh store from `fresh`.
pub fn run_all(fresh: impl Fn() -> Arc<dyn Store>) {
    revisions_are_numbered_and_switch_live(fresh());
    destroy_removes_app_but_keeps_runs(fresh());
    runs_filter_and_order(fresh());
    logs_follow_by_sequence(fresh());
    recorder_flushes_everything_on_stop(fresh());
    components_and_settings(fresh());
}

fn revision(app: &str, functions: &[&str]) -> RevisionSpec {
    RevisionSpec {
        app: AppName::new(app).unwrap(),
        functions: functions
            .iter()
            .map(|f| {
                (
                    FunctionName::new(*f).unwrap(),
                    DeployedFunction {
                        spec: FunctionSpec {
                            component: format!("{f}.wasm"),
                            build: None,
                            routes: vec![strato_core::Route::parse(&format!("/{f}")).unwrap()],
                            env: BTreeMap::new(),
                            memory_bytes: 1 << 20,
                            timeout_ms: 1000,
                            concurrency: 1,
                            allowed_outbound_hosts: vec![],
                        },
                        component_digest: "0".repeat(64),
                    },
                )
            })
            .collect(),
    }
}

fn run(id: &str, app: &str, function: &str, status: RunStatus, started: i64) -> FinishedRun {
    FinishedRun {
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

fn revisions_are_numbered_and_switch_live(store: Arc<dyn Store>) {
    assert!(store.live_revision("a").unwrap().is_none());
    assert_eq!(
        store.deploy_revision(&revision("a", &["f"]), 10).unwrap(),
        1
    );
    assert_eq!(
        store
            .deploy_revision(&revision("a", &["f", "g"]), 20)
            .unwrap(),
        2
    );
    assert_eq!(
        store.deploy_revision(&revision("b", &["h"]), 30).unwrap(),
        1
    );
    let live = store.live_revision("a").unwrap().unwrap();
    assert_eq!(live.number, 2);
    assert_eq!(live.spec, revision("a", &["f", "g"]));
    assert_eq!(live.deployed_at_ms, 20);
    let all = store.live_revisions().unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.app.as_str(), l.number))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 1)]
    );
    let apps = store.list_apps().unwrap();
    assert_eq!(apps[0].functions, 2);
}

fn destroy_removes_app_but_keeps_runs(store: Arc<dyn Store>) {
    store.deploy_revision(&revision("a", &["f"]), 1).unwrap();
    store
        .record_runs(&[run("r1", "a", "f", RunStatus::Succeeded, 5)])
        .unwrap();
    assert!(store.destroy_app("a").unwrap());
    assert!(!store.destroy_app("a").unwrap());
    assert!(store.live_revision("a").unwrap().is_none());
    assert!(store.list_apps().unwrap().is_empty());
    assert!(store.get_run("r1").unwrap().is_some());
    // A new deploy after destroy starts numbering again.
    assert_eq!(store.deploy_revision(&revision("a", &["f"]), 2).unwrap(), 1);
}

fn runs_filter_and_order(store: Arc<dyn Store>) {
    store
        .record_runs(&[
            run("r1", "a", "f", RunStatus::Succeeded, 1),
            run("r2", "a", "g", RunStatus::Failed, 2),
            run("r3", "b", "f", RunStatus::TimedOut, 3),
        ])
        .unwrap();
    let ids = |f: RunFilter| {
        store
            .list_runs(&f)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(RunFilter::default()), ["r3", "r2", "r1"]);
    assert_eq!(
        ids(RunFilter {
            app: Some("a".into()),
            ..Default::default()
        }),
        ["r2", "r1"]
    );
    assert_eq!(
        ids(RunFilter {
            function: Some("f".into()),
            ..Default::default()
        }),
        ["r3", "r1"]
    );
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Failed),
            ..Default::default()
        }),
        ["r2"]
    );
    assert_eq!(
        ids(RunFilter {
            limit: 1,
            ..Default::default()
        }),
        ["r3"]
    );
    let r3 = store.get_run("r3").unwrap().unwrap();
    assert_eq!(r3, run("r3", "b", "f", RunStatus::TimedOut, 3).record);
    assert!(store.get_run("nope").unwrap().is_none());
}

fn logs_follow_by_sequence(store: Arc<dyn Store>) {
    store
        .record_runs(&[run("r1", "a", "f", RunStatus::Succeeded, 1)])
        .unwrap();
    let first = store
        .read_logs(&LogFilter {
            function: Some("f".into()),
            ..Default::default()
        })
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
        .record_runs(&[
            run("r2", "a", "f", RunStatus::Succeeded, 2),
            run("r3", "a", "g", RunStatus::Succeeded, 3),
        ])
        .unwrap();
    let after = store
        .read_logs(&LogFilter {
            app: Some("a".into()),
            function: Some("f".into()),
            after: first.last().unwrap().seq,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|l| l.line.text.as_str())
            .collect::<Vec<_>>(),
        ["r2 out", "r2 err"]
    );
    let by_run = store
        .read_logs(&LogFilter {
            run_id: Some("r3".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_run.len(), 2);
    assert!(by_run.iter().all(|l| l.function == "g"));
}

fn recorder_flushes_everything_on_stop(store: Arc<dyn Store>) {
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
    recorder.flush_and_stop();
    let runs = store
        .list_runs(&RunFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(runs.len(), 500);
    let logs = store
        .read_logs(&LogFilter {
            limit: 5000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(logs.len(), 1000);
}

fn components_and_settings(store: Arc<dyn Store>) {
    let digest = "ab".repeat(32);
    assert!(!store.has_component(&digest).unwrap());
    store.put_component(&digest, 10).unwrap();
    store.put_component(&digest, 10).unwrap();
    assert!(store.has_component(&digest).unwrap());
    assert_eq!(store.get_setting("x").unwrap(), None);
    store.put_setting("x", &serde_json::json!(1)).unwrap();
    store.put_setting("x", &serde_json::json!(2)).unwrap();
    assert_eq!(store.get_setting("x").unwrap(), Some(serde_json::json!(2)));
}
