//! The WebAssembly executor: runs `wasi:http/proxy` components with wasmtime.
//!
//! [`WasmEngine`] owns one wasmtime `Engine` (pooling allocator, copy-on-write
//! memory images, epoch interruption) and a linker with WASI (CLI, clocks,
//! random, filesystem, sockets disabled by default) and `wasi:http`, the
//! same set `wasmtime serve -S cli` offers. Components are validated and
//! precompiled once into a cache keyed by content digest and engine
//! compatibility hash ([`WasmEngine::prepare`]); a [`PreparedComponent`] is
//! pre-instantiated, so each request only creates a fresh instance.
//!
//! [`WasmEngine::invoke`] runs one request in a fresh instance with an
//! [`InvocationLimits`] (memory, timeout, env, outbound allow-list) and
//! returns the HTTP response at once, handing the run's [`Outcome`]
//! (status, error, captured stdout/stderr lines) to a callback when the guest
//! returns. It knows nothing of routes,
//! apps or storage.

mod engine;
mod invoke;
mod logs;
mod outbound;

pub use engine::{ComponentError, PreparedComponent, WasmConfig, WasmEngine, WasmError};
pub use invoke::{
    Delivery, InvocationLimits, Outcome, OutcomeStatus, ResponseBody, full_body, text_response,
};
pub use logs::LogCapture;

/// The error type request bodies handed to [`WasmEngine::invoke`] convert into.
pub use wasmtime_wasi_http::Error as BodyError;
