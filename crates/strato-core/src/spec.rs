//! Validated resources: what a manifest asks for and what a deploy stores.

use crate::names::{
    AppName, FunctionName, QueueName, ScheduleName, ServiceName, TaskName, WorkflowName,
};
use crate::outbound::OutboundRule;
use crate::route::Route;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Default memory limit of a function.
pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;
/// Default timeout of a function.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default number of concurrent runs of one function.
pub const DEFAULT_CONCURRENCY: u32 = 100;
/// Largest memory limit a wasm32 function can use.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;
/// Retries of a failed asynchronous delivery (bucket events), as Lambda.
pub const DEFAULT_RETRIES: u32 = 2;

fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

/// Which object changes a subscription wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketEventKind {
    /// ObjectCreated:* (put, copy, completed multipart upload).
    Put,
    /// ObjectRemoved:*.
    Delete,
}

/// A `[[functions.NAME.on_bucket]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSubscription {
    pub bucket: String,
    pub events: Vec<BucketEventKind>,
    /// Keys must start with this (may be empty).
    pub prefix: String,
    /// Keys must end with this (may be empty).
    pub suffix: String,
}

impl BucketSubscription {
    /// Whether an event named like S3's (`ObjectCreated:Put`) on `key`
    /// matches.
    pub fn matches(&self, event_name: &str, key: &str) -> bool {
        let kind = if event_name.starts_with("ObjectCreated:") {
            BucketEventKind::Put
        } else {
            BucketEventKind::Delete
        };
        self.events.contains(&kind) && key.starts_with(&self.prefix) && key.ends_with(&self.suffix)
    }
}

/// What runs a function: one executor per kind.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    /// A `wasi:http/proxy` WebAssembly component (`component = ...`).
    #[default]
    Wasm,
    /// An AWS Lambda handler (`runtime = ...` or `image = ...`), run in
    /// warm execution environments through the Lambda Runtime API.
    Lambda,
}

impl FunctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Wasm => "wasm",
            FunctionKind::Lambda => "lambda",
        }
    }
}

impl std::fmt::Display for FunctionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `[functions.NAME]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// Which executor runs it (revisions stored before kinds existed are
    /// wasm).
    #[serde(default)]
    pub kind: FunctionKind,
    /// Path of a wasm function's artifact (a `wasi:http/proxy`
    /// component), relative to the manifest; empty for a Lambda function.
    pub component: String,
    /// A Lambda function's runtime or image and environment settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<crate::lambda::LambdaSpec>,
    /// Shell command run (in the manifest's directory) before deploying.
    pub build: Option<String>,
    pub routes: Vec<Route>,
    pub env: BTreeMap<String, String>,
    pub memory_bytes: u64,
    pub timeout_ms: u64,
    pub concurrency: u32,
    pub allowed_outbound_hosts: Vec<OutboundRule>,
    #[serde(default)]
    pub on_bucket: Vec<BucketSubscription>,
    /// Retries of a failed event delivery or async invocation
    /// (`[functions.NAME.async] retries`).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Longest an async invocation may wait for a successful attempt
    /// (`[functions.NAME.async] max_age`).
    #[serde(default = "default_max_age_ms")]
    pub max_age_ms: u64,
    /// Where a settled async invocation's outcome goes.
    #[serde(default)]
    pub on_success: Option<crate::invocation::Destination>,
    #[serde(default)]
    pub on_failure: Option<crate::invocation::Destination>,
}

impl FunctionSpec {
    /// Whether a deploy uploads bytes for it (a component or a code
    /// package); a Lambda function from an image names an image in the
    /// image store instead.
    pub fn has_uploaded_artifact(&self) -> bool {
        !matches!(
            self.lambda.as_ref().map(|l| &l.source),
            Some(crate::lambda::LambdaSource::Image { .. })
        )
    }
}

fn default_max_age_ms() -> u64 {
    crate::invocation::DEFAULT_MAX_AGE_MS
}

/// A whole manifest, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    pub app: AppName,
    /// Buckets the app declares (`[buckets.NAME]`).
    pub buckets: BTreeSet<String>,
    pub functions: BTreeMap<FunctionName, FunctionSpec>,
    /// Container tasks (`[tasks.NAME]`); names never clash with functions'.
    pub tasks: BTreeMap<TaskName, TaskSpec>,
    pub queues: BTreeMap<QueueName, crate::queue::QueueSpec>,
    pub schedules: BTreeMap<ScheduleName, crate::schedule::ScheduleSpec>,
    pub workflows: BTreeMap<WorkflowName, WorkflowSpec>,
    /// Container services (`[services.NAME]`); names never clash with
    /// functions', tasks' or workflows'.
    pub services: BTreeMap<ServiceName, ServiceSpec>,
}

/// A container service (`[services.NAME]`): an image serving HTTP on
/// `port`, kept running in replicas behind its routes, scaled on
/// in-flight requests and to zero when idle (Cloud Run's model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Image name, as for tasks (`strato image ls`, or a name pushed to
    /// Strato's registry).
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// The port the app listens on inside its container (`PORT` is set
    /// to it).
    pub port: u16,
    /// Gateway routes it serves (a route serves one function or service).
    pub routes: Vec<Route>,
    pub memory_bytes: u64,
    /// CPU limit in thousandths of a CPU; `None` = no limit.
    pub cpus_milli: Option<u32>,
    /// Requests one replica serves at once before another is started.
    pub concurrency: u32,
    /// Replicas kept running when idle (0: scale to zero).
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Time without requests before a replica is stopped.
    pub idle_ms: u64,
    /// When a replica is ready for traffic.
    pub health: HealthCheck,
    /// When a running replica is restarted (`None`: only if it exits).
    pub liveness: Option<HealthCheck>,
    /// Between SIGTERM and SIGKILL when a replica stops.
    pub stop_timeout_ms: u64,
}

/// A replica's readiness or liveness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HealthCheck {
    /// The port accepts a connection.
    Tcp,
    /// `GET path` answers 2xx or 3xx.
    Http { path: String },
}

pub const DEFAULT_SERVICE_PORT: u16 = 8080;
pub const DEFAULT_SERVICE_CONCURRENCY: u32 = 80;
pub const DEFAULT_SERVICE_MAX_REPLICAS: u32 = 10;
pub const DEFAULT_SERVICE_IDLE_MS: u64 = 300_000;

/// A workflow (`[workflows.NAME]`): a state machine in the Amazon States
/// Language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSpec {
    /// The definition's file, relative to the manifest.
    pub file: String,
    /// The definition's text (JSON; a YAML file is converted), read by
    /// the CLI from `file`; empty until then.
    #[serde(default)]
    pub definition: String,
    /// `[[workflows.NAME.on_bucket]]`: each matching event starts an
    /// execution with the S3 event as its input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_bucket: Vec<BucketSubscription>,
}

/// A function as deployed: its spec and the content hash of its component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedFunction {
    pub spec: FunctionSpec,
    /// Lowercase hex SHA-256 of the component bytes.
    pub component_digest: String,
}

/// What a deploy asks the server to make live; stored immutably as a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionSpec {
    pub app: AppName,
    #[serde(default)]
    pub buckets: BTreeSet<String>,
    pub functions: BTreeMap<FunctionName, DeployedFunction>,
    #[serde(default)]
    pub tasks: BTreeMap<TaskName, TaskSpec>,
    #[serde(default)]
    pub queues: BTreeMap<QueueName, crate::queue::QueueSpec>,
    #[serde(default)]
    pub schedules: BTreeMap<ScheduleName, crate::schedule::ScheduleSpec>,
    #[serde(default)]
    pub workflows: BTreeMap<WorkflowName, WorkflowSpec>,
    #[serde(default)]
    pub services: BTreeMap<ServiceName, ServiceSpec>,
}

impl RevisionSpec {
    /// Every route this revision claims, with what claims it: `("function",
    /// NAME)` or `("service", NAME)`.
    pub fn routes(&self) -> impl Iterator<Item = (&Route, &'static str, &str)> {
        let functions = self.functions.iter().flat_map(|(name, f)| {
            f.spec
                .routes
                .iter()
                .map(move |r| (r, "function", name.as_str()))
        });
        let services = self
            .services
            .iter()
            .flat_map(|(name, s)| s.routes.iter().map(move |r| (r, "service", name.as_str())));
        functions.chain(services)
    }
}

/// Whether `text` is a plausible lowercase hex SHA-256 digest.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Default memory limit of a task (Fargate's smallest size).
pub const DEFAULT_TASK_MEMORY_BYTES: u64 = 512 << 20;
/// Default process limit of a task.
pub const DEFAULT_TASK_PIDS: i64 = 4096;
/// Default wait between SIGTERM and SIGKILL when a task is stopped.
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = 10_000;

/// Which network a task's container gets (design.md section 6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskNetwork {
    /// Its own namespace with loopback only, Strato's API and S3 endpoints
    /// forwarded in at 127.0.0.1.
    #[default]
    Platform,
    /// The host's network.
    Host,
    /// Loopback only, nothing forwarded.
    None,
}

impl TaskNetwork {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskNetwork::Platform => "platform",
            TaskNetwork::Host => "host",
            TaskNetwork::None => "none",
        }
    }
}

/// A `[tasks.NAME]` table, validated: an OCI image run to completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Image name (`thumbnailer/ffmpeg:1`) as stored by `strato image`.
    pub image: String,
    /// Replaces the image's ENTRYPOINT (and then drops its CMD), as Docker.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's CMD.
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub memory_bytes: u64,
    /// CPU limit in thousandths of a CPU; `None` = no limit.
    pub cpus_milli: Option<u32>,
    pub pids: i64,
    /// `None` = runs until it exits.
    pub timeout_ms: Option<u64>,
    /// Between SIGTERM and SIGKILL when the timeout strikes.
    pub stop_timeout_ms: u64,
    pub network: TaskNetwork,
    /// New attempts after a failed one (non-zero exit, timeout, OOM, crash).
    pub retries: u32,
    #[serde(default)]
    pub on_bucket: Vec<BucketSubscription>,
    /// No new attempt starts this long after the first was queued.
    #[serde(default = "default_max_age_ms")]
    pub max_age_ms: u64,
    /// Where a finished run's outcome goes (`[tasks.NAME.async]`).
    #[serde(default)]
    pub on_success: Option<crate::invocation::Destination>,
    #[serde(default)]
    pub on_failure: Option<crate::invocation::Destination>,
}

/// Whether `name` may be set as an environment variable by a manifest or
/// a caller; the error says why not and what to use instead.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['=', '\0']) || name.as_bytes()[0].is_ascii_digit() {
        return Err(format!(
            "env name `{name}` is not valid; use letters, digits and `_`, not starting with a digit"
        ));
    }
    if name.starts_with("STRATO_") {
        return Err(format!(
            "env name `{name}` is reserved: Strato sets STRATO_* itself"
        ));
    }
    Ok(())
}
