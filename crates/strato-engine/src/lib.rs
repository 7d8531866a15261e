//! The engine: turns deployed revisions into live, routable functions and
//! runs them, with every piece of durable work carried to its end.
//!
//! [`Platform`] is the service every HTTP surface calls. It
//! - validates, prepares and stores revisions ([`Platform::plan`],
//!   [`Platform::deploy`], [`Platform::destroy`]): each app's revision is
//!   assembled (`assemble.rs`) into one immutable snapshot of everything
//!   live (`live.rs`), swapped once per deploy, so requests in flight
//!   finish on the revision they started on;
//! - routes gateway requests and control-API invokes to a function and runs
//!   them on the executor of its kind (`strato_executor::FunctionExecutor`)
//!   within the function's concurrency limit ([`Platform::handle_gateway`],
//!   [`Platform::invoke`]), recording every run through the batched recorder
//!   (`runs.rs`);
//! - carries durable work (async invocations and their destinations,
//!   bucket-event deliveries, task runs, schedule firings) through one
//!   lifecycle: typed targets (`strato_core::target::Target`), leases owned
//!   by this node, attempts with backoff and max age (`lifecycle.rs`), one
//!   sweeper (`sweep.rs`), and completion effects committed with each run's
//!   record (`strato_store::Effect`);
//! - keeps buckets ([`buckets::Buckets`]: objects, multipart uploads, access
//!   keys) and delivers their events ([`events`]), queues and their
//!   consumers ([`queues`]), schedules ([`schedules`]) and container tasks
//!   on the OCI runtime (`tasks.rs`).
//!
//! It holds no SQL, no HTTP routing and no executor of its own: state goes
//! through `strato_store::Store`, object bytes through `strato_blob`, and
//! functions through the executors the binary hands it.

mod assemble;
mod async_invoke;
pub mod buckets;
mod cluster;
mod containers;
mod deploy;
mod destinations;
mod event_invoke;
pub mod events;
mod image_catalog;
mod invoke;
mod lifecycle;
mod live;
mod otlp;
mod platform;
pub mod queues;
mod run_env;
mod run_metrics;
mod runs;
pub mod schedules;
mod services;
mod slots;
mod sweep;
mod tasks;
mod tokens;
pub mod trace;
mod util;
pub mod workflows;

pub use async_invoke::{
    InvocationHead, MAX_ASYNC_BODY, accepted_response, head_of, is_forwarded, parse_priority,
    requested_priority, wants_async,
};
pub use cluster::ClusterConfig;
pub use deploy::DeployError;
pub use event_invoke::{
    EventAnswer, FunctionInfo, INVOKE_EVENT_TYPE, MAX_EVENT_ANSWER, parse_event,
};
pub use image_catalog::SharedImages;
pub use invoke::{InvokeError, RUN_ID_HEADER};
pub use otlp::OtlpConfig;
pub use platform::{Platform, PlatformConfig};
pub use run_env::DEFAULT_PATH;
pub use services::{ClientAddr, ReplicaStatus, RequestFigures, ServiceStatus};
pub use strato_blob::{BlobStore, S3BlobConfig};
pub use strato_executor::{Body, BodyError, FunctionExecutor, boxed, full_body, text_response};
pub use strato_oci;
pub use tasks::{CancelError, Cancelled, TaskError, TaskOverrides};
pub use tokens::{AppToken, TokenIssuer};
