//! One replica of a service: a runc container in its own platform network
//! namespace (loopback only, the control API and S3 forwarded in), its
//! app listening on `port` inside. The gateway reaches it by sockets made
//! inside that namespace ([`PlatformNetwork::connect`]), kept open between
//! requests. The replica is one run (trigger `service`) from its start to
//! its stop, its output that run's log.

use super::ServiceLaunch;
use crate::containers::stream_logs;
use crate::util::now_ms;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strato_core::spec::HealthCheck;
use strato_core::{LogLine, RunRecord, RunStatus, Trigger};
use strato_executor::{Body, full_body};
use strato_oci::{
    ContainerEnd, ContainerRuntime, ContainerSpec, NetworkMode, PlatformNetwork, SharedNetwork,
};
use strato_store::{FinishedRun, Store};
use tokio::sync::{mpsc, watch};

/// Most idle connections kept open to one replica.
const MAX_IDLE_CONNECTIONS: usize = 256;
/// Lines of a replica's output kept in memory to explain a failure.
const TAIL_LINES: usize = 12;
/// One probe's limit (a check that hangs has failed).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a replica did not become ready.
#[derive(Debug, Clone)]
pub(crate) struct StartFailure {
    pub reason: String,
    /// The last lines it printed.
    pub tail: Vec<String>,
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if !self.tail.is_empty() {
            write!(f, "; its last output:\n  {}", self.tail.join("\n  "))?;
        }
        Ok(())
    }
}

/// A running replica.
pub(crate) struct Replica {
    /// Its container's id, which is its run's id.
    pub id: String,
    network: Arc<PlatformNetwork>,
    port: u16,
    idle: Mutex<Vec<SendRequest<Body>>>,
    ended: watch::Receiver<Option<ContainerEnd>>,
    /// Set when the pool stops it on purpose: its end is then no crash.
    stopping: Arc<AtomicBool>,
    containers: Arc<ContainerRuntime>,
    stop_grace: Duration,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// From `start` until its first successful readiness check.
    pub start_latency: Duration,
}

impl Replica {
    /// Starts a replica and waits until it passes its readiness check
    /// (or fails: it is then stopped, its run recorded as failed).
    pub async fn start(
        id: String,
        launch: &ServiceLaunch,
        revision: i64,
        store: Arc<dyn Store>,
        containers: Arc<ContainerRuntime>,
    ) -> Result<Arc<Replica>, StartFailure> {
        let started = Instant::now();
        let failure = |reason: String| StartFailure {
            reason,
            tail: Vec::new(),
        };
        containers.check().map_err(failure)?;
        let network = Arc::new(
            PlatformNetwork::create(&launch.forwards)
                .map_err(|e| failure(format!("creating its network namespace: {e}")))?,
        );
        let container = ContainerSpec {
            id: id.clone(),
            image_rootfs: launch.image_rootfs.clone(),
            args: launch.args.clone(),
            env: launch.env.clone(),
            cwd: launch.cwd.clone(),
            user: launch.user.clone(),
            memory_bytes: Some(launch.spec.memory_bytes),
            cpus: launch.spec.cpus_milli.map(|m| m as f64 / 1000.0),
            pids: Some(strato_core::spec::DEFAULT_TASK_PIDS),
            network: NetworkMode::Joined(SharedNetwork(network.clone())),
            timeout: None,
            stop_grace: launch.stop_grace(),
            mounts: Vec::new(),
        };
        let record = RunRecord {
            revision,
            status: RunStatus::Running,
            started_at_ms: now_ms(),
            cold_start: true,
            memory_limit_bytes: launch.spec.memory_bytes,
            ..RunRecord::blank(&id, &launch.app, &launch.name, Trigger::Service)
        };
        // Off the start's path; the end's record waits for it (an upsert).
        let recorded = tokio::spawn({
            let (store, record) = (store.clone(), record.clone());
            async move { record_run(&store, record, Vec::new()).await }
        });

        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<LogLine>();
        let (store_tx, store_rx) = mpsc::unbounded_channel::<LogLine>();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let kept = tail.clone();
        tokio::spawn(async move {
            while let Some(line) = lines_rx.recv().await {
                {
                    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                    if kept.len() == TAIL_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line.text.clone());
                }
                let _ = store_tx.send(line);
            }
        });
        let writer = tokio::spawn(stream_logs(store.clone(), record.clone(), store_rx));
        let (ended_tx, ended) = watch::channel(None);
        let stopping = Arc::new(AtomicBool::new(false));
        let (runner, on_purpose) = (containers.clone(), stopping.clone());
        tokio::spawn(async move {
            let outcome = runner.run_to_removal(&container, lines_tx).await;
            let lines = writer.await.unwrap_or_default();
            let _ = recorded.await;
            let mut record = record;
            let end = match outcome {
                Ok(o) => {
                    record.duration_us = o.duration.as_micros() as i64;
                    record.exit_code = Some(o.exit_code);
                    o.end
                }
                Err(e) => {
                    record.error = Some(e.to_string());
                    ContainerEnd::Exited(-1)
                }
            };
            record.billed_ms = RunRecord::billed_ms_for(record.duration_us);
            (record.status, record.error) = match end {
                _ if on_purpose.load(Ordering::SeqCst) => (RunStatus::Succeeded, None),
                ContainerEnd::OomKilled => (
                    RunStatus::OomKilled,
                    Some("killed for exceeding its memory limit".into()),
                ),
                ContainerEnd::Exited(code) => (
                    RunStatus::Failed,
                    record
                        .error
                        .or_else(|| Some(format!("exited with code {code} while serving"))),
                ),
                ContainerEnd::TimedOut => (RunStatus::TimedOut, None),
            };
            record_run(&store, record, lines).await;
            let _ = ended_tx.send(Some(end));
        });

        let replica = Arc::new(Replica {
            id,
            network,
            port: launch.spec.port,
            idle: Mutex::new(Vec::new()),
            ended,
            stopping,
            containers,
            stop_grace: launch.stop_grace(),
            tail,
            start_latency: Duration::ZERO,
        });
        match replica.wait_ready(&launch.spec.health).await {
            Ok(()) => {
                let mut replica = Arc::into_inner(replica).expect("not shared yet");
                replica.start_latency = started.elapsed();
                Ok(Arc::new(replica))
            }
            Err(reason) => {
                replica.stop().await;
                Err(StartFailure {
                    reason,
                    tail: replica.tail(),
                })
            }
        }
    }

    /// Probes until the check passes, the container ends or
    /// [`READY_TIMEOUT`] passes. Probes come every millisecond for the
    /// first second (a replica's start is on a request's path; a refused
    /// connection costs microseconds), then less often.
    async fn wait_ready(&self, check: &HealthCheck) -> Result<(), String> {
        let started = Instant::now();
        let deadline = started + READY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(end) = self.end() {
                return Err(format!("{} before it was ready", describe_end(end)));
            }
            let last = match self.probe(check).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "not ready after {}s (the last check: {last})",
                    READY_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(pause).await;
            if started.elapsed() > Duration::from_secs(1) {
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    }

    /// One readiness or liveness check: a connection to the port (kept for
    /// the next request), or `GET path` answered below 400.
    pub async fn probe(&self, check: &HealthCheck) -> Result<(), String> {
        tokio::time::timeout(PROBE_TIMEOUT, async {
            match check {
                HealthCheck::Tcp => {
                    let conn = self.connect().await?;
                    self.give_back(conn);
                    Ok(())
                }
                HealthCheck::Http { path } => {
                    let mut conn = self.connection().await?;
                    let request = http::Request::get(path.as_str())
                        .header(http::header::HOST, format!("127.0.0.1:{}", self.port))
                        .header(http::header::USER_AGENT, "strato-health-check")
                        .body(full_body(Bytes::new()))
                        .expect("a valid request");
                    let response = conn
                        .send_request(request)
                        .await
                        .map_err(|e| format!("GET {path}: {e}"))?;
                    let status = response.status();
                    let _ = response.into_body().collect().await;
                    self.give_back(conn);
                    if status.as_u16() < 400 {
                        Ok(())
                    } else {
                        Err(format!("GET {path} answered {status}"))
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())))
    }

    /// A connection to the app: an idle one, or a new one.
    pub async fn connection(&self) -> Result<SendRequest<Body>, String> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(conn) if conn.is_ready() => return Ok(conn),
                Some(_) => continue,
                None => return self.connect().await,
            }
        }
    }

    /// A new connection into the replica's namespace.
    pub async fn connect(&self) -> Result<SendRequest<Body>, String> {
        let stream = self
            .network
            .connect(self.port)
            .await
            .map_err(|e| format!("connecting to port {}: {e}", self.port))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("opening HTTP on port {}: {e}", self.port))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(send)
    }

    /// Keeps a connection whose exchange finished for the next request.
    pub fn give_back(&self, conn: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if !conn.is_closed() && idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }

    /// How its container ended, once it has.
    pub fn end(&self) -> Option<ContainerEnd> {
        *self.ended.borrow()
    }

    /// Waits until its container has ended.
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(Option::is_some).await;
    }

    /// Whether the pool stopped it (its end is no crash).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The last lines it printed.
    pub fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Stops it: SIGTERM, then SIGKILL after its `stop_timeout`; returns
    /// once its container is gone.
    pub async fn stop(&self) {
        self.stop_within(self.stop_grace).await;
    }

    /// [`Replica::stop`] with a grace period of at most `grace`.
    pub async fn stop_within(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if self.end().is_some() {
            return;
        }
        self.containers.terminate(&self.id).await;
        let grace = grace.min(self.stop_grace);
        if tokio::time::timeout(grace, self.ended()).await.is_err() {
            self.containers.kill(&self.id).await;
            let _ = tokio::time::timeout(Duration::from_secs(10), self.ended()).await;
        }
    }
}

/// How long a replica may take to pass its readiness check.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

fn describe_end(end: ContainerEnd) -> String {
    match end {
        ContainerEnd::Exited(code) => format!("exited with code {code}"),
        ContainerEnd::OomKilled => "was killed for exceeding its memory limit".into(),
        ContainerEnd::TimedOut => "timed out".into(),
    }
}

/// Writes a replica's run record (an upsert: at its start, then at its end).
async fn record_run(store: &Arc<dyn Store>, record: RunRecord, logs: Vec<LogLine>) {
    let id = record.id.clone();
    let run = FinishedRun {
        record,
        logs,
        effects: Vec::new(),
        fence: None,
    };
    if let Err(e) = store.record_runs(Arc::from(vec![run])).await {
        tracing::error!(run = %id, error = %e, "recording a service replica's run");
    }
}
