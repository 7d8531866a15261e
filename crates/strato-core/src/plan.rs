//! Plans: what a deploy would create, update and delete, field by field.

use crate::lambda::LambdaSource;
use crate::queue::{ConsumerTarget, QueueSpec};
use crate::schedule::{Every, ScheduleSpec};
use crate::spec::{BucketSubscription, DeployedFunction, RevisionSpec, TaskSpec};
use crate::units::{format_duration, format_size};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

/// One field that differs between the live and the desired resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A change to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub kind: ChangeKind,
    /// `function NAME` (later: `bucket NAME`, `task NAME`, …).
    pub resource: String,
    pub fields: Vec<FieldChange>,
}

/// The difference between a desired revision and the live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub app: String,
    /// Revision number currently live, if the app exists.
    pub live_revision: Option<i64>,
    pub changes: Vec<ResourceChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn describe(f: &DeployedFunction) -> Vec<(&'static str, String)> {
    let s = &f.spec;
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let digest = format!(
        "sha256:{}",
        &f.component_digest[..f.component_digest.len().min(12)]
    );
    let mut lines = match &s.lambda {
        None => vec![("component", digest)],
        Some(lambda) => {
            let mut lines = match &lambda.source {
                LambdaSource::Code {
                    runtime,
                    handler,
                    code,
                } => vec![
                    ("runtime", runtime.to_string()),
                    ("handler", handler.clone()),
                    ("code", format!("{code} ({digest})")),
                ],
                LambdaSource::Image { image, handler } => {
                    let mut lines = vec![("image", image.clone())];
                    lines.extend(handler.clone().map(|h| ("handler", h)));
                    lines
                }
            };
            lines.extend([
                ("idle", format_duration(lambda.idle_ms)),
                ("min_warm", lambda.min_warm.to_string()),
                ("init_timeout", format_duration(lambda.init_timeout_ms)),
            ]);
            lines
        }
    };
    lines.extend([
        (
            "routes",
            list(s.routes.iter().map(|r| r.to_string()).collect()),
        ),
        (
            "env",
            list(s.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        ),
        ("memory", format_size(s.memory_bytes)),
        ("timeout", format_duration(s.timeout_ms)),
        ("concurrency", s.concurrency.to_string()),
        ("on_bucket", describe_subscriptions(&s.on_bucket)),
        ("retries", s.retries.to_string()),
        ("max_age", format_duration(s.max_age_ms)),
        (
            "allowed_outbound_hosts",
            list(
                s.allowed_outbound_hosts
                    .iter()
                    .map(|h| h.as_str().to_string())
                    .collect(),
            ),
        ),
    ]);
    lines
}

fn describe_subscriptions(subs: &[BucketSubscription]) -> String {
    let items: Vec<String> = subs
        .iter()
        .map(|b| {
            let events: Vec<_> = b
                .events
                .iter()
                .map(|e| format!("{e:?}").to_lowercase())
                .collect();
            format!(
                "{} {} {}*{}",
                b.bucket,
                events.join("+"),
                b.prefix,
                b.suffix
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn describe_task(t: &TaskSpec) -> Vec<(&'static str, String)> {
    let argv = |v: &Option<Vec<String>>| match v {
        None => "(image's)".to_string(),
        Some(list) => format!("{list:?}"),
    };
    vec![
        ("image", t.image.clone()),
        ("entrypoint", argv(&t.entrypoint)),
        ("command", argv(&t.command)),
        (
            "env",
            format!(
                "[{}]",
                t.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ("memory", format_size(t.memory_bytes)),
        (
            "cpus",
            t.cpus_milli
                .map(|m| format!("{}", m as f64 / 1000.0))
                .unwrap_or_else(|| "unlimited".into()),
        ),
        ("pids", t.pids.to_string()),
        (
            "timeout",
            t.timeout_ms
                .map(format_duration)
                .unwrap_or_else(|| "none".into()),
        ),
        ("network", t.network.as_str().to_string()),
        ("retries", t.retries.to_string()),
        ("on_bucket", describe_subscriptions(&t.on_bucket)),
    ]
}

fn describe_service(s: &crate::spec::ServiceSpec) -> Vec<(&'static str, String)> {
    let argv = |v: &Option<Vec<String>>| match v {
        None => "(image's)".to_string(),
        Some(list) => format!("{list:?}"),
    };
    let check = |c: &crate::spec::HealthCheck| match c {
        crate::spec::HealthCheck::Tcp => "tcp".to_string(),
        crate::spec::HealthCheck::Http { path } => format!("GET {path}"),
    };
    vec![
        ("image", s.image.clone()),
        ("entrypoint", argv(&s.entrypoint)),
        ("command", argv(&s.command)),
        (
            "env",
            format!(
                "[{}]",
                s.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ("port", s.port.to_string()),
        (
            "routes",
            format!(
                "[{}]",
                s.routes
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ("memory", format_size(s.memory_bytes)),
        (
            "cpus",
            s.cpus_milli
                .map(|m| format!("{}", m as f64 / 1000.0))
                .unwrap_or_else(|| "unlimited".into()),
        ),
        ("concurrency", s.concurrency.to_string()),
        (
            "replicas",
            format!("{} to {}", s.min_replicas, s.max_replicas),
        ),
        ("idle", format_duration(s.idle_ms)),
        ("health", check(&s.health)),
        (
            "liveness",
            s.liveness
                .as_ref()
                .map(check)
                .unwrap_or_else(|| "none".into()),
        ),
        ("stop_timeout", format_duration(s.stop_timeout_ms)),
    ]
}

fn describe_queue(q: &QueueSpec) -> Vec<(&'static str, String)> {
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    vec![
        (
            "visibility_timeout",
            format_duration(q.visibility_timeout_ms),
        ),
        (
            "max_receives",
            or_none(q.max_receives.map(|m| m.to_string())),
        ),
        ("dead_letter", or_none(q.dead_letter.clone())),
        ("retention", format_duration(q.retention_ms)),
        ("delay", format_duration(q.delay_ms)),
        ("max_message_size", format_size(q.max_message_bytes)),
        (
            "consumer",
            or_none(q.consumer.as_ref().map(|c| {
                let kind = match c.target {
                    ConsumerTarget::Function(_) => "function",
                    ConsumerTarget::Task(_) => "task",
                    ConsumerTarget::Workflow(_) => "workflow",
                };
                format!(
                    "{kind}:{} batch {} x{}",
                    c.target.name(),
                    c.batch_size,
                    c.concurrency
                )
            })),
        ),
    ]
}

fn describe_schedule(s: &ScheduleSpec) -> Vec<(&'static str, String)> {
    vec![
        (
            "every",
            match &s.every {
                Every::Cron(c) => format!("cron {c}"),
                Every::Rate(ms) => format!("rate {}", format_duration(*ms)),
            },
        ),
        ("timezone", s.timezone.clone()),
        ("target", s.target.describe()),
        ("payload", s.payload.clone()),
        ("overlap", format!("{:?}", s.overlap).to_lowercase()),
        (
            "catch_up",
            format!(
                "{:?} within {}",
                s.catch_up,
                format_duration(s.catch_up_window_ms)
            )
            .to_lowercase(),
        ),
    ]
}

fn describe_workflow(w: &crate::spec::WorkflowSpec) -> Vec<(&'static str, String)> {
    // A checksum of the text (FNV-1a: stable across builds) shows that
    // the definition changed; `strato workflow describe` shows it.
    let digest = w.definition.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let states = serde_json::from_str::<serde_json::Value>(&w.definition)
        .ok()
        .and_then(|d| d.get("States").and_then(|s| s.as_object()).map(|s| s.len()))
        .unwrap_or(0);
    vec![
        ("definition", w.file.clone()),
        ("states", states.to_string()),
        ("version", format!("{digest:016x}")),
        ("on_bucket", describe_subscriptions(&w.on_bucket)),
    ]
}

/// Diffs `desired` against `live` (None when the app does not exist yet).
pub fn diff(desired: &RevisionSpec, live: Option<(i64, &RevisionSpec)>) -> Plan {
    let mut changes = Vec::new();
    let empty = BTreeMap::new();
    let live_functions = live.map(|(_, r)| &r.functions).unwrap_or(&empty);
    diff_resources(
        "function",
        &desired.functions,
        live_functions,
        describe,
        &mut changes,
    );
    let no_tasks = BTreeMap::new();
    let live_tasks = live.map(|(_, r)| &r.tasks).unwrap_or(&no_tasks);
    diff_resources(
        "task",
        &desired.tasks,
        live_tasks,
        describe_task,
        &mut changes,
    );
    let no_queues = BTreeMap::new();
    let live_queues = live.map(|(_, r)| &r.queues).unwrap_or(&no_queues);
    diff_resources(
        "queue",
        &desired.queues,
        live_queues,
        describe_queue,
        &mut changes,
    );
    let no_schedules = BTreeMap::new();
    let live_schedules = live.map(|(_, r)| &r.schedules).unwrap_or(&no_schedules);
    diff_resources(
        "schedule",
        &desired.schedules,
        live_schedules,
        describe_schedule,
        &mut changes,
    );
    let no_workflows = BTreeMap::new();
    let live_workflows = live.map(|(_, r)| &r.workflows).unwrap_or(&no_workflows);
    diff_resources(
        "workflow",
        &desired.workflows,
        live_workflows,
        describe_workflow,
        &mut changes,
    );
    let no_services = BTreeMap::new();
    let live_services = live.map(|(_, r)| &r.services).unwrap_or(&no_services);
    diff_resources(
        "service",
        &desired.services,
        live_services,
        describe_service,
        &mut changes,
    );
    let no_buckets = std::collections::BTreeSet::new();
    let live_buckets = live.map(|(_, r)| &r.buckets).unwrap_or(&no_buckets);
    for name in desired.buckets.difference(live_buckets) {
        changes.push(bucket_change(ChangeKind::Create, name));
    }
    for name in live_buckets.difference(&desired.buckets) {
        changes.push(bucket_change(ChangeKind::Delete, name));
    }
    Plan {
        app: desired.app.to_string(),
        live_revision: live.map(|(n, _)| n),
        changes,
    }
}

/// Creates, updates (field by field) and deletes of one kind of resource.
fn diff_resources<N: Ord + std::fmt::Display, T>(
    kind: &str,
    desired: &BTreeMap<N, T>,
    live: &BTreeMap<N, T>,
    describe: fn(&T) -> Vec<(&'static str, String)>,
    changes: &mut Vec<ResourceChange>,
) {
    for (name, want) in desired {
        let resource = format!("{kind} {name}");
        match live.get(name) {
            None => changes.push(ResourceChange {
                kind: ChangeKind::Create,
                resource,
                fields: describe(want)
                    .into_iter()
                    .map(|(field, new)| FieldChange {
                        field: field.into(),
                        old: None,
                        new: Some(new),
                    })
                    .collect(),
            }),
            Some(have) => {
                let fields: Vec<FieldChange> = describe(have)
                    .into_iter()
                    .zip(describe(want))
                    .filter(|((_, old), (_, new))| old != new)
                    .map(|((field, old), (_, new))| FieldChange {
                        field: field.into(),
                        old: Some(old),
                        new: Some(new),
                    })
                    .collect();
                if !fields.is_empty() {
                    changes.push(ResourceChange {
                        kind: ChangeKind::Update,
                        resource,
                        fields,
                    });
                }
            }
        }
    }
    for (name, have) in live {
        if !desired.contains_key(name) {
            changes.push(ResourceChange {
                kind: ChangeKind::Delete,
                resource: format!("{kind} {name}"),
                fields: describe(have)
                    .into_iter()
                    .map(|(field, old)| FieldChange {
                        field: field.into(),
                        old: Some(old),
                        new: None,
                    })
                    .collect(),
            });
        }
    }
}

fn bucket_change(kind: ChangeKind, name: &str) -> ResourceChange {
    ResourceChange {
        kind,
        resource: format!("bucket {name}"),
        fields: Vec::new(),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.live_revision {
            None => writeln!(f, "app {} (new)", self.app)?,
            Some(n) => writeln!(f, "app {} (live revision {n})", self.app)?,
        }
        if self.changes.is_empty() {
            return writeln!(f, "  no changes");
        }
        for change in &self.changes {
            let (sign, verb) = match change.kind {
                ChangeKind::Create => ('+', "create"),
                ChangeKind::Update => ('~', "update"),
                ChangeKind::Delete => ('-', "delete"),
            };
            writeln!(f, "  {sign} {verb} {}", change.resource)?;
            for field in &change.fields {
                match (&field.old, &field.new) {
                    (Some(old), Some(new)) => writeln!(f, "      {}: {old} -> {new}", field.field)?,
                    (None, Some(new)) => writeln!(f, "      {}: {new}", field.field)?,
                    (Some(old), None) => writeln!(f, "      {}: {old}", field.field)?,
                    (None, None) => {}
                }
            }
        }
        let count = |k| self.changes.iter().filter(|c| c.kind == k).count();
        writeln!(
            f,
            "  {} to create, {} to update, {} to delete",
            count(ChangeKind::Create),
            count(ChangeKind::Update),
            count(ChangeKind::Delete)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_manifest;
    use crate::spec::DeployedFunction;

    fn revision(text: &str, digest: &str) -> RevisionSpec {
        let spec = parse_manifest(text, "strato.toml").unwrap();
        RevisionSpec {
            buckets: Default::default(),
            tasks: spec.tasks,
            queues: spec.queues,
            schedules: spec.schedules,
            workflows: spec.workflows,
            services: spec.services,
            app: spec.app,
            functions: spec
                .functions
                .into_iter()
                .map(|(n, s)| {
                    (
                        n,
                        DeployedFunction {
                            spec: s,
                            component_digest: digest.repeat(64),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn creates_updates_and_deletes() {
        let live = revision(
            "[app]\nname=\"a\"\n[functions.keep]\ncomponent=\"k\"\n[functions.gone]\ncomponent=\"g\"\n",
            "a",
        );
        let want = revision(
            "[app]\nname=\"a\"\n[functions.keep]\ncomponent=\"k\"\ntimeout=\"5s\"\n[functions.new]\ncomponent=\"n\"\n",
            "a",
        );
        let plan = diff(&want, Some((3, &live)));
        assert_eq!(plan.changes.len(), 3);
        let update = plan
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::Update)
            .unwrap();
        assert_eq!(update.resource, "function keep");
        assert_eq!(update.fields.len(), 1);
        assert_eq!(update.fields[0].field, "timeout");
        assert_eq!(update.fields[0].new.as_deref(), Some("5s"));
        let text = plan.to_string();
        assert!(text.contains("+ create function new"), "{text}");
        assert!(text.contains("- delete function gone"), "{text}");
        assert!(text.contains("timeout: 30s -> 5s"), "{text}");
        assert!(diff(&live, Some((3, &live))).is_empty());
        assert_eq!(diff(&want, None).changes.len(), 2);
    }

    #[test]
    fn lambda_functions_show_their_runtime_and_code() {
        let head = "[app]\nname=\"a\"\n[functions.api]\nruntime=\"python3.11\"\nhandler=\"app.handler\"\ncode=\"src\"\n";
        let live = revision(head, "a");
        let want = revision(&format!("{head}idle=\"0s\"\n"), "b");
        let plan = diff(&want, Some((1, &live)));
        let text = plan.to_string();
        assert!(
            text.contains("code: src (sha256:aaaaaaaaaaaa) -> src (sha256:bbbbbbbbbbbb)"),
            "{text}"
        );
        assert!(text.contains("idle: 10m -> 0ms"), "{text}");
        let created = diff(&live, None).to_string();
        assert!(created.contains("runtime: python3.11"), "{created}");
        assert!(created.contains("handler: app.handler"), "{created}");
        assert!(!created.contains("component"), "{created}");
    }

    #[test]
    fn queues_and_schedules_diff_field_by_field() {
        let head = "[app]\nname=\"a\"\n[functions.f]\ncomponent=\"f\"\n";
        let live = revision(
            &format!("{head}[queues.jobs]\n[schedules.tick]\nrate=\"1m\"\nfunction=\"f\"\n"),
            "a",
        );
        let want = revision(
            &format!(
                "{head}[queues.jobs]\nvisibility_timeout=\"2m\"\n[schedules.tick]\ncron=\"*/5 * * * *\"\nfunction=\"f\"\n"
            ),
            "a",
        );
        let text = diff(&want, Some((1, &live))).to_string();
        assert!(text.contains("~ update queue jobs"), "{text}");
        assert!(text.contains("visibility_timeout: 30s -> 2m"), "{text}");
        assert!(
            text.contains("every: rate 1m -> cron */5 * * * *"),
            "{text}"
        );
    }
}
