//! Strato's domain: the words every other crate speaks, with no IO and no
//! async runtime.
//!
//! - [`manifest`] parses `strato.toml` into an [`AppSpec`], reporting every
//!   error with file:line and what to fix.
//! - [`spec`] holds the validated resources ([`FunctionSpec`]) and the
//!   immutable [`RevisionSpec`] a deploy stores.
//! - [`plan`] diffs a desired spec against the live revision.
//! - [`route`] parses and matches gateway routes.
//! - [`queue`] and [`schedule`] describe queues and schedules; the
//!   schedule's slot planning is pure, so its policies test with any clock.
//! - [`lambda`] describes Lambda functions (runtime or image, warm
//!   environments).
//! - [`run`] describes executions: [`RunRecord`], [`RunStatus`], [`LogLine`].
//! - [`trace`] is the W3C trace context every run carries ([`TraceContext`]).
//!
//! ```
//! let spec = strato_core::manifest::parse_manifest(
//!     "[app]\nname = \"hello\"\n[functions.hi]\ncomponent = \"hi.wasm\"\nroutes = [\"/hi\"]\n",
//!     "strato.toml",
//! ).unwrap();
//! assert_eq!(spec.app.as_str(), "hello");
//! ```

pub mod invocation;
pub mod lambda;
pub mod manifest;
pub mod names;
pub mod outbound;
pub mod percent;
pub mod plan;
pub mod queue;
pub mod route;
pub mod run;
pub mod s3names;
pub mod schedule;
pub mod spec;
pub mod target;
pub mod time;
pub mod trace;
pub mod units;

pub use names::{
    AppName, FunctionName, NameError, QueueName, ScheduleName, ServiceName, TaskName, WorkflowName,
};
pub use route::Route;
pub use run::{LogLine, LogStream, RunRecord, RunStatus, Trigger};
pub use spec::{
    AppSpec, BucketEventKind, BucketSubscription, FunctionKind, FunctionSpec, RevisionSpec,
};
pub use trace::{RunSpan, TraceContext};
