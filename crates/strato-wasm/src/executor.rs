//! [`WasmExecutor`]: the engine's [`FunctionExecutor`] for `wasm`
//! functions, over [`WasmEngine`].

use crate::engine::{PreparedComponent, WasmEngine};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strato_executor::{
    Body, BodyError, FunctionArtifact, FunctionExecutor, FunctionKind, Invocation, Metric, Outcome,
    PrepareError, PreparedFunction,
};

/// Runs `wasi:http/proxy` components.
pub struct WasmExecutor {
    engine: Arc<WasmEngine>,
}

impl WasmExecutor {
    pub fn new(engine: Arc<WasmEngine>) -> Arc<WasmExecutor> {
        Arc::new(WasmExecutor { engine })
    }
}

#[async_trait::async_trait]
impl FunctionExecutor for WasmExecutor {
    fn kind(&self) -> FunctionKind {
        FunctionKind::Wasm
    }

    async fn prepare(
        &self,
        function: FunctionArtifact<'_>,
    ) -> Result<Arc<dyn PreparedFunction>, PrepareError> {
        let engine = self.engine.clone();
        let (digest, path) = (function.digest.to_string(), function.path.to_path_buf());
        // Compiling (or loading from the cache) is blocking work.
        let component = tokio::task::spawn_blocking(move || engine.prepare(&digest, &path))
            .await
            .map_err(|e| PrepareError(format!("component could not be prepared: {e}")))?
            .map_err(|e| PrepareError(format!("component {e}")))?;
        Ok(Arc::new(WasmFunction {
            engine: self.engine.clone(),
            component,
            cold: AtomicBool::new(true),
        }))
    }

    fn metrics(&self) -> Vec<Metric> {
        vec![Metric {
            name: "strato_wasm_compilations_total",
            help: "Components compiled by this process (compile-cache misses).",
            kind: "counter",
            value: self.engine.compilations(),
        }]
    }
}

/// A component ready to serve one function.
struct WasmFunction {
    engine: Arc<WasmEngine>,
    component: PreparedComponent,
    /// Cleared by the first run after the component was loaded.
    cold: AtomicBool,
}

#[async_trait::async_trait]
impl PreparedFunction for WasmFunction {
    async fn invoke(&self, invocation: Invocation) -> http::Response<Body> {
        // The slot is freed at `on_done`, which comes as the run ends.
        let Invocation {
            request,
            limits,
            delivery,
            on_done,
            on_free: _,
        } = invocation;
        let cold = self.cold.swap(false, Ordering::Relaxed);
        let on_done = move |outcome: Outcome| {
            on_done(Outcome {
                cold_start: cold,
                ..outcome
            })
        };
        let request = request.map(|body| body.map_err(to_wasi_error));
        let response = self
            .engine
            .invoke(&self.component, request, limits, on_done, delivery)
            .await;
        response.map(|body| body.map_err(BodyError::new).boxed_unsync())
    }
}

/// A request body's error as wasi:http reports it to the guest.
fn to_wasi_error(e: BodyError) -> wasmtime_wasi_http::Error {
    match e.into_inner().downcast::<hyper::Error>() {
        Ok(hyper) => wasmtime_wasi_http::Error::Hyper(*hyper),
        Err(other) => wasmtime_wasi_http::Error::InternalError(Some(other.to_string())),
    }
}
