//! The `lambda` executor: unmodified AWS Lambda handlers (Python, Node.js,
//! a custom `bootstrap`) in warm execution environments.
//!
//! An environment is one container running a Lambda runtime (a runtime
//! interface client and the user's handler) that asks Strato for work
//! through the Lambda Runtime API. This crate grows in the order the
//! pieces depend on each other; today it holds:
//!
//! - [`runtime_api`]: the Runtime API one environment talks to
//!   ([`RuntimeApi`]): `next` hands it one [`Invocation`] at a time, its
//!   `response` or `error` answers that invocation, `init/error` reports a
//!   runtime that could not start.
//!
//! ```ignore
//! let (api, invocations, mut events) = RuntimeApi::start(config).await?;
//! // The container gets AWS_LAMBDA_RUNTIME_API=<api.addr()> (forwarded in).
//! let (done, answer) = tokio::sync::oneshot::channel();
//! invocations
//!     .send(Invocation { request_id, deadline_ms, trace_id: None, event, done })
//!     .await?;
//! match answer.await? {
//!     Answer::Response(bytes) => { /* the handler's result */ }
//!     Answer::Error(error) => { /* error.summary(): "ValueError: boom" */ }
//!     Answer::TooLarge(size) => { /* past the 6 MiB limit */ }
//! }
//! ```

pub mod environment;
pub mod events;
pub mod executor;
pub mod runtime_api;
pub mod runtimes;

pub use executor::{LambdaConfig, LambdaExecutor};
pub use runtime_api::{
    Answer, FunctionError, Invocation, RuntimeApi, RuntimeApiConfig, RuntimeEvent,
};
pub use runtimes::RuntimeImagesConfig;
