//! The schema, as numbered migrations applied at start. Several nodes may
//! start at once: the one holding the advisory lock migrates, the others
//! wait for it and then find nothing left to do.
//!
//! Keys, names and run ids are `COLLATE "C"`: S3 lists keys in byte order
//! and run ids sort by time, whatever the database's default collation.
//! Times are milliseconds since the epoch in `BIGINT`, as in SQLite.

use crate::db::{execute, pg, query};
use deadpool_postgres::Object;
use strato_store::StoreError;

/// Each migration once, in order; never edit a shipped one, add another.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, INITIAL),
    (2, NODES),
    (3, IMAGES),
    (4, TASK_CPUS),
    (5, crate::workflows::SCHEMA),
    (6, crate::workflows::BRANCH_RESULTS),
    (7, TRACES),
    (8, EXECUTION_TRACES),
];

/// The key of the advisory lock that serializes migrations ("strato" in
/// ASCII).
const MIGRATION_LOCK: i64 = 0x7374_7261_746f;

const INITIAL: &str = r#"
CREATE TABLE apps (
    name TEXT COLLATE "C" PRIMARY KEY,
    live_revision BIGINT NOT NULL,
    deployed_at_ms BIGINT NOT NULL
);
CREATE TABLE revisions (
    app TEXT COLLATE "C" NOT NULL,
    number BIGINT NOT NULL,
    spec TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app, number)
);
CREATE TABLE components (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL
);
CREATE TABLE runs (
    id TEXT COLLATE "C" PRIMARY KEY,
    app TEXT NOT NULL,
    function TEXT NOT NULL,
    revision BIGINT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    cold_start BOOLEAN NOT NULL,
    memory_limit_bytes BIGINT NOT NULL,
    billed_ms BIGINT NOT NULL,
    http_status BIGINT,
    error TEXT,
    event_id TEXT,
    attempt BIGINT NOT NULL DEFAULT 1,
    exit_code BIGINT,
    init_us BIGINT
);
CREATE INDEX runs_by_app ON runs (app, function, id);
CREATE TABLE logs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL,
    app TEXT NOT NULL,
    function TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    stream TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX logs_by_function ON logs (app, function, seq);
CREATE INDEX logs_by_run ON logs (run_id, seq);
CREATE TABLE task_requests (
    run_id TEXT COLLATE "C" PRIMARY KEY,
    request TEXT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until_ms BIGINT NOT NULL DEFAULT 0,
    due_ms BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE buckets (
    name TEXT COLLATE "C" PRIMARY KEY,
    app TEXT,
    created_at_ms BIGINT NOT NULL,
    versioning TEXT NOT NULL DEFAULT 'unversioned',
    config JSONB NOT NULL DEFAULT '{}'
);
CREATE TABLE objects (
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    blob TEXT NOT NULL,
    modified_ms BIGINT NOT NULL,
    data BYTEA,
    version_id TEXT,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE object_versions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    version_id TEXT,
    delete_marker BOOLEAN NOT NULL DEFAULT FALSE,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    blob TEXT NOT NULL,
    modified_ms BIGINT NOT NULL,
    data BYTEA,
    archived_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX object_versions_by_key ON object_versions (bucket, key, seq);
CREATE TABLE bucket_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    app TEXT NOT NULL DEFAULT '',
    function TEXT NOT NULL DEFAULT '',
    due_ms BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    attempts BIGINT NOT NULL DEFAULT 0,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    done_ms BIGINT NOT NULL DEFAULT 0,
    version_id TEXT
);
-- Claims read only the undelivered events; delivered ones wait for the
-- cleanup and cost the claim nothing.
CREATE INDEX bucket_events_pending ON bucket_events (id) WHERE NOT done;
CREATE INDEX bucket_events_done ON bucket_events (due_ms) WHERE done;
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    bucket TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    content_type TEXT,
    headers TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, created_ms);
CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    blob TEXT NOT NULL,
    modified_ms BIGINT NOT NULL,
    checksum TEXT,
    PRIMARY KEY (upload_id, number)
);
CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    app TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE invocations (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    target TEXT NOT NULL,
    priority TEXT NOT NULL,
    rank_ms BIGINT NOT NULL,
    due_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    head TEXT NOT NULL,
    body BYTEA NOT NULL
);
-- As in SQLite: a claim reads the unleased rows by rank and the rows whose
-- lease ran out, never the rows in hand.
CREATE INDEX invocations_unleased_by_rank ON invocations (rank_ms) WHERE lease_until_ms = 0;
CREATE INDEX invocations_by_lease ON invocations (lease_until_ms) WHERE lease_until_ms > 0;
CREATE TABLE queue_messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app TEXT NOT NULL,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    receipt TEXT NOT NULL DEFAULT '',
    body BYTEA NOT NULL,
    sent_ms BIGINT NOT NULL,
    visible_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    receive_count BIGINT NOT NULL DEFAULT 0,
    first_receive_ms BIGINT NOT NULL DEFAULT 0,
    source_queue TEXT
);
CREATE INDEX queue_messages_by_visibility ON queue_messages (app, queue, visible_ms, seq);
CREATE TABLE schedule_slots (
    app TEXT NOT NULL,
    schedule TEXT NOT NULL,
    slot_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    invocation TEXT,
    recorded_ms BIGINT NOT NULL,
    PRIMARY KEY (app, schedule, slot_ms)
);
"#;

/// The node registry.
const NODES: &str = r#"
CREATE TABLE nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    addresses JSONB NOT NULL,
    memory_bytes BIGINT NOT NULL,
    cpus DOUBLE PRECISION NOT NULL,
    load JSONB NOT NULL,
    state TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
"#;

/// The image catalog.
const IMAGES: &str = r#"
CREATE TABLE images (
    name TEXT COLLATE "C" PRIMARY KEY,
    id TEXT NOT NULL,
    info JSONB NOT NULL,
    updated_ms BIGINT NOT NULL
);
"#;

/// The CPUs a task run asks for, for placement.
const TASK_CPUS: &str = r#"
ALTER TABLE task_requests ADD COLUMN cpus_milli INTEGER NOT NULL DEFAULT 0;
"#;

/// Each run's place in its trace, and the context a bucket event carries
/// from the write that caused it.
const TRACES: &str = r#"
ALTER TABLE runs ADD COLUMN trace_id TEXT, ADD COLUMN span_id TEXT, ADD COLUMN parent_span_id TEXT,
    ADD COLUMN cpu_us BIGINT;
CREATE INDEX runs_by_parented_trace ON runs (trace_id) WHERE parent_span_id IS NOT NULL;
-- An app's newest runs, a page at a time (the dashboard's list).
CREATE INDEX runs_by_app_id ON runs (app, id);
ALTER TABLE bucket_events ADD COLUMN traceparent TEXT;
ALTER TABLE queue_messages ADD COLUMN traceparent TEXT;
"#;

/// Migration 8: an execution's span, so its Task states' runs hang from
/// it; no `(app, id)` index over runs.
const EXECUTION_TRACES: &str = r#"
ALTER TABLE executions ADD COLUMN trace_id TEXT, ADD COLUMN span_id TEXT,
    ADD COLUMN parent_span_id TEXT;
CREATE INDEX executions_by_trace ON executions (trace_id) WHERE trace_id IS NOT NULL;
ALTER TABLE runs ADD COLUMN queued_us BIGINT;
CREATE TABLE run_payloads (
    run_id TEXT COLLATE "C" PRIMARY KEY,
    body BYTEA NOT NULL
);
-- An app's runs list function by function (see RunFilter::per_function):
-- this index cost every run's write more than it saved.
DROP INDEX IF EXISTS runs_by_app_id;
"#;

/// Applies the migrations this database lacks, under an advisory lock.
pub(crate) async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg("creating the migrations table"))?;
    execute(
        &*client,
        "locking the schema",
        "SELECT pg_advisory_lock($1)",
        &[&MIGRATION_LOCK],
    )
    .await?;
    let outcome = apply_missing(client).await;
    execute(
        &*client,
        "unlocking the schema",
        "SELECT pg_advisory_unlock($1)",
        &[&MIGRATION_LOCK],
    )
    .await?;
    outcome
}

async fn apply_missing(client: &mut Object) -> Result<(), StoreError> {
    let applied: Vec<i64> = query(
        &*client,
        "reading the schema version",
        "SELECT version FROM schema_migrations",
        &[],
    )
    .await?
    .into_iter()
    .map(|r| r.get(0))
    .collect();
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let tx = client
            .transaction()
            .await
            .map_err(pg("migrating the schema"))?;
        tx.batch_execute(sql)
            .await
            .map_err(pg("migrating the schema"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(pg("migrating the schema"))?;
        tx.commit().await.map_err(pg("migrating the schema"))?;
        tracing::info!(version, "applied a schema migration");
    }
    Ok(())
}
