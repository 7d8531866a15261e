//! The live routing table: which function serves which path, swapped
//! atomically on deploy.

use std::collections::HashMap;
use std::sync::Arc;
use strato_core::FunctionSpec;
use strato_core::route::RouteTable;
use strato_executor::{PreparedFunction, RunLimits};
use tokio::sync::Semaphore;

/// A function of a live revision, ready to run.
pub struct LiveFunction {
    pub app: String,
    pub name: String,
    pub revision: i64,
    pub spec: FunctionSpec,
    /// Ready on the executor of its kind.
    pub prepared: Arc<dyn PreparedFunction>,
    /// Limits with the environment every run of this function shares.
    pub limits: RunLimits,
    /// Shared across revisions while the limit is unchanged, so a deploy
    /// does not double the allowed concurrency.
    pub permits: Arc<Semaphore>,
    /// Async work waiting for `permits`, by priority (paired with them).
    pub async_slots: Arc<crate::slots::AsyncSlots>,
}

/// Everything live, by route and by name.
#[derive(Default)]
pub struct Routing {
    pub routes: RouteTable<Arc<LiveFunction>>,
    pub functions: HashMap<(String, String), Arc<LiveFunction>>,
}

impl Routing {
    /// Builds a table from every live function.
    pub fn build(functions: impl IntoIterator<Item = Arc<LiveFunction>>) -> Routing {
        let functions: HashMap<_, _> = functions
            .into_iter()
            .map(|f| ((f.app.clone(), f.name.clone()), f))
            .collect();
        let routes = RouteTable::new(
            functions
                .values()
                .flat_map(|f| f.spec.routes.iter().map(move |r| (r.clone(), f.clone()))),
        );
        Routing { routes, functions }
    }

    /// Finds a function by `APP/NAME`, or by `NAME` when only one app has it.
    pub fn find(&self, target: &str) -> Result<Arc<LiveFunction>, Vec<String>> {
        if let Some((app, name)) = target.split_once('/') {
            return self
                .functions
                .get(&(app.to_string(), name.to_string()))
                .cloned()
                .ok_or_else(Vec::new);
        }
        let matches: Vec<_> = self
            .functions
            .values()
            .filter(|f| f.name == target)
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            many => Err(many
                .iter()
                .map(|f| format!("{}/{}", f.app, f.name))
                .collect()),
        }
    }
}
