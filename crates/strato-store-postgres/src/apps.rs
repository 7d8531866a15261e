//! Apps and their revisions, components and settings on PostgreSQL.

use crate::db::{self, execute, query, query_opt};
use crate::{PostgresStore, begin, commit};
use serde_json::Value;
use strato_core::RevisionSpec;
use strato_store::{AppSummary, LiveRevision, StoreError};

const LIVE: &str = "SELECT a.name, a.live_revision, r.spec, a.deployed_at_ms FROM apps a
     JOIN revisions r ON r.app = a.name AND r.number = a.live_revision";

pub(crate) fn live_from_row(r: &tokio_postgres::Row) -> Result<LiveRevision, StoreError> {
    let app: String = r.get(0);
    Ok(LiveRevision {
        number: r.get(1),
        spec: parse_spec(&app, r.get(2))?,
        deployed_at_ms: r.get(3),
        app,
    })
}

pub(crate) fn parse_spec(app: &str, text: &str) -> Result<RevisionSpec, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::corrupt("revision", format!("app {app}: {e}")))
}

pub(crate) async fn put_component(
    store: &PostgresStore,
    digest: &str,
    size: u64,
) -> Result<(), StoreError> {
    let c = store.client().await?;
    execute(
        &c,
        "recording a component",
        "INSERT INTO components (digest, size) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&digest, &(size as i64)],
    )
    .await
    .map(drop)
}

pub(crate) async fn has_component(store: &PostgresStore, digest: &str) -> Result<bool, StoreError> {
    let c = store.client().await?;
    let row = query_opt(
        &c,
        "looking up a component",
        "SELECT 1 FROM components WHERE digest = $1",
        &[&digest],
    )
    .await?;
    Ok(row.is_some())
}

pub(crate) async fn deploy_revision(
    store: &PostgresStore,
    spec: &RevisionSpec,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let text = serde_json::to_string(spec).expect("revision specs serialize");
    let app = spec.app.as_str();
    let mut c = store.client().await?;
    let tx = begin(&mut c, "starting a deploy").await?;
    // The app row is locked first (created if new), so two deploys of
    // one app number their revisions one after the other.
    execute(
        &tx,
        "locking an app",
        "INSERT INTO apps (name, live_revision, deployed_at_ms) VALUES ($1, 0, $2)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name",
        &[&app, &now_ms],
    )
    .await?;
    let number: i64 = db::query_one(
        &tx,
        "numbering a revision",
        "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE app = $1",
        &[&app],
    )
    .await?
    .get(0);
    execute(
        &tx,
        "storing a revision",
        "INSERT INTO revisions (app, number, spec, created_at_ms) VALUES ($1, $2, $3, $4)",
        &[&app, &number, &text, &now_ms],
    )
    .await?;
    execute(
        &tx,
        "switching the live revision",
        "UPDATE apps SET live_revision = $2, deployed_at_ms = $3 WHERE name = $1",
        &[&app, &number, &now_ms],
    )
    .await?;
    commit(tx, "committing a deploy").await?;
    store.outbox.state();
    Ok(number)
}

pub(crate) async fn live_revisions(store: &PostgresStore) -> Result<Vec<LiveRevision>, StoreError> {
    let c = store.client().await?;
    let sql = format!("{LIVE} ORDER BY a.name");
    let rows = query(&c, "listing live revisions", &sql, &[]).await?;
    rows.iter().map(live_from_row).collect()
}

pub(crate) async fn live_revision(
    store: &PostgresStore,
    app: &str,
) -> Result<Option<LiveRevision>, StoreError> {
    let c = store.client().await?;
    let sql = format!("{LIVE} WHERE a.name = $1");
    let row = query_opt(&c, "reading a live revision", &sql, &[&app]).await?;
    row.as_ref().map(live_from_row).transpose()
}

pub(crate) async fn get_revision(
    store: &PostgresStore,
    app: &str,
    number: i64,
) -> Result<Option<strato_core::RevisionSpec>, StoreError> {
    let c = store.client().await?;
    let row = query_opt(
        &c,
        "reading a revision",
        "SELECT r.spec FROM revisions r JOIN apps a ON a.name = r.app WHERE r.app = $1 AND r.number = $2",
        &[&app, &number],
    )
    .await?;
    row.map(|r| {
        let spec: String = r.get(0);
        serde_json::from_str(&spec)
            .map_err(|e| StoreError::corrupt("revision", format!("{app} {number}: {e}")))
    })
    .transpose()
}

pub(crate) async fn list_apps(store: &PostgresStore) -> Result<Vec<AppSummary>, StoreError> {
    Ok(live_revisions(store)
        .await?
        .into_iter()
        .map(|l| AppSummary {
            name: l.app,
            live_revision: l.number,
            functions: l.spec.functions.len(),
            deployed_at_ms: l.deployed_at_ms,
        })
        .collect())
}

pub(crate) async fn destroy_app(store: &PostgresStore, app: &str) -> Result<bool, StoreError> {
    let mut c = store.client().await?;
    let tx = begin(&mut c, "starting a destroy").await?;
    let removed = execute(
        &tx,
        "deleting an app",
        "DELETE FROM apps WHERE name = $1",
        &[&app],
    )
    .await?;
    execute(
        &tx,
        "deleting revisions",
        "DELETE FROM revisions WHERE app = $1",
        &[&app],
    )
    .await?;
    commit(tx, "committing a destroy").await?;
    store.outbox.state();
    Ok(removed > 0)
}

pub(crate) async fn live_revision_numbers(
    store: &PostgresStore,
) -> Result<Vec<(String, i64)>, StoreError> {
    let c = store.client().await?;
    let rows = query(
        &c,
        "listing live revisions",
        "SELECT name, live_revision FROM apps ORDER BY name",
        &[],
    )
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(crate) async fn get_setting(
    store: &PostgresStore,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    let c = store.client().await?;
    let row = query_opt(
        &c,
        "reading a setting",
        "SELECT value FROM settings WHERE key = $1",
        &[&key],
    )
    .await?;
    row.map(|r| {
        serde_json::from_str(r.get(0))
            .map_err(|e| StoreError::corrupt("setting", format!("{key}: {e}")))
    })
    .transpose()
}

pub(crate) async fn put_setting(
    store: &PostgresStore,
    key: &str,
    value: &Value,
) -> Result<(), StoreError> {
    let c = store.client().await?;
    execute(
        &c,
        "writing a setting",
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value.to_string()],
    )
    .await
    .map(drop)
}

pub(crate) async fn init_setting(
    store: &PostgresStore,
    key: &str,
    value: &Value,
) -> Result<Value, StoreError> {
    let c = store.client().await?;
    // A no-op update on conflict makes RETURNING give the kept row
    // whoever inserted it.
    let row = db::query_one(
        &c,
        "initializing a setting",
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = settings.value RETURNING value",
        &[&key, &value.to_string()],
    )
    .await?;
    serde_json::from_str(row.get(0))
        .map_err(|e| StoreError::corrupt("setting", format!("{key}: {e}")))
}
