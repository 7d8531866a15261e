//! The engine: turns deployed revisions into live, routable functions and
//! runs them.
//!
//! [`Platform`] is the service every HTTP surface calls. It
//! - validates, precompiles and stores revisions ([`Platform::plan`],
//!   [`Platform::deploy`], [`Platform::destroy`]), switching the routing
//!   table atomically so requests in flight finish on the revision they
//!   started on;
//! - routes gateway requests and control-API invokes to a function and runs
//!   them on the executor of its kind (`strato_executor::FunctionExecutor`)
//!   within the function's concurrency limit ([`Platform::handle_gateway`],
//!   [`Platform::invoke`]);
//! - records every run and its logs through the batched recorder;
//! - keeps buckets ([`buckets::Buckets`]: objects, multipart uploads, access
//!   keys) and delivers their events to subscribed functions at least once
//!   ([`events`]);
//! - runs container tasks on the OCI executor, durably queued, retried and
//!   recovered after a crash ([`Platform::start_task`]), from images in its
//!   image store ([`Platform::images`]).
//!
//! It holds no SQL and no HTTP routing of its own: storage goes through
//! `strato_store::Store`, functions through the executors the binary hands
//! it, container tasks through `strato_oci`.

mod assemble;
mod async_invoke;
pub mod buckets;
mod deploy;
pub mod events;
mod invoke;
mod lifecycle;
mod live;
mod platform;
pub mod queues;
mod run_env;
mod runs;
pub mod schedules;
mod slots;
mod sweep;
mod tasks;
mod tokens;
mod util;

pub use async_invoke::{
    InvocationHead, MAX_ASYNC_BODY, accepted_response, head_of, is_forwarded, parse_priority,
    requested_priority, wants_async,
};
pub use deploy::DeployError;
pub use invoke::InvokeError;
pub use platform::{Platform, PlatformConfig};
pub use run_env::DEFAULT_PATH;
pub use strato_executor::{Body, BodyError, FunctionExecutor, boxed, full_body, text_response};
pub use strato_oci;
pub use tasks::{TaskError, TaskOverrides};
pub use tokens::{AppToken, TokenIssuer};
