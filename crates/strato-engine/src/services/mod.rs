//! Container services: an image serving HTTP behind gateway routes, run in
//! replicas that scale on in-flight requests and to zero when idle (Cloud
//! Run's model).
//!
//! A [`LiveService`] is one revision's pool of [`replica::Replica`]s. A
//! request takes a [`Lease`] on the least busy ready replica under the
//! service's `concurrency` ([`scale::pick`]); when none has room it waits
//! (bounded) while another starts, which is how a service at zero
//! replicas answers its first request. A scaler task per pool keeps
//! `min_replicas` (or a pinned count) running, replaces crashed replicas
//! with capped backoff, restarts those failing their liveness check and
//! stops replicas idle past `idle`, each after its in-flight requests end.
//! A deploy starts the new revision's replicas and waits until they are
//! ready before the route moves; the old pool then drains and stops.

mod launch;
mod proxy;
mod replica;
mod scale;
mod stats;

pub use proxy::ClientAddr;
pub use stats::RequestFigures;

use crate::util::now_ms;
use replica::{Replica, StartFailure};
use scale::Load;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use strato_core::spec::ServiceSpec;
use strato_executor::{Body, text_response};
use strato_oci::{ContainerRuntime, Forward};
use strato_store::Store;
use tokio::sync::watch;

/// Longest a request waits for a replica with room (one starting, or one
/// finishing a request) before it is answered 503 or 429.
const HOLD_LIMIT: Duration = Duration::from_secs(30);
/// Starts in a row that failed before waiting requests are answered 503
/// rather than held for the next attempt.
const FAIL_FAST_AFTER: u32 = 3;
/// How often a ready replica's liveness check runs, and how many failures
/// in a row restart it.
const LIVENESS_PERIOD: Duration = Duration::from_secs(2);
const LIVENESS_FAILURES: u32 = 3;
/// How often the scaler looks at the pool.
const TICK: Duration = Duration::from_millis(200);
/// The most a server's shutdown waits for a replica to stop on SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything a replica of a service runs with, resolved at deploy.
#[derive(Debug, Clone)]
pub(crate) struct ServiceLaunch {
    pub app: String,
    pub name: String,
    pub spec: ServiceSpec,
    /// The image's id (its config digest): a new push under the same
    /// name is a new launch.
    pub image_id: String,
    pub image_rootfs: PathBuf,
    pub args: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub forwards: Vec<Forward>,
}

impl ServiceLaunch {
    fn stop_grace(&self) -> Duration {
        Duration::from_millis(self.spec.stop_timeout_ms)
    }
}

/// What every pool shares: the container runtime, the store replicas
/// record their runs in, the counters by service, and the pools (to stop
/// their replicas when the server stops).
pub(crate) struct Services {
    pub containers: Arc<ContainerRuntime>,
    stats: Mutex<HashMap<(String, String), Arc<stats::ServiceStats>>>,
    pools: Mutex<Vec<Weak<LiveService>>>,
}

impl Services {
    pub fn new(containers: Arc<ContainerRuntime>) -> Services {
        Services {
            containers,
            stats: Default::default(),
            pools: Default::default(),
        }
    }

    /// A pool for one revision of a service; its scaler starts now.
    pub fn pool(&self, launch: ServiceLaunch, store: Arc<dyn Store>) -> Arc<LiveService> {
        let stats = self
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((launch.app.clone(), launch.name.clone()))
            .or_default()
            .clone();
        let service = Arc::new(LiveService {
            launch,
            revision: AtomicI64::new(0),
            pool: Mutex::new(Pool::default()),
            changed: watch::channel(0).0,
            store,
            containers: self.containers.clone(),
            stats,
        });
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&service));
        tokio::spawn(run_scaler(Arc::downgrade(&service)));
        service
    }

    /// Every service's request counters and live replicas, in Prometheus
    /// text form (for `/metrics`); `replicas` gives (app, service, ready
    /// replicas) of the live services.
    pub fn write_metrics(&self, out: &mut String, replicas: &[(String, String, usize)]) {
        let stats: Vec<_> = {
            let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            let mut all: Vec<_> = stats.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        if !stats.is_empty() {
            out.push_str(stats::METRIC_HELP);
            for ((app, name), s) in &stats {
                s.write_metrics(out, app, name);
            }
        }
        out.push_str("# HELP strato_service_replicas Replicas of a live service serving now.\n# TYPE strato_service_replicas gauge\n");
        for (app, name, n) in replicas {
            out.push_str(&format!(
                "strato_service_replicas{{app=\"{app}\",service=\"{name}\"}} {n}\n"
            ));
        }
    }

    /// Stops every replica of every pool (the server is stopping).
    pub async fn shutdown(&self) {
        let pools: Vec<_> = self
            .pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        futures::future::join_all(pools.iter().map(|p| p.shutdown())).await;
    }
}

/// One revision of a service, with its replicas.
pub struct LiveService {
    pub(crate) launch: ServiceLaunch,
    /// The revision new replicas record (0 until the deploy stored it).
    pub(crate) revision: AtomicI64,
    pool: Mutex<Pool>,
    /// Bumped whenever a replica gains room, becomes ready or fails.
    changed: watch::Sender<u64>,
    store: Arc<dyn Store>,
    containers: Arc<ContainerRuntime>,
    pub(crate) stats: Arc<stats::ServiceStats>,
}

#[derive(Default)]
struct Pool {
    replicas: Vec<Slot>,
    starting: u32,
    /// Requests waiting for room.
    waiting: u32,
    /// Starts or replicas that failed in a row.
    failures: u32,
    next_start: Option<Instant>,
    last_failure: Option<String>,
    /// A replica count set by `strato services scale` (min = max = it).
    pinned: Option<u32>,
    /// Replaced by a deploy, removed, or the server is stopping: it
    /// takes no more requests and its replicas stop once idle.
    closed: bool,
    /// Replicas taken out of service that are still stopping (a grace
    /// period can be long): a server stopping meanwhile stops them too,
    /// rather than leaving their containers running.
    stopping: Vec<Arc<Replica>>,
}

struct Slot {
    replica: Arc<Replica>,
    in_flight: u32,
    last_active: Instant,
    draining: bool,
}

impl Pool {
    fn loads(&self, now: Instant) -> Vec<Load> {
        self.replicas
            .iter()
            .map(|s| Load {
                in_flight: s.in_flight,
                idle_for: now.saturating_duration_since(s.last_active),
                draining: s.draining,
            })
            .collect()
    }

    fn serving(&self) -> u32 {
        self.replicas.iter().filter(|s| !s.draining).count() as u32
    }

    fn may_start(&self, now: Instant) -> bool {
        !self.closed && self.next_start.is_none_or(|at| now >= at)
    }

    fn failed(&mut self, reason: String) {
        self.failures += 1;
        self.next_start = Some(Instant::now() + scale::backoff(self.failures));
        self.last_failure = Some(reason);
    }

    /// Takes `replica` out (it ended, or is being stopped).
    fn remove(&mut self, id: &str) -> Option<Slot> {
        let at = self.replicas.iter().position(|s| s.replica.id == id)?;
        Some(self.replicas.remove(at))
    }
}

/// A request's hold on a replica: it counts against the replica's
/// `concurrency` until dropped.
pub(crate) struct Lease {
    service: Arc<LiveService>,
    replica: Arc<Replica>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut pool = self.service.lock();
        if let Some(slot) = pool
            .replicas
            .iter_mut()
            .find(|s| Arc::ptr_eq(&s.replica, &self.replica))
        {
            slot.in_flight -= 1;
            slot.last_active = Instant::now();
        }
        // Only a waiting request cares that room freed up.
        let waiting = pool.waiting > 0;
        drop(pool);
        if waiting {
            self.service.notify();
        }
    }
}

/// Why a request got no replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Every replica is busy at `max_replicas`.
    Busy,
    /// Replicas fail to start; the last failure.
    Failing(String),
    /// None became ready within the hold limit.
    NotReady,
    /// A deploy replaced this revision: look the route up again.
    Replaced,
}

impl Unavailable {
    fn response(&self) -> http::Response<Body> {
        let (status, message) = match self {
            Unavailable::Busy => (
                429,
                "every replica of the service is busy at its max_replicas; try again".to_string(),
            ),
            Unavailable::Failing(why) => (503, format!("the service cannot start: {why}")),
            Unavailable::NotReady | Unavailable::Replaced => (
                503,
                "no replica of the service became ready in time; try again".to_string(),
            ),
        };
        let mut response = text_response(status, &message);
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        response
    }
}

/// Counts a request as waiting while it is.
struct Waiting<'a>(&'a LiveService);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

impl LiveService {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// A lease on a replica with room, waiting (bounded) while one starts
    /// or frees up.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Lease, Unavailable> {
        let deadline = tokio::time::Instant::now() + HOLD_LIMIT;
        // Subscribed before the first look, so no change after it is missed.
        let mut changed = self.changed.subscribe();
        let mut waiting = None;
        loop {
            let now = Instant::now();
            let wake_at = {
                let mut pool = self.lock();
                if pool.closed {
                    return Err(Unavailable::Replaced);
                }
                let concurrency = self.launch.spec.concurrency.max(1);
                if let Some(i) = scale::pick(&pool.loads(now), concurrency) {
                    let slot = &mut pool.replicas[i];
                    slot.in_flight += 1;
                    let replica = slot.replica.clone();
                    drop(pool);
                    drop(waiting);
                    return Ok(Lease {
                        service: self.clone(),
                        replica,
                    });
                }
                if waiting.is_none() {
                    pool.waiting += 1;
                    waiting = Some(Waiting(self));
                }
                let max = pool.pinned.unwrap_or(self.launch.spec.max_replicas).max(1);
                if scale::should_start(
                    pool.waiting,
                    pool.starting,
                    pool.serving(),
                    concurrency,
                    max,
                ) && pool.may_start(now)
                {
                    pool.starting += 1;
                    tokio::spawn(self.clone().start_replica());
                } else if pool.serving() + pool.starting == 0 && pool.failures >= FAIL_FAST_AFTER {
                    let why = pool.last_failure.clone().unwrap_or_default();
                    return Err(Unavailable::Failing(why));
                }
                pool.next_start
            };
            let wake = match wake_at {
                Some(at) if at > now => tokio::time::Instant::from_std(at).min(deadline),
                _ => deadline,
            };
            tokio::select! {
                _ = changed.changed() => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                let pool = self.lock();
                return Err(if pool.serving() > 0 {
                    Unavailable::Busy
                } else {
                    Unavailable::NotReady
                });
            }
        }
    }

    /// Starts one replica and adds it to the pool once ready; counts a
    /// failure (and backs off) if it does not become ready. The caller
    /// counted it in `starting`.
    async fn start_replica(self: Arc<Self>) -> Result<(), StartFailure> {
        let id = format!("s{:012x}{:08x}", now_ms() as u64, rand::random::<u32>());
        let result = Replica::start(
            id,
            &self.launch,
            self.revision.load(Ordering::Relaxed),
            self.store.clone(),
            self.containers.clone(),
        )
        .await;
        let closed = {
            let mut pool = self.lock();
            pool.starting -= 1;
            match &result {
                Ok(replica) if !pool.closed => {
                    pool.failures = 0;
                    pool.next_start = None;
                    pool.replicas.push(Slot {
                        replica: replica.clone(),
                        in_flight: 0,
                        last_active: Instant::now(),
                        draining: false,
                    });
                }
                Ok(_) => {}
                Err(failure) => pool.failed(failure.to_string()),
            }
            pool.closed
        };
        self.notify();
        let replica = match result {
            Ok(replica) => replica,
            Err(failure) => {
                tracing::warn!(
                    app = %self.launch.app, service = %self.launch.name, error = %failure,
                    "a service replica did not become ready"
                );
                return Err(failure);
            }
        };
        if closed {
            replica.stop().await;
            return Ok(());
        }
        tracing::info!(
            app = %self.launch.app, service = %self.launch.name, replica = %replica.id,
            ready_ms = replica.start_latency.as_millis() as u64, "service replica ready"
        );
        tokio::spawn(watch_replica(Arc::downgrade(&self), replica.clone()));
        if let Some(check) = self.launch.spec.liveness.clone() {
            tokio::spawn(check_liveness(Arc::downgrade(&self), replica, check));
        }
        Ok(())
    }

    /// Starts `replicas` for a deploy and waits until they are ready.
    /// Fails (stopping what started) after `max(3, half)` failed starts,
    /// with the last failure.
    pub(crate) async fn warm_up(self: &Arc<Self>, replicas: u32) -> Result<(), String> {
        let limit = scale::deploy_failure_limit(replicas);
        let failures = std::sync::atomic::AtomicU32::new(0);
        let one = || async {
            loop {
                self.lock().starting += 1;
                match self.clone().start_replica().await {
                    Ok(()) => return Ok(()),
                    Err(failure) => {
                        if failures.fetch_add(1, Ordering::SeqCst) + 1 >= limit {
                            return Err(failure.to_string());
                        }
                    }
                }
            }
        };
        let results = futures::future::join_all((0..replicas).map(|_| one())).await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            self.shutdown().await;
            return Err(e);
        }
        Ok(())
    }

    /// Ready replicas now, for a deploy that replaces this pool.
    pub(crate) fn ready_replicas(&self) -> u32 {
        self.lock().serving()
    }

    /// Takes no more requests; replicas stop once their in-flight
    /// requests ended (the scaler does it).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.notify();
    }

    /// Closes the pool and stops every replica now (SIGTERM, a short
    /// grace, SIGKILL).
    async fn shutdown(&self) {
        let replicas: Vec<_> = {
            let mut pool = self.lock();
            pool.closed = true;
            let stopping: Vec<_> = pool.stopping.clone();
            pool.replicas
                .drain(..)
                .map(|s| s.replica)
                .chain(stopping)
                .collect()
        };
        futures::future::join_all(replicas.iter().map(|r| r.stop_within(SHUTDOWN_GRACE))).await;
        self.notify();
    }

    /// Pins the replica count (`None`: back to scaling on load).
    pub(crate) fn pin(&self, replicas: Option<u32>) {
        self.lock().pinned = replicas;
        self.notify();
    }

    /// The pool as `strato services` shows it.
    pub fn status(&self) -> ServiceStatus {
        let pool = self.lock();
        let now = Instant::now();
        ServiceStatus {
            app: self.launch.app.clone(),
            name: self.launch.name.clone(),
            revision: self.revision.load(Ordering::Relaxed),
            image: self.launch.spec.image.clone(),
            min_replicas: self.launch.spec.min_replicas,
            max_replicas: self.launch.spec.max_replicas,
            pinned: pool.pinned,
            starting: pool.starting,
            waiting: pool.waiting,
            last_failure: pool.last_failure.clone(),
            replicas: pool
                .replicas
                .iter()
                .map(|s| ReplicaStatus {
                    id: s.replica.id.clone(),
                    state: if s.draining { "draining" } else { "ready" },
                    in_flight: s.in_flight,
                    idle_ms: now.saturating_duration_since(s.last_active).as_millis() as u64,
                    start_ms: s.replica.start_latency.as_secs_f64() * 1000.0,
                })
                .collect(),
            requests: self.stats.figures(now_ms() as u64 / 1000),
        }
    }

    /// One look at the pool: stops idle and drained replicas, keeps the
    /// floor running. `false` once a closed pool has nothing left.
    async fn tick(self: &Arc<Self>) -> bool {
        let now = Instant::now();
        let mut stop = Vec::new();
        {
            let mut pool = self.lock();
            if pool.closed {
                for slot in &mut pool.replicas {
                    slot.draining = true;
                }
            } else {
                let spec = &self.launch.spec;
                let floor = pool.pinned.unwrap_or(spec.min_replicas);
                let idle = match pool.pinned {
                    // Over a pinned count: the extra ones go as soon as idle.
                    Some(n) if pool.serving() > n => Duration::ZERO,
                    _ => Duration::from_millis(spec.idle_ms),
                };
                if let Some(i) = scale::idle_victim(&pool.loads(now), floor, idle) {
                    pool.replicas[i].draining = true;
                }
                if pool.serving() + pool.starting < floor && pool.may_start(now) {
                    pool.starting += 1;
                    tokio::spawn(self.clone().start_replica());
                }
            }
            let drained: Vec<String> = pool
                .replicas
                .iter()
                .filter(|s| s.draining && s.in_flight == 0)
                .map(|s| s.replica.id.clone())
                .collect();
            for id in drained {
                if let Some(slot) = pool.remove(&id) {
                    stop.push(slot.replica);
                }
            }
            if pool.closed && pool.replicas.is_empty() && pool.starting == 0 && stop.is_empty() {
                return false;
            }
        }
        for replica in stop {
            tracing::info!(app = %self.launch.app, service = %self.launch.name, replica = %replica.id, "stopping an idle service replica");
            self.lock().stopping.push(replica.clone());
            let service = self.clone();
            tokio::spawn(async move {
                replica.stop().await;
                service
                    .lock()
                    .stopping
                    .retain(|r| !Arc::ptr_eq(r, &replica));
            });
        }
        true
    }
}

/// At start on a node alone: replicas a crashed server left are gone (or
/// about to be: `tasks::clean_leftovers` removes their containers), so
/// their runs end as failed.
pub(crate) async fn end_orphaned_runs(store: &Arc<dyn Store>) {
    let filter = strato_store::RunFilter {
        status: Some(strato_core::RunStatus::Running),
        limit: 100_000,
        ..Default::default()
    };
    let Ok(runs) = store.list_runs(&filter).await else {
        return;
    };
    let ended: Vec<_> = runs
        .into_iter()
        .filter(|r| r.trigger == strato_core::Trigger::Service)
        .map(|mut record| {
            record.status = strato_core::RunStatus::Failed;
            record.error = Some("the server stopped while this replica ran".into());
            strato_store::FinishedRun {
                record,
                logs: Vec::new(),
                effects: Vec::new(),
                fence: None,
            }
        })
        .collect();
    if !ended.is_empty()
        && let Err(e) = store.record_runs(Arc::from(ended)).await
    {
        tracing::error!(error = %e, "ending the runs of replicas a crash left");
    }
}

/// Runs a pool's [`LiveService::tick`] until the pool is gone or closed
/// and empty.
async fn run_scaler(service: Weak<LiveService>) {
    // On a timer, not on every change: a request's end must not cost a
    // look at the whole pool.
    loop {
        tokio::time::sleep(TICK).await;
        let Some(service) = service.upgrade() else {
            return;
        };
        if !service.tick().await {
            return;
        }
    }
}

/// Takes a replica out of the pool when its container ends; an end the
/// pool did not ask for is a crash, replaced after a backoff.
async fn watch_replica(service: Weak<LiveService>, replica: Arc<Replica>) {
    replica.ended().await;
    let Some(service) = service.upgrade() else {
        return;
    };
    let mut pool = service.lock();
    pool.remove(&replica.id);
    if !replica.is_stopping() {
        let why = match replica.end() {
            Some(strato_oci::ContainerEnd::Exited(code)) => {
                format!("replica {} exited with code {code}", replica.id)
            }
            Some(strato_oci::ContainerEnd::OomKilled) => {
                format!(
                    "replica {} was killed for exceeding its memory limit",
                    replica.id
                )
            }
            _ => format!("replica {} ended", replica.id),
        };
        tracing::warn!(app = %service.launch.app, service = %service.launch.name, "{why}; replacing it");
        pool.failed(why);
    }
    drop(pool);
    service.notify();
}

/// Restarts a replica that fails its liveness check
/// [`LIVENESS_FAILURES`] times in a row.
async fn check_liveness(
    service: Weak<LiveService>,
    replica: Arc<Replica>,
    check: strato_core::spec::HealthCheck,
) {
    let mut failed = 0;
    loop {
        tokio::time::sleep(LIVENESS_PERIOD).await;
        if replica.end().is_some() || replica.is_stopping() {
            return;
        }
        match replica.probe(&check).await {
            Ok(()) => failed = 0,
            Err(e) => {
                failed += 1;
                if failed < LIVENESS_FAILURES {
                    continue;
                }
                let Some(service) = service.upgrade() else {
                    return;
                };
                let why = format!(
                    "replica {} failed its liveness check {failed} times ({e}); restarted",
                    replica.id
                );
                tracing::warn!(app = %service.launch.app, service = %service.launch.name, "{why}");
                {
                    let mut pool = service.lock();
                    pool.remove(&replica.id);
                    pool.failed(why);
                }
                service.notify();
                replica.stop_within(Duration::ZERO).await;
                return;
            }
        }
    }
}

/// A service's pool for `strato services`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceStatus {
    pub app: String,
    pub name: String,
    pub revision: i64,
    pub image: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub pinned: Option<u32>,
    pub starting: u32,
    pub waiting: u32,
    pub last_failure: Option<String>,
    pub replicas: Vec<ReplicaStatus>,
    pub requests: RequestFigures,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaStatus {
    pub id: String,
    pub state: &'static str,
    pub in_flight: u32,
    pub idle_ms: u64,
    /// From its start until it passed its readiness check.
    pub start_ms: f64,
}

impl crate::platform::Platform {
    /// Every live service's pool, as `strato services` shows it (`app`:
    /// only that app's).
    pub fn services_status(&self, app: Option<&str>) -> Vec<ServiceStatus> {
        self.live()
            .apps
            .values()
            .filter(|a| app.is_none_or(|name| a.name == name))
            .flat_map(|a| a.services.values().map(|s| s.status()))
            .collect()
    }

    /// Pins a service's replica count (`strato services scale`), or with
    /// `None` lets it scale on load again; `false` if no such service.
    pub fn pin_service(&self, app: &str, name: &str, replicas: Option<u32>) -> bool {
        let live = self.live();
        let Some(service) = live.apps.get(app).and_then(|a| a.services.get(name)) else {
            return false;
        };
        service.pin(replicas);
        true
    }
}
