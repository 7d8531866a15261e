//! Validated resources: what a manifest asks for and what a deploy stores.

use crate::names::{AppName, FunctionName};
use crate::outbound::OutboundRule;
use crate::route::Route;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default memory limit of a function.
pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;
/// Default timeout of a function.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default number of concurrent runs of one function.
pub const DEFAULT_CONCURRENCY: u32 = 100;
/// Largest memory limit a wasm32 function can use.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// A `[functions.NAME]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// Path of the `wasi:http/proxy` component, relative to the manifest.
    pub component: String,
    /// Shell command run (in the manifest's directory) before deploying.
    pub build: Option<String>,
    pub routes: Vec<Route>,
    pub env: BTreeMap<String, String>,
    pub memory_bytes: u64,
    pub timeout_ms: u64,
    pub concurrency: u32,
    pub allowed_outbound_hosts: Vec<OutboundRule>,
}

/// A whole manifest, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    pub app: AppName,
    pub functions: BTreeMap<FunctionName, FunctionSpec>,
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
    pub functions: BTreeMap<FunctionName, DeployedFunction>,
}

impl RevisionSpec {
    /// Every route this revision claims, with the function claiming it.
    pub fn routes(&self) -> impl Iterator<Item = (&Route, &FunctionName)> {
        self.functions
            .iter()
            .flat_map(|(name, f)| f.spec.routes.iter().map(move |r| (r, name)))
    }
}

/// Whether `text` is a plausible lowercase hex SHA-256 digest.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
