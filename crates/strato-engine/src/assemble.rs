//! Assembling an app's live revision: its functions prepared on the
//! executors of their kinds with their run environment and limits, its
//! schedules with when they started. Start-up and deploy share this code.

use crate::DeployError;
use crate::live::{LiveApp, LiveFunction, LiveSchedule};
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strato_core::RevisionSpec;
use strato_core::outbound::OutboundRule;
use strato_core::spec::DeployedFunction;
use strato_executor::{FunctionArtifact, RunLimits};
use strato_store::LiveRevision;
use tokio::sync::Semaphore;

impl Platform {
    /// The live form of a stored revision. `previous` is the app's live
    /// revision it replaces (its functions' concurrency permits and its
    /// schedules' start carry over). With `strict`, a function that cannot
    /// be prepared fails the whole app (a deploy); without, it is logged
    /// and left out (start-up serves what it can).
    pub(crate) async fn assemble_app(
        &self,
        revision: &LiveRevision,
        previous: Option<&LiveApp>,
        strict: bool,
    ) -> Result<LiveApp, DeployError> {
        let functions = self
            .prepare_functions(&revision.spec, revision.number, previous, strict)
            .await?;
        let services = self
            .prepare_services(&revision.spec, previous, false)
            .await?;
        for service in services.values() {
            service
                .revision
                .store(revision.number, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(LiveApp {
            name: revision.app.clone(),
            revision: revision.number,
            spec: revision.spec.clone(),
            functions,
            services,
            schedules: app_schedules(&revision.spec, previous, revision.deployed_at_ms),
            deployed_at_ms: revision.deployed_at_ms,
        })
    }

    /// Every function of `spec`, ready to serve as revision `number`.
    pub(crate) async fn prepare_functions(
        &self,
        spec: &RevisionSpec,
        number: i64,
        previous: Option<&LiveApp>,
        strict: bool,
    ) -> Result<Vec<Arc<LiveFunction>>, DeployError> {
        let app = spec.app.as_str();
        let mut functions = Vec::new();
        for (name, f) in &spec.functions {
            let old = previous.and_then(|p| p.functions.iter().find(|o| o.name == name.as_str()));
            match self.live_function(app, name.as_str(), number, f, old).await {
                Ok(live) => functions.push(live),
                Err(e) if strict => return Err(e),
                Err(e) => {
                    tracing::error!(app, function = %name, error = %e, "cannot serve function")
                }
            }
        }
        Ok(functions)
    }

    /// Prepares one function of a revision for serving; `old` is the live
    /// function it replaces, whose concurrency permits it keeps.
    async fn live_function(
        &self,
        app: &str,
        name: &str,
        revision: i64,
        f: &DeployedFunction,
        old: Option<&Arc<LiveFunction>>,
    ) -> Result<Arc<LiveFunction>, DeployError> {
        let executor = self
            .executors
            .get(&f.spec.kind)
            .ok_or_else(|| DeployError::NoExecutor {
                function: name.to_string(),
                kind: f.spec.kind.to_string(),
            })?;
        let mut env: Vec<(String, String)> = f
            .spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let platform_env = self
            .run_env(app, &self.config.api_url, &self.config.s3_url)
            .await;
        env.extend(platform_env.into_iter().map(|(k, v)| (k.to_string(), v)));
        env.push(("STRATO_FUNCTION".into(), name.to_string()));
        if f.spec.has_uploaded_artifact() {
            self.ensure_component(&f.component_digest).await?;
        }
        let path = self.component_path(&f.component_digest);
        let prepared = executor
            .prepare(FunctionArtifact {
                app,
                name,
                spec: &f.spec,
                digest: &f.component_digest,
                path: &path,
                env: &env,
            })
            .await
            .map_err(|source| DeployError::Prepare {
                function: name.to_string(),
                source,
            })?;
        let (permits, async_slots) = match old {
            Some(old) if old.spec.concurrency == f.spec.concurrency => {
                (old.permits.clone(), old.async_slots.clone())
            }
            _ => (
                Arc::new(Semaphore::new(f.spec.concurrency as usize)),
                Default::default(),
            ),
        };
        Ok(Arc::new(LiveFunction {
            app: app.to_string(),
            name: name.to_string(),
            revision,
            spec: f.spec.clone(),
            prepared,
            limits: RunLimits {
                memory_bytes: f.spec.memory_bytes,
                timeout: Duration::from_millis(f.spec.timeout_ms),
                env: env.into(),
                extra_env: Vec::new(),
                outbound: self.outbound_rules(&f.spec.allowed_outbound_hosts).into(),
            },
            permits,
            async_slots,
            figures: self.runs.metrics.figures("function", app, name),
        }))
    }

    /// A function's outbound allow-list plus Strato's own control API,
    /// which every run may call with its token (objects, invokes).
    fn outbound_rules(&self, declared: &[OutboundRule]) -> Vec<OutboundRule> {
        let mut rules = declared.to_vec();
        match OutboundRule::parse(&self.config.api_url) {
            Ok(api) => rules.push(api),
            Err(e) => tracing::error!(error = %e, "the API URL is not a valid outbound rule"),
        }
        rules
    }
}

/// The schedules of `spec`; those `previous` had keep when they started,
/// new ones start at `since_ms`.
pub(crate) fn app_schedules(
    spec: &RevisionSpec,
    previous: Option<&LiveApp>,
    since_ms: i64,
) -> BTreeMap<String, LiveSchedule> {
    spec.schedules
        .iter()
        .map(|(name, s)| {
            let kept = previous.and_then(|p| p.schedules.get(name.as_str()));
            let live = LiveSchedule {
                spec: s.clone(),
                since_ms: kept.map_or(since_ms, |old| old.since_ms),
            };
            (name.to_string(), live)
        })
        .collect()
}
