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
//! [`WasmEngine::invoke`] runs one request in a fresh instance with
//! `strato_executor::RunLimits` (memory, timeout, env, outbound allow-list)
//! and returns the HTTP response at once, handing the run's
//! `strato_executor::Outcome` (status, error, captured stdout/stderr lines,
//! instantiation time) to a callback when the guest returns. It knows
//! nothing of routes, apps or storage.
//!
//! [`WasmExecutor`] is what the engine sees: the `wasm` kind's
//! `strato_executor::FunctionExecutor`, speaking the engine's body type.

mod engine;
mod executor;
mod invoke;
mod logs;
mod outbound;

pub use engine::{ComponentError, PreparedComponent, WasmConfig, WasmEngine, WasmError};
pub use executor::WasmExecutor;
pub use logs::LogCapture;
