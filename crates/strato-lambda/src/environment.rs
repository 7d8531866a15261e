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
    /// Lines after its output, before `REPORT` (a stack trace, `END`).
    pub tail: Vec<LogLine>,
    pub report: Report,
    pub on_done: strato_executor::OnDone,
}

/// What a run's `REPORT` line says. It is written when the run is
/// recorded, after its answer has gone: reading the environment's memory
/// peak is then off the caller's path.
pub struct Report {
    pub request_id: String,
    pub duration: Duration,
    pub billed_ms: u64,
    pub memory_mb: u64,
    /// The environment's start, on the run that started it.
    pub init: Option<Duration>,
    /// The environment's memory peak, when read before it was stopped;
    /// otherwise read when the line is written.
    pub max_memory_bytes: Option<u64>,
}

impl Report {
    /// Lambda's `REPORT` line, fields in Lambda's order.
    pub fn line(&self, max_memory_bytes: Option<u64>) -> String {
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB",
            self.request_id,
            self.duration.as_secs_f64() * 1000.0,
            self.billed_ms,
            self.memory_mb
        );
        if let Some(peak) = max_memory_bytes {
            line.push_str(&format!("\tMax Memory Used: {} MB", peak.div_ceil(1 << 20)));
        }
        if let Some(init) = self.init {
            line.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        line
    }
}

type PendingSlot = Arc<Mutex<Option<PendingRun>>>;

/// What [`finish`] needs of its environment.
#[derive(Clone)]
struct Recorder {
    pending: PendingSlot,
    logs: Arc<Mutex<Vec<LogLine>>>,
    containers: Arc<ContainerRuntime>,
    id: String,
}

impl Recorder {
    /// Records the pending run, if any, with the lines that arrived for it.
    fn finish(&self) {
        let run = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut run) = run {
            let late = std::mem::take(&mut *self.logs.lock().unwrap_or_else(|p| p.into_inner()));
            run.outcome.logs.extend(late);
            run.outcome.logs.extend(run.tail);
            let peak =
                (run.report.max_memory_bytes).or_else(|| self.containers.memory_peak(&self.id));
            run.outcome.logs.push(system_line(run.report.line(peak)));
            (run.on_done)(run.outcome);
        }
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
    /// Records the last run once its trailing output lines are in.
    recorder: Recorder,
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
        let recorder = Recorder {
            pending: Arc::new(Mutex::new(None)),
            logs: logs.clone(),
            containers: containers.clone(),
            id: id.clone(),
        };
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
            recorder,
        })
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
        trace_id: Option<String>,
        event: Bytes,
    ) -> Result<Answer, EnvironmentFailure> {
        let (done, answer) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.to_string(),
            deadline_ms,
            trace_id,
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

    /// The most memory the environment has used at once, if known.
    pub fn memory_peak(&self) -> Option<u64> {
        self.containers.memory_peak(&self.id)
    }

    /// Records the previous run now (its lines are all in: a new run
    /// starts).
    pub fn finish_pending(&self) {
        self.recorder.finish();
    }

    /// Keeps `run` until its trailing lines are in: recorded by the next
    /// run's [`Environment::finish_pending`] or after [`LOG_GRACE`].
    pub fn defer(&self, run: PendingRun) {
        *self
            .recorder
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(run);
        let recorder = self.recorder.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LOG_GRACE).await;
            recorder.finish();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_keep_lambdas_fields_and_order() {
        let mut report = Report {
            request_id: "r1".into(),
            duration: Duration::from_micros(1_234),
            billed_ms: 2,
            memory_mb: 128,
            init: None,
            max_memory_bytes: None,
        };
        assert_eq!(
            report.line(None),
            "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
        );
        report.init = Some(Duration::from_millis(250));
        // A peak is rounded up to whole MB, and comes before the init.
        assert_eq!(
            report.line(Some((20 << 20) + 1)),
            "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 21 MB\tInit Duration: 250.00 ms"
        );
    }
}
