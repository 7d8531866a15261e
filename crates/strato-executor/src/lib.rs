//! The seam between the engine and the things that run functions.
//!
//! A kind of function ([`FunctionKind`]: `wasm` today) is run by one
//! [`FunctionExecutor`]. At deploy (and for every live function at start)
//! the engine asks it to [`prepare`](FunctionExecutor::prepare) the
//! function's artifact, e.g. validate and precompile a component; the
//! [`PreparedFunction`] it returns then runs one [`Invocation`] per request
//! or event and reports an executor-neutral [`Outcome`] (status, error, HTTP
//! status or exit code, log lines, cold start and init time, billed time).
//!
//! Requests and responses use one [`Body`] type owned here, so HTTP
//! surfaces and the engine never name an executor's HTTP types. Executors
//! know nothing of routes, apps' other resources or storage.
//!
//! ```ignore
//! let prepared = executor.prepare(artifact).await?;
//! let response = prepared
//!     .invoke(Invocation { request, limits, delivery: Delivery::Streaming, on_done, on_free })
//!     .await;
//! ```

mod body;

pub use body::{Body, BodyError, boxed, full_body, text_response};
pub use strato_core::FunctionKind;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strato_core::outbound::OutboundRule;
use strato_core::{FunctionSpec, LogLine};

/// One function to get ready: its spec and its uploaded artifact.
#[derive(Debug, Clone, Copy)]
pub struct FunctionArtifact<'a> {
    pub app: &'a str,
    pub name: &'a str,
    pub spec: &'a FunctionSpec,
    /// Content digest (sha256, hex) of the artifact's bytes.
    pub digest: &'a str,
    /// Where those bytes are.
    pub path: &'a Path,
    /// The environment every run of the function shares (its `env` and
    /// the platform's: `STRATO_API`, `AWS_ENDPOINT_URL`, ...), for
    /// executors that start processes ahead of runs.
    pub env: &'a [(String, String)],
}

/// Why a function cannot be served; the message completes "function `f`: ".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PrepareError(pub String);

/// What one run may use.
#[derive(Debug, Clone)]
pub struct RunLimits {
    pub memory_bytes: u64,
    pub timeout: Duration,
    /// The environment every run of the function shares.
    pub env: Arc<[(String, String)]>,
    /// Variables of this run only (`STRATO_RUN_ID`).
    pub extra_env: Vec<(String, String)>,
    /// Hosts the function may call.
    pub outbound: Arc<[OutboundRule]>,
}

/// How the caller takes a run's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// At the response head, the body streaming while the function still
    /// runs (requests someone waits on).
    Streaming,
    /// Whole, once the function has returned (async work, which only
    /// wants the outcome); an executor may run it on the caller's task.
    Whole,
}

/// How a run ended, as any executor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    Succeeded,
    Failed,
    TimedOut,
    /// Killed for going over its memory limit (containers; a wasm guest
    /// that hits its limit traps and fails).
    OomKilled,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: OutcomeStatus,
    pub error: Option<String>,
    /// The status the caller was answered with (HTTP functions).
    pub http_status: Option<u16>,
    /// The process's exit code (containers).
    pub exit_code: Option<i32>,
    /// What it printed, line by line, with Strato's `system` lines.
    pub logs: Vec<LogLine>,
    /// The first run after the function was (re)loaded.
    pub cold_start: bool,
    /// Time spent getting an instance or environment ready, if measured.
    pub init: Option<Duration>,
    /// Time to bill; `None` bills the run's measured duration.
    pub billed: Option<Duration>,
}

impl Outcome {
    /// A run that failed before the function ran.
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            status: OutcomeStatus::Failed,
            error: Some(error.into()),
            http_status: None,
            exit_code: None,
            logs: Vec::new(),
            cold_start: false,
            init: None,
            billed: None,
        }
    }
}

/// Told the outcome when a run ends (on the task that ran it).
pub type OnDone = Box<dyn FnOnce(Outcome) + Send>;

/// Told that a run no longer holds its function's concurrency slot.
pub type OnFree = Box<dyn FnOnce() + Send>;

/// One run of a prepared function.
pub struct Invocation {
    pub request: http::Request<Body>,
    pub limits: RunLimits,
    pub delivery: Delivery,
    pub on_done: OnDone,
    /// Called once the run's answer is given and what ran it is free for
    /// the next run, when that is before `on_done` (an executor that
    /// records a run only after its trailing output lines are in). The
    /// slot is freed at `on_done` in any case, so an executor that calls
    /// `on_done` at once may ignore this.
    pub on_free: OnFree,
}

/// A number an executor exports at `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    pub value: u64,
}

/// Runs one kind of function.
#[async_trait::async_trait]
pub trait FunctionExecutor: Send + Sync + 'static {
    /// The kind it runs.
    fn kind(&self) -> FunctionKind;

    /// Validates and readies a function for serving (compiling, or loading
    /// from a cache, off the async threads). Called at deploy and, for each
    /// live function, at start.
    async fn prepare(
        &self,
        function: FunctionArtifact<'_>,
    ) -> Result<Arc<dyn PreparedFunction>, PrepareError>;

    /// Its numbers for `/metrics`.
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }

    /// Stops whatever it keeps running between runs (warm environments),
    /// at server shutdown once no run is in flight.
    async fn shutdown(&self) {}
}

/// A function ready to run.
#[async_trait::async_trait]
pub trait PreparedFunction: Send + Sync + 'static {
    /// Runs one invocation and answers as its `delivery` says; its
    /// `on_done` gets the outcome when the run ends (with
    /// [`Delivery::Whole`], before this returns).
    async fn invoke(&self, invocation: Invocation) -> http::Response<Body>;
}
