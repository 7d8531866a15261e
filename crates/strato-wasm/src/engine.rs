//! The wasmtime engine, its linker, and the precompile cache.

use crate::invoke::HostState;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Settings of the executor.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Where precompiled components are cached.
    pub cache_dir: PathBuf,
    /// Most instances alive at once across all functions (sizes the pool).
    pub max_instances: u32,
    /// Granularity of timeouts (epoch interruption tick).
    pub epoch_tick: Duration,
}

impl WasmConfig {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        WasmConfig {
            cache_dir: cache_dir.into(),
            max_instances: 1000,
            epoch_tick: Duration::from_millis(5),
        }
    }
}

/// The host failed to set up the executor.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("configuring wasmtime: {0:#}")]
    Engine(wasmtime::Error),
    #[error("creating the compile cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why a component cannot be deployed. Messages are written for the user
/// who built the component.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm,
    #[error(
        "is a core WebAssembly module, not a component; build it for the `wasm32-wasip2` target (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("is not a valid component: {0}")]
    Invalid(String),
    #[error(
        "does not target the wasi:http/proxy world: {0}; export `wasi:http/incoming-handler@0.2.x` (e.g. with `wasi::http::proxy::export!`)"
    )]
    WrongWorld(String),
    #[error("imports something Strato does not provide: {0}")]
    UnsatisfiedImport(String),
    #[error("reading the component: {0}")]
    Io(#[from] std::io::Error),
}

/// A validated, compiled, pre-instantiated component. Cheap to clone.
#[derive(Clone)]
pub struct PreparedComponent {
    pub(crate) pre: ProxyPre<HostState>,
    digest: Arc<str>,
}

impl PreparedComponent {
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// The executor. Create one per process.
pub struct WasmEngine {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    engine_key: String,
    compilations: AtomicU64,
    pub(crate) epoch_tick: Duration,
    /// One permit per pooled instance slot: past the pool's size, requests
    /// wait for a slot instead of failing to instantiate.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    stop_ticker: Arc<AtomicBool>,
}

impl WasmEngine {
    pub fn new(config: WasmConfig) -> Result<Arc<WasmEngine>, WasmError> {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .total_stacks(n)
            .max_memory_size(strato_core::spec::MAX_MEMORY_BYTES as usize)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(32)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // Reset reused slots in place instead of madvise-ing pages away:
            // madvise costs a TLB shootdown on every core plus a page fault per
            // touched page on the next request. With PAGEMAP_SCAN (Linux 6.7+)
            // only the pages a request dirtied are restored.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(8 << 20)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(512 << 10)
            // What still needs madvise is batched, one shootdown per batch.
            .decommit_batch_size(64);

        let mut cfg = Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg).map_err(WasmError::Engine)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(WasmError::Engine)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(WasmError::Engine)?;

        std::fs::create_dir_all(&config.cache_dir).map_err(|source| WasmError::Cache {
            path: config.cache_dir.clone(),
            source,
        })?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());

        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), config.epoch_tick, stop_ticker.clone());

        Ok(Arc::new(WasmEngine {
            engine,
            linker,
            cache_dir: config.cache_dir,
            engine_key,
            compilations: AtomicU64::new(0),
            epoch_tick: config.epoch_tick,
            slots: Arc::new(tokio::sync::Semaphore::new(n as usize)),
            stop_ticker,
        }))
    }

    /// How many components this process has compiled (cache misses).
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    fn cache_path(&self, digest: &str) -> PathBuf {
        self.cache_dir
            .join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Validates the component stored at `wasm_path` (whose SHA-256 is
    /// `digest`), compiling it unless the cache already holds it, and
    /// pre-instantiates it against the `wasi:http/proxy` world.
    pub fn prepare(
        &self,
        digest: &str,
        wasm_path: &Path,
    ) -> Result<PreparedComponent, ComponentError> {
        let cached = self.cache_path(digest);
        let component = match load_cached(&self.engine, &cached) {
            Some(c) => c,
            None => {
                let bytes = std::fs::read(wasm_path)?;
                let component = self.compile(&bytes)?;
                if let Ok(serialized) = component.serialize() {
                    write_atomically(&cached, &serialized);
                }
                component
            }
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| ComponentError::UnsatisfiedImport(format!("{e:#}").replace("\n", " ")))?;
        let pre = ProxyPre::new(instance_pre)
            .map_err(|e| ComponentError::WrongWorld(format!("{e:#}").replace("\n", " ")))?;
        Ok(PreparedComponent {
            pre,
            digest: digest.into(),
        })
    }

    fn compile(&self, bytes: &[u8]) -> Result<Component, ComponentError> {
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(ComponentError::NotWasm);
        }
        // Core modules have layer 0 in the upper half of the version field;
        // components have layer 1.
        if bytes[6..8] == [0, 0] {
            return Err(ComponentError::CoreModule);
        }
        self.compilations.fetch_add(1, Ordering::Relaxed);
        Component::new(&self.engine, bytes)
            .map_err(|e| ComponentError::Invalid(format!("{e:#}").replace("\n", " ")))
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

fn load_cached(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the cache directory is private to this server (inside its data
    // dir), files are written atomically by `write_atomically`, and their
    // names carry the engine's compatibility hash, so a file here is one this
    // engine configuration produced. wasmtime still checks its header.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compile cache entry");
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not write compile cache entry");
        let _ = std::fs::remove_file(&tmp);
    }
}

fn spawn_epoch_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("strato-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch ticker");
}
