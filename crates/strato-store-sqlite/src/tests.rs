//! The SQLite backend against the store's conformance suite (one test per
//! check), and what only this backend promises.

use super::SqliteStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use strato_store::Store;
use strato_store::prelude::*;

/// Keeps every test's database directory alive for the test binary's run.
fn fresh_dir() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    dir.path()
        .join(format!("db{}", N.fetch_add(1, Ordering::SeqCst)))
}

async fn fresh_store() -> Arc<dyn Store> {
    let dir = fresh_dir();
    std::fs::create_dir_all(&dir).unwrap();
    Arc::new(SqliteStore::open(&dir.join("strato.db")).unwrap())
}

strato_store::conformance_tests!(fresh_store());

#[tokio::test]
async fn data_survives_reopening_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strato.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .put_setting("k", &serde_json::json!({"v": 1}))
            .await
            .unwrap();
        let mode: String = store
            .db
            .read()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get_setting("k").await.unwrap(),
        Some(serde_json::json!({"v": 1}))
    );
}

#[tokio::test]
async fn old_invocation_targets_are_migrated_to_typed_targets() {
    use strato_core::target::Target;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strato.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.db.write();
        for (id, tag, head) in [
            ("i1", "resize", "{}"),
            ("i2", "@task:ffmpeg", "{}"),
            ("i3", "@queue:jobs", "{}"),
            (
                "i4",
                "@webhook",
                r#"{"method":"POST","path":"http://127.0.0.1:9/hook","headers":[]}"#,
            ),
        ] {
            conn.execute(
                "INSERT INTO invocations (id, app, target, priority, rank_ms, due_ms, expires_ms, attempts, max_attempts, lease_until_ms, created_ms, head, body)
                 VALUES (?1, 'a', ?2, 'normal', 0, 0, 1000000, 0, 3, 0, 0, ?3, x'')",
                [id, tag, head],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let node = strato_store::NodeId("n".into());
    let mut claimed = store.claim_invocations(&node, 10, 1000, 10).await.unwrap();
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    let targets: Vec<Target> = claimed.into_iter().map(|i| i.target).collect();
    assert_eq!(
        targets,
        [
            Target::function("resize"),
            Target::task("ffmpeg"),
            Target::Queue {
                name: "jobs".into()
            },
            Target::Webhook {
                url: "http://127.0.0.1:9/hook".into()
            },
        ]
    );
}

/// The sweeper claims task runs every 100 ms: the claim must walk the
/// unfinished requests, not every run ever recorded.
#[test]
fn claiming_task_runs_does_not_scan_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::Db::open(&dir.path().join("s.db")).unwrap();
    let conn = db.read();
    let sql = crate::tasks::task_runs_sql(crate::tasks::CLAIMABLE);
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map([1, 5, 1 << 30, 1000], |row| row.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|p| p.starts_with("SCAN q"))
            && !plan.iter().any(|p| p.starts_with("SCAN r")),
        "{plan:?}"
    );
}
