//! `strato.toml`: parsing and validation with file:line errors.
//!
//! Parsing happens in two steps: TOML into raw tables that remember where
//! each value was written ([`toml::Spanned`]), then validation into an
//! [`AppSpec`]. Both steps report a [`ManifestError`] naming the file, the
//! line and column, and what to write instead. A [`SourceMap`] keeps the
//! locations so later checks (missing component, route conflicts) can point
//! at the line too.

use crate::names::{
    AppName, FunctionName, QueueName, ScheduleName, ServiceName, TaskName, WorkflowName,
};
use crate::outbound::OutboundRule;
use crate::route::Route;
use crate::s3names::validate_bucket_name;
use crate::spec::{
    AppSpec, BucketEventKind, BucketSubscription, DEFAULT_CONCURRENCY, DEFAULT_MEMORY_BYTES,
    DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, FunctionSpec, MAX_MEMORY_BYTES,
};
use crate::units::{parse_duration_ms, parse_size_bytes};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml::Spanned;

mod lambda;
mod queue;
mod schedule;
mod service;
mod task;

/// A problem in a manifest, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ManifestError {}

/// Where things were written in a manifest, keyed by dotted path
/// (`functions.hello.component`, `functions.hello.routes.0`).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    pub file: String,
    locations: BTreeMap<String, (usize, usize)>,
}

impl SourceMap {
    /// An error located at `key`, or at the top of the file if unknown.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ManifestError {
        let (line, column) = self.locations.get(key).copied().unwrap_or((1, 1));
        ManifestError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    fn record(&mut self, key: String, loc: (usize, usize)) {
        self.locations.insert(key, loc);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: Spanned<RawApp>,
    #[serde(default)]
    buckets: BTreeMap<Spanned<String>, Spanned<RawBucket>>,
    #[serde(default)]
    functions: BTreeMap<Spanned<String>, Spanned<RawFunction>>,
    #[serde(default)]
    tasks: BTreeMap<Spanned<String>, Spanned<task::RawTask>>,
    #[serde(default)]
    queues: BTreeMap<Spanned<String>, Spanned<queue::RawQueue>>,
    #[serde(default)]
    schedules: BTreeMap<Spanned<String>, Spanned<schedule::RawSchedule>>,
    #[serde(default)]
    workflows: BTreeMap<Spanned<String>, Spanned<RawWorkflow>>,
    #[serde(default)]
    services: BTreeMap<Spanned<String>, Spanned<service::RawService>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    definition: Spanned<String>,
    #[serde(default)]
    on_bucket: Vec<Spanned<RawSubscription>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBucket {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    bucket: Spanned<String>,
    events: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAsync {
    retries: Option<Spanned<i64>>,
    max_age: Option<Spanned<String>>,
    on_success: Option<Spanned<String>>,
    on_failure: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    component: Option<Spanned<String>>,
    runtime: Option<Spanned<String>>,
    handler: Option<Spanned<String>>,
    code: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    idle: Option<Spanned<String>>,
    min_warm: Option<Spanned<i64>>,
    init_timeout: Option<Spanned<String>>,
    build: Option<Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    memory: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    on_bucket: Vec<Spanned<RawSubscription>>,
    #[serde(rename = "async")]
    async_: Option<RawAsync>,
}

struct Locator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        (line, column)
    }

    fn error<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ManifestError {
        self.error_span(spanned.span(), message)
    }

    fn error_span(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ManifestError {
        let (line, column) = self.position(span.start);
        ManifestError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// Parses and validates a manifest. `file` names it in errors.
pub fn parse_manifest(text: &str, file: &str) -> Result<AppSpec, ManifestError> {
    parse_manifest_with_sources(text, file).map(|(spec, _)| spec)
}

/// Like [`parse_manifest`], also returning where each value was written.
pub fn parse_manifest_with_sources(
    text: &str,
    file: &str,
) -> Result<(AppSpec, SourceMap), ManifestError> {
    let loc = Locator { text, file };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let (line, column) = loc.position(e.span().map(|s| s.start).unwrap_or(0));
        ManifestError {
            file: file.to_string(),
            line,
            column,
            message: describe_toml_error(e.message()),
        }
    })?;
    let mut sources = SourceMap {
        file: file.to_string(),
        ..Default::default()
    };
    let app = AppName::new(raw.app.get_ref().name.get_ref().clone())
        .map_err(|e| loc.error(&raw.app.get_ref().name, e.to_string()))?;
    sources.record("app".into(), loc.position(raw.app.span().start));

    let mut buckets = BTreeSet::new();
    for (name, table) in &raw.buckets {
        validate_bucket_name(name.get_ref()).map_err(|e| loc.error(name, e.to_string()))?;
        sources.record(
            format!("buckets.{}", name.get_ref()),
            loc.position(table.span().start),
        );
        buckets.insert(name.get_ref().clone());
    }

    let mut functions = BTreeMap::new();
    for (name, raw_fn) in &raw.functions {
        let fname = FunctionName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [functions.{}])", name.get_ref())))?;
        let spec = validate_function(&loc, &mut sources, &fname, raw_fn, &buckets)?;
        functions.insert(fname, spec);
    }

    let mut tasks = BTreeMap::new();
    for (name, raw_task) in &raw.tasks {
        let tname = TaskName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [tasks.{}])", name.get_ref())))?;
        if functions.contains_key(tname.as_str()) {
            return Err(loc.error(
                name,
                format!("`{tname}` is both a function and a task; give them different names"),
            ));
        }
        let spec = task::validate_task(&loc, &mut sources, &tname, raw_task, &buckets)?;
        tasks.insert(tname, spec);
    }

    let mut queues = BTreeMap::new();
    for (name, raw_queue) in &raw.queues {
        let qname = QueueName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [queues.{}])", name.get_ref())))?;
        queues.insert(
            qname.clone(),
            queue::validate_queue(&loc, &mut sources, &qname, raw_queue)?,
        );
    }
    let mut schedules = BTreeMap::new();
    for (name, raw_schedule) in &raw.schedules {
        let sname = ScheduleName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [schedules.{}])", name.get_ref())))?;
        schedules.insert(
            sname.clone(),
            schedule::validate_schedule(&loc, &mut sources, &sname, raw_schedule)?,
        );
    }

    let mut workflows = BTreeMap::new();
    for (name, raw) in &raw.workflows {
        let wname = WorkflowName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [workflows.{}])", name.get_ref())))?;
        let file = raw.get_ref().definition.get_ref();
        sources.record(
            format!("workflows.{wname}.definition"),
            loc.position(raw.get_ref().definition.span().start),
        );
        if ![".json", ".yaml", ".yml"].iter().any(|e| file.ends_with(e)) {
            return Err(loc.error(
                &raw.get_ref().definition,
                format!("`definition` names {file:?}: give a JSON or YAML file of the Amazon States Language (such as flow.asl.json or flow.asl.yaml)"),
            ));
        }
        if functions.contains_key(wname.as_str()) || tasks.contains_key(wname.as_str()) {
            return Err(loc.error(
                name,
                format!("`{wname}` is also a function or a task; give workflows their own names"),
            ));
        }
        let mut on_bucket = Vec::new();
        for sub in &raw.get_ref().on_bucket {
            on_bucket.push(validate_subscription(&loc, sub, &buckets)?);
        }
        sources.record(format!("workflows.{wname}"), loc.position(raw.span().start));
        workflows.insert(
            wname,
            crate::spec::WorkflowSpec {
                file: file.clone(),
                definition: String::new(),
                on_bucket,
            },
        );
    }

    let mut services = BTreeMap::new();
    for (name, raw_service) in &raw.services {
        let sname = ServiceName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [services.{}])", name.get_ref())))?;
        if functions.contains_key(sname.as_str())
            || tasks.contains_key(sname.as_str())
            || workflows.contains_key(sname.as_str())
        {
            return Err(loc.error(
                name,
                format!("`{sname}` is also a function, a task or a workflow; give services their own names"),
            ));
        }
        let spec = service::validate_service(&loc, &mut sources, &sname, raw_service)?;
        services.insert(sname, spec);
    }

    // References name functions, tasks and queues of this app.
    let has = |names: &[&str], wanted: &str| names.contains(&wanted);
    let function_names: Vec<&str> = functions.keys().map(|f| f.as_str()).collect();
    let task_names: Vec<&str> = tasks.keys().map(|t| t.as_str()).collect();
    let queue_names: Vec<&str> = queues.keys().map(|q| q.as_str()).collect();
    let workflow_names: Vec<&str> = workflows.keys().map(|w| w.as_str()).collect();
    let missing_destination = |dest: &Option<crate::invocation::Destination>| match dest {
        Some(crate::invocation::Destination::Function(n)) => {
            (!has(&function_names, n)).then(|| format!("function `{n}`"))
        }
        Some(crate::invocation::Destination::Task(n)) => {
            (!has(&task_names, n)).then(|| format!("task `{n}`"))
        }
        Some(crate::invocation::Destination::Queue(n)) => {
            (!has(&queue_names, n)).then(|| format!("queue `{n}`"))
        }
        Some(crate::invocation::Destination::Workflow(n)) => {
            (!has(&workflow_names, n)).then(|| format!("workflow `{n}`"))
        }
        _ => None,
    };
    let destinations = functions
        .iter()
        .map(|(n, f)| (format!("functions.{n}"), &f.on_success, &f.on_failure))
        .chain(
            tasks
                .iter()
                .map(|(n, t)| (format!("tasks.{n}"), &t.on_success, &t.on_failure)),
        );
    for (key, on_success, on_failure) in destinations {
        for (field, dest) in [("on_success", on_success), ("on_failure", on_failure)] {
            if let Some(what) = missing_destination(dest) {
                return Err(sources.error_at(
                    &format!("{key}.async.{field}"),
                    format!("`{field}` names {what}, which this manifest does not declare"),
                ));
            }
        }
    }
    for (qname, spec) in &queues {
        if let Some(dlq) = &spec.dead_letter
            && !has(&queue_names, dlq)
        {
            return Err(sources.error_at(
                &format!("queues.{qname}.dead_letter"),
                format!("`dead_letter` names queue `{dlq}`, which this manifest does not declare; add `[queues.{dlq}]`"),
            ));
        }
        let missing = match spec.consumer.as_ref().map(|c| &c.target) {
            Some(crate::queue::ConsumerTarget::Function(n)) if !has(&function_names, n) => {
                Some(format!("function `{n}`"))
            }
            Some(crate::queue::ConsumerTarget::Task(n)) if !has(&task_names, n) => {
                Some(format!("task `{n}`"))
            }
            Some(crate::queue::ConsumerTarget::Workflow(n)) if !has(&workflow_names, n) => {
                Some(format!("workflow `{n}`"))
            }
            _ => None,
        };
        if let Some(what) = missing {
            return Err(sources.error_at(
                &format!("queues.{qname}.consumer"),
                format!("the consumer names {what}, which this manifest does not declare"),
            ));
        }
    }
    for (sname, spec) in &schedules {
        let (kind, n, names) = match &spec.target {
            crate::schedule::ScheduleTarget::Function(n) => ("function", n, &function_names),
            crate::schedule::ScheduleTarget::Task(n) => ("task", n, &task_names),
            crate::schedule::ScheduleTarget::Queue(n) => ("queue", n, &queue_names),
            crate::schedule::ScheduleTarget::Workflow(n) => ("workflow", n, &workflow_names),
        };
        if !has(names, n) {
            return Err(sources.error_at(
                &format!("schedules.{sname}.target"),
                format!(
                    "the schedule's target names {kind} `{n}`, which this manifest does not declare"
                ),
            ));
        }
    }

    // A route serves one function or service of the app.
    let mut claimed: BTreeMap<Route, String> = BTreeMap::new();
    let claimants = functions
        .iter()
        .map(|(n, f)| ("functions", "function", n.to_string(), &f.routes))
        .chain(
            services
                .iter()
                .map(|(n, s)| ("services", "service", n.to_string(), &s.routes)),
        );
    for (table, kind, name, routes) in claimants {
        for (i, route) in routes.iter().enumerate() {
            let who = format!("{kind} `{name}`");
            if let Some(other) = claimed.insert(route.clone(), who) {
                return Err(sources.error_at(
                    &format!("{table}.{name}.routes.{i}"),
                    format!(
                        "route `{route}` is already claimed by {other}; give each route to one function or service"
                    ),
                ));
            }
        }
    }
    Ok((
        AppSpec {
            app,
            buckets,
            functions,
            tasks,
            queues,
            schedules,
            workflows,
            services,
        },
        sources,
    ))
}

fn validate_function(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &FunctionName,
    raw: &Spanned<RawFunction>,
    buckets: &BTreeSet<String>,
) -> Result<FunctionSpec, ManifestError> {
    let key = format!("functions.{name}");
    sources.record(key.clone(), loc.position(raw.span().start));
    let table = raw;
    let raw = raw.get_ref();

    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        sources.record(format!("{key}.routes.{i}"), loc.position(r.span().start));
        routes.push(Route::parse(r.get_ref()).map_err(|e| loc.error(r, e))?);
    }

    let env = validate_env(loc, &raw.env)?;

    let memory_bytes = match &raw.memory {
        None => DEFAULT_MEMORY_BYTES,
        Some(m) => {
            let bytes = parse_size_bytes(m.get_ref())
                .map_err(|e| loc.error(m, format!("bad `memory`: {e}")))?;
            if !((1 << 20)..=MAX_MEMORY_BYTES).contains(&bytes) {
                return Err(loc.error(m, "`memory` must be between 1MiB and 4GiB"));
            }
            bytes
        }
    };

    let timeout_ms = match &raw.timeout {
        None => DEFAULT_TIMEOUT_MS,
        Some(t) => {
            let ms = parse_duration_ms(t.get_ref())
                .map_err(|e| loc.error(t, format!("bad `timeout`: {e}")))?;
            if ms == 0 || ms > 15 * 60_000 {
                return Err(loc.error(t, "`timeout` must be between 1ms and 15m"));
            }
            ms
        }
    };

    let concurrency = match &raw.concurrency {
        None => DEFAULT_CONCURRENCY,
        Some(c) => {
            let v = *c.get_ref();
            if !(1..=10_000).contains(&v) {
                return Err(loc.error(c, "`concurrency` must be between 1 and 10000"));
            }
            v as u32
        }
    };

    let lambda::Kind {
        kind,
        component,
        lambda,
    } = lambda::validate_kind(loc, sources, &key, table, concurrency)?;

    let mut allowed_outbound_hosts = Vec::new();
    for h in &raw.allowed_outbound_hosts {
        allowed_outbound_hosts.push(OutboundRule::parse(h.get_ref()).map_err(|e| loc.error(h, e))?);
    }

    let build = match &raw.build {
        Some(b) if b.get_ref().trim().is_empty() => {
            return Err(loc.error(b, "`build` is empty; remove it or give a shell command"));
        }
        Some(b) => {
            sources.record(format!("{key}.build"), loc.position(b.span().start));
            Some(b.get_ref().clone())
        }
        None => None,
    };

    let mut on_bucket = Vec::new();
    for sub in &raw.on_bucket {
        on_bucket.push(validate_subscription(loc, sub, buckets)?);
    }

    let AsyncSettings {
        retries,
        max_age_ms,
        on_success,
        on_failure,
    } = validate_async(loc, sources, &key, raw.async_.as_ref(), DEFAULT_RETRIES)?;

    Ok(FunctionSpec {
        kind,
        component,
        lambda,
        build,
        routes,
        env,
        memory_bytes,
        timeout_ms,
        concurrency,
        allowed_outbound_hosts,
        on_bucket,
        retries,
        max_age_ms,
        on_success,
        on_failure,
    })
}

/// `[functions.NAME.async]` / `[tasks.NAME.async]`, validated.
struct AsyncSettings {
    pub retries: u32,
    pub max_age_ms: u64,
    pub on_success: Option<crate::invocation::Destination>,
    pub on_failure: Option<crate::invocation::Destination>,
}

fn validate_async(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    key: &str,
    raw: Option<&RawAsync>,
    default_retries: u32,
) -> Result<AsyncSettings, ManifestError> {
    let retries = match raw.and_then(|a| a.retries.as_ref()) {
        None => default_retries,
        Some(r) => {
            let v = *r.get_ref();
            if !(0..=10).contains(&v) {
                return Err(loc.error(r, "`retries` must be between 0 and 10"));
            }
            v as u32
        }
    };
    let max_age_ms = queue::duration_in(
        loc,
        &raw.and_then(|a| a.max_age.clone()),
        "max_age",
        crate::invocation::DEFAULT_MAX_AGE_MS,
        1_000..=6 * 3_600_000,
        "between 1s and 6h",
    )?;
    let mut destination = |d: Option<&Spanned<String>>, field: &str| {
        d.map(|d| {
            sources.record(format!("{key}.async.{field}"), loc.position(d.span().start));
            crate::invocation::Destination::parse(d.get_ref()).map_err(|e| loc.error(d, e))
        })
        .transpose()
    };
    let on_success = destination(raw.and_then(|a| a.on_success.as_ref()), "on_success")?;
    let on_failure = destination(raw.and_then(|a| a.on_failure.as_ref()), "on_failure")?;
    Ok(AsyncSettings {
        retries,
        max_age_ms,
        on_success,
        on_failure,
    })
}

/// Environment variables a manifest sets; `STRATO_*` belongs to Strato.
fn validate_env(
    loc: &Locator<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<String>>,
) -> Result<BTreeMap<String, String>, ManifestError> {
    let mut env = BTreeMap::new();
    for (k, v) in raw {
        let kname = k.get_ref();
        crate::spec::check_env_name(kname).map_err(|e| loc.error(k, e))?;
        env.insert(kname.clone(), v.get_ref().clone());
    }
    Ok(env)
}

fn validate_subscription(
    loc: &Locator<'_>,
    raw: &Spanned<RawSubscription>,
    buckets: &BTreeSet<String>,
) -> Result<BucketSubscription, ManifestError> {
    let sub = raw.get_ref();
    let bucket = sub.bucket.get_ref();
    if !buckets.contains(bucket) {
        return Err(loc.error(
            &sub.bucket,
            format!("bucket `{bucket}` is not declared in this manifest; add `[buckets.{bucket}]`"),
        ));
    }
    let mut events = Vec::new();
    match &sub.events {
        None => events = vec![BucketEventKind::Put, BucketEventKind::Delete],
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(loc.error(
                    list,
                    "`events` is empty; use [\"put\"], [\"delete\"] or both",
                ));
            }
            for e in list.get_ref() {
                events.push(match e.get_ref().as_str() {
                    "put" => BucketEventKind::Put,
                    "delete" => BucketEventKind::Delete,
                    other => {
                        return Err(loc.error(
                            e,
                            format!("unknown bucket event `{other}`; use \"put\" or \"delete\""),
                        ));
                    }
                });
            }
        }
    }
    events.sort();
    events.dedup();
    Ok(BucketSubscription {
        bucket: bucket.clone(),
        events,
        prefix: sub.prefix.clone(),
        suffix: sub.suffix.clone(),
    })
}

/// Turns serde's phrasing into advice a user can act on.
fn describe_toml_error(message: &str) -> String {
    let message = message.trim();
    if message.starts_with("unknown field") {
        format!("{message}; remove it or check its spelling")
    } else if message.starts_with("missing field `app`") {
        "missing [app] table; add `[app]` with `name = \"...\"`".to_string()
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests;
