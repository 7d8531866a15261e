//! One execution environment: a container running a Lambda runtime that
//! takes invocations, one at a time, from its own Runtime API.
//!
//! Started cold (the container starts, the runtime loads the handler and
//! asks for its first invocation: that is the init duration), it serves
//! invocations until it is stopped (idle, or its function replaced), it
//! times out (killed: the next invocation gets a fresh one), or its process
//! dies (an OOM kill, a crash). Its output lines go to the invocation in
//! flight.

use crate::runtime_api::{Answer, Invocation, RuntimeApi, RuntimeApiConfig, RuntimeEvent};
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strato_core::{LogLine, LogStream};
use strato_oci::{
    ContainerEnd, ContainerRuntime, ContainerSpec, Forward, NetworkMode, PlatformNetwork,
    SharedNetwork,
};
use tokio::sync::{mpsc, oneshot, watch};

/// The port the Runtime API answers on inside the environment
/// (`AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001`, as AWS's emulator uses).
pub const RUNTIME_API_PORT: u16 = 9001;

/// What an environment runs.
#[derive(Debug, Clone)]
pub struct EnvironmentSpec {
    /// The image's unpacked root (shared, never written).
    pub image_rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// The function's code, bound read-only at `/var/task`.
    pub code_dir: Option<PathBuf>,
    pub memory_bytes: u64,
    /// Strato's endpoints, forwarded in at 127.0.0.1 on their ports.
    pub forwards: Vec<Forward>,
    pub init_timeout: Duration,
    pub runtime_api: RuntimeApiConfig,
}

/// Why an environment could not start or serve.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvironmentFailure {
    /// The runtime reported `init/error` (the handler could not load).
    InitError(String),
    /// It did not ask for work within `init_timeout`.
    InitTimedOut(Duration),
    /// The invocation ran past its deadline; the environment was killed.
    TimedOut,
    /// Killed for going over its memory limit.
    OomKilled,
    /// The process ended (a crash, `exit()` in the handler) with this code.
    Exited(i32),
    /// The container could not be started.
    Setup(String),
}

impl EnvironmentFailure {
    /// Lambda's `errorType` for it.
    pub fn error_type(&self) -> String {
        match self {
            EnvironmentFailure::InitError(e) => e
                .split_once(": ")
                .map(|(t, _)| t)
                .filter(|t| !t.contains(' '))
                .unwrap_or("Runtime.Unknown")
                .to_string(),
            EnvironmentFailure::InitTimedOut(_) => "Runtime.InitTimeout".into(),
            EnvironmentFailure::TimedOut => "Sandbox.Timedout".into(),
            EnvironmentFailure::OomKilled => "Runtime.OutOfMemory".into(),
            EnvironmentFailure::Exited(_) => "Runtime.ExitError".into(),
            EnvironmentFailure::Setup(_) => "Runtime.Unknown".into(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            EnvironmentFailure::InitError(e) => e.clone(),
            EnvironmentFailure::InitTimedOut(t) => format!(
                "Runtime.InitTimeout: the runtime did not ask for an invocation within {} ms",
                t.as_millis()
            ),
            EnvironmentFailure::TimedOut => "Task timed out".into(),
            EnvironmentFailure::OomKilled => {
                "Runtime.OutOfMemory: killed for exceeding its memory limit".into()
            }
            EnvironmentFailure::Exited(code) => {
                format!("Runtime.ExitError: the runtime exited with code {code}")
            }
            EnvironmentFailure::Setup(e) => format!("starting the environment: {e}"),
        }
    }
}

/// How long after an answer the environment's last output lines are
/// still awaited (they travel through a pipe and may trail the answer).
pub const LOG_GRACE: Duration = Duration::from_millis(5);

/// A run that is answered but whose last output lines may still be in the
/// pipe: it is recorded when the next run on the same environment starts
/// or [`LOG_GRACE`] has passed, whichever comes first.
pub struct PendingRun {
    pub outcome: strato_executor::Outcome,
    /// Lines after its output (`END`, `REPORT`).
    pub tail: Vec<LogLine>,
    pub on_done: strato_executor::OnDone,
}

type PendingSlot = Arc<Mutex<Option<PendingRun>>>;

/// Records the pending run, if any, with the lines that arrived for it.
fn finish(pending: &PendingSlot, logs: &Arc<Mutex<Vec<LogLine>>>) {
    let run = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(mut run) = run {
        let late = std::mem::take(&mut *logs.lock().unwrap_or_else(|p| p.into_inner()));
        run.outcome.logs.extend(late);
        run.outcome.logs.extend(run.tail);
        (run.on_done)(run.outcome);
    }
}

/// A running environment.
pub struct Environment {
    pub id: String,
    invocations: mpsc::Sender<Invocation>,
    /// Kept alive: dropping it stops the Runtime API.
    _api: RuntimeApi,
    events: mpsc::UnboundedReceiver<RuntimeEvent>,
    /// Output lines since the last `take_logs`.
    logs: Arc<Mutex<Vec<LogLine>>>,
    /// Set when the container has ended.
    ended: watch::Receiver<Option<ContainerEnd>>,
    containers: Arc<ContainerRuntime>,
    /// How long it took from start to the runtime's first `next`.
    pub init: Duration,
    /// When it last finished an invocation.
    pub last_used: Instant,
    /// The last run, until its trailing output lines are in.
    pending: PendingSlot,
}

impl Environment {
    /// Starts a container and waits until its runtime asks for work.
    pub async fn start(
        spec: &EnvironmentSpec,
        containers: Arc<ContainerRuntime>,
    ) -> Result<Environment, (EnvironmentFailure, Vec<LogLine>)> {
        let started = Instant::now();
        let id = format!("l{:016x}", rand::random::<u64>());
        let fail = |f: EnvironmentFailure| (f, Vec::new());
        // The Runtime API listens inside the environment's own network
        // namespace and is served by this process directly; Strato's other
        // endpoints are forwarded in.
        let setup = |e: std::io::Error| fail(EnvironmentFailure::Setup(e.to_string()));
        let (network, mut listeners) =
            PlatformNetwork::create_serving(&spec.forwards, &[RUNTIME_API_PORT]).map_err(setup)?;
        let (api, invocations, mut events) =
            RuntimeApi::serve(listeners.remove(0), spec.runtime_api.clone()).map_err(setup)?;
        let mut env = spec.env.clone();
        env.push(format!(
            "AWS_LAMBDA_RUNTIME_API=127.0.0.1:{RUNTIME_API_PORT}"
        ));
        let container = ContainerSpec {
            id: id.clone(),
            image_rootfs: spec.image_rootfs.clone(),
            args: spec.args.clone(),
            env,
            cwd: "/var/task".into(),
            user: String::new(),
            memory_bytes: Some(spec.memory_bytes),
            cpus: None,
            pids: Some(1024),
            network: NetworkMode::Joined(SharedNetwork(Arc::new(network))),
            timeout: None,
            stop_grace: Duration::ZERO,
            mounts: spec
                .code_dir
                .iter()
                .map(|dir| (dir.clone(), PathBuf::from("/var/task")))
                .collect(),
        };
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<LogLine>();
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Some(line) = lines_rx.recv().await {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let (ended_tx, mut ended) = watch::channel(None);
        let runner = containers.clone();
        tokio::spawn(async move {
            let end = match runner.run_to_removal(&container, lines_tx).await {
                Ok(outcome) => outcome.end,
                Err(e) => {
                    tracing::warn!(error = %e, "a Lambda environment's container failed");
                    ContainerEnd::Exited(-1)
                }
            };
            let _ = ended_tx.send(Some(end));
        });
        let take = |logs: &Arc<Mutex<Vec<LogLine>>>| {
            std::mem::take(&mut *logs.lock().unwrap_or_else(|p| p.into_inner()))
        };
        let ready = tokio::time::timeout(spec.init_timeout, async {
            tokio::select! {
                event = events.recv() => match event {
                    Some(RuntimeEvent::Ready) => Ok(()),
                    Some(RuntimeEvent::InitError(e)) => Err(EnvironmentFailure::InitError(e.summary())),
                    None => Err(EnvironmentFailure::Setup("the Runtime API stopped".into())),
                },
                end = ended.wait_for(Option::is_some) => Err(failure_of(end.ok().and_then(|e| *e))),
            }
        })
        .await;
        let failure = match ready {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => Some(EnvironmentFailure::InitTimedOut(spec.init_timeout)),
        };
        if let Some(failure) = failure {
            containers.kill(&id).await;
            // The last lines the runtime printed explain most failures.
            let _ =
                tokio::time::timeout(Duration::from_secs(2), ended.wait_for(Option::is_some)).await;
            return Err((failure, take(&logs)));
        }
        Ok(Environment {
            id,
            invocations,
            _api: api,
            events,
            logs,
            ended,
            containers,
            init: started.elapsed(),
            last_used: Instant::now(),
            pending: Arc::new(Mutex::new(None)),
        })
    }

    /// The most memory the environment has used at once, if known.
    pub fn memory_peak(&self) -> Option<u64> {
        self.containers.memory_peak(&self.id)
    }

    /// Whether the container still runs.
    pub fn is_alive(&self) -> bool {
        self.ended.borrow().is_none()
    }

    /// Runs one invocation until it is answered, the deadline passes
    /// (the environment is killed) or the process dies.
    pub async fn invoke(
        &mut self,
        request_id: &str,
        deadline: Duration,
        deadline_ms: i64,
        event: Bytes,
    ) -> Result<Answer, EnvironmentFailure> {
        let (done, answer) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.to_string(),
            deadline_ms,
            trace_id: None,
            event,
            done,
        };
        if self.invocations.send(invocation).await.is_err() {
            return Err(EnvironmentFailure::Setup("the Runtime API stopped".into()));
        }
        let ended = self.ended.clone();
        let result = tokio::time::timeout(deadline, async move {
            let mut ended = ended;
            tokio::select! {
                answer = answer => answer.map_err(|_| EnvironmentFailure::Setup("the invocation was dropped".into())),
                end = ended.wait_for(Option::is_some) => Err(failure_of(end.ok().and_then(|e| *e))),
            }
        })
        .await;
        self.last_used = Instant::now();
        match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(failure)) => {
                // Let the last output lines arrive.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(failure)
            }
            Err(_) => {
                self.kill().await;
                Err(EnvironmentFailure::TimedOut)
            }
        }
    }

    /// Records the previous run now (its lines are all in: a new run
    /// starts).
    pub fn finish_pending(&self) {
        finish(&self.pending, &self.logs);
    }

    /// Keeps `run` until its trailing lines are in: recorded by the next
    /// run's [`Environment::finish_pending`] or after [`LOG_GRACE`].
    pub fn defer(&self, run: PendingRun) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(run);
        let (pending, logs) = (self.pending.clone(), self.logs.clone());
        tokio::spawn(async move {
            tokio::time::sleep(LOG_GRACE).await;
            finish(&pending, &logs);
        });
    }

    /// Output lines since the last call.
    pub fn take_logs(&self) -> Vec<LogLine> {
        std::mem::take(&mut *self.logs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Any `init/error` it reported after starting (not expected).
    pub fn drain_events(&mut self) {
        while self.events.try_recv().is_ok() {}
    }

    /// Stops the container.
    pub async fn kill(&self) {
        self.containers.kill(&self.id).await;
    }

    /// Stops the container and waits (a few seconds at most) until it has
    /// ended.
    pub async fn stop(self) {
        self.kill().await;
        let mut ended = self.ended.clone();
        let _ = tokio::time::timeout(Duration::from_secs(5), ended.wait_for(Option::is_some)).await;
    }
}

fn failure_of(end: Option<ContainerEnd>) -> EnvironmentFailure {
    match end {
        Some(ContainerEnd::OomKilled) => EnvironmentFailure::OomKilled,
        Some(ContainerEnd::TimedOut) => EnvironmentFailure::TimedOut,
        Some(ContainerEnd::Exited(code)) => EnvironmentFailure::Exited(code),
        None => EnvironmentFailure::Exited(-1),
    }
}

/// A line Strato writes into a run's log (`START`, `END`, `REPORT`).
pub fn system_line(text: String) -> LogLine {
    LogLine {
        ts_ms: strato_core::time::now_ms(),
        stream: LogStream::System,
        text,
    }
}
