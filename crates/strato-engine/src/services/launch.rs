//! An app's services made live: each one's image resolved and its
//! replicas' argv and environment fixed ([`ServiceLaunch`]), in a pool;
//! an unchanged service keeps its pool (and its running replicas) across
//! a deploy. Start-up and deploy share this code; a deploy also starts
//! the new pools' replicas and waits until they are ready.

use super::{LiveService, ServiceLaunch};
use crate::DeployError;
use crate::containers;
use crate::live::LiveApp;
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::sync::Arc;
use strato_core::RevisionSpec;
use strato_core::spec::ServiceSpec;

impl Platform {
    /// Every service of `spec`, each in a pool: `previous`'s when the
    /// service is unchanged (same spec, same image), a new one otherwise.
    /// With `warm` (a deploy), each new pool's replicas start (as many as
    /// the old pool had ready, at least `min_replicas` and at least one)
    /// and must become ready, or nothing changes and the deploy says why.
    /// Without (start-up), a service that cannot be launched is logged and
    /// left out.
    pub(crate) async fn prepare_services(
        &self,
        spec: &RevisionSpec,
        previous: Option<&LiveApp>,
        warm: bool,
    ) -> Result<BTreeMap<String, Arc<LiveService>>, DeployError> {
        let app = spec.app.as_str();
        let mut services = BTreeMap::new();
        let mut fresh = Vec::new();
        for (name, s) in &spec.services {
            let launch = match self.service_launch(app, name.as_str(), s).await {
                Ok(launch) => launch,
                Err(e) if warm => {
                    shut_down(&fresh).await;
                    return Err(e);
                }
                Err(e) => {
                    tracing::error!(app, service = %name, error = %e, "cannot serve service");
                    continue;
                }
            };
            let old = previous.and_then(|p| p.services.get(name.as_str()));
            if let Some(old) = old
                && old.launch.spec == launch.spec
                && old.launch.image_id == launch.image_id
            {
                services.insert(name.to_string(), old.clone());
                continue;
            }
            let pool = self.services.pool(launch, self.store.clone());
            fresh.push(pool.clone());
            if warm {
                let replicas = old
                    .map_or(0, |o| o.ready_replicas())
                    .max(s.min_replicas)
                    .max(1)
                    .min(s.max_replicas.max(1));
                if let Err(reason) = pool.warm_up(replicas).await {
                    shut_down(&fresh).await;
                    return Err(DeployError::ServiceNotReady {
                        service: name.to_string(),
                        reason,
                    });
                }
            }
            services.insert(name.to_string(), pool);
        }
        Ok(services)
    }

    /// What one service's replicas run.
    async fn service_launch(
        &self,
        app: &str,
        name: &str,
        spec: &ServiceSpec,
    ) -> Result<ServiceLaunch, DeployError> {
        let images = self.tasks.images().clone();
        let image_name = spec.image.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            let image = images.resolve(&image_name)?;
            let rootfs = images.rootfs(&image)?;
            Ok::<_, strato_oci::ImageError>((image, rootfs))
        })
        .await
        .map_err(|e| DeployError::Storage(e.to_string()))?;
        let (image, rootfs) = resolved.map_err(|_| DeployError::MissingImage {
            kind: "service",
            name: name.to_string(),
            image: spec.image.clone(),
        })?;
        let args = containers::container_args(
            (&image.config.entrypoint, &image.config.cmd),
            (spec.entrypoint.as_ref(), spec.command.as_ref()),
            (None, None),
        );
        if args.is_empty() {
            return Err(DeployError::NothingToRun {
                service: name.to_string(),
                image: spec.image.clone(),
            });
        }
        let (api_url, s3_url) = containers::platform_urls(&self.config);
        let mut env = containers::base_env(self, app, &image.config.env, &api_url, &s3_url).await;
        env.insert("STRATO_SERVICE".into(), name.to_string());
        env.insert("PORT".into(), spec.port.to_string());
        env.extend(spec.env.clone());
        Ok(ServiceLaunch {
            app: app.to_string(),
            name: name.to_string(),
            spec: spec.clone(),
            image_id: image.id.to_string(),
            image_rootfs: rootfs,
            args,
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: Some(image.config.working_dir.clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: image.config.user.clone(),
            forwards: containers::platform_forwards(&self.config),
        })
    }
}

async fn shut_down(pools: &[Arc<LiveService>]) {
    futures::future::join_all(pools.iter().map(|p| p.shutdown())).await;
}

impl Platform {
    /// Stops the pools a failed deploy started (those `previous` does not
    /// hold).
    pub(crate) async fn discard_services(
        &self,
        services: &BTreeMap<String, Arc<LiveService>>,
        previous: Option<&LiveApp>,
    ) {
        let fresh: Vec<_> = services
            .values()
            .filter(|s| {
                previous.is_none_or(|p| !p.services.values().any(|old| Arc::ptr_eq(old, s)))
            })
            .cloned()
            .collect();
        shut_down(&fresh).await;
    }
}
