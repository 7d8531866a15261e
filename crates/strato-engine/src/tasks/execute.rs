//! Running a task run: its container from the image store (the
//! entrypoint and command as Docker combines them), its output streamed
//! to the store, its end recorded with what follows it (a retry, a
//! destination, a workflow step waiting for it).

use super::{Reservation, TaskRequest};
use crate::containers;
use crate::lifecycle::Attempt;
use crate::platform::Platform;
use crate::util::now_ms;
use std::sync::Arc;
use std::time::Duration;
use strato_core::spec::TaskNetwork;
use strato_core::{LogLine, RunRecord, RunStatus};
use strato_oci::{ContainerEnd, ContainerSpec, NetworkMode};
use strato_store::{Effect, TaskRunRequest, WorkRef};
use tokio::sync::mpsc;

/// Runs a queued run this node holds the lease of, holding it in hand
/// until its end is recorded.
pub(super) fn spawn_execute(platform: &Arc<Platform>, run: TaskRunRequest, room: Reservation) {
    let held = platform
        .in_hand
        .hold(WorkRef::TaskRun(run.record.id.clone()));
    let platform = platform.clone();
    tokio::spawn(async move {
        execute(&platform, run.record, run.request).await;
        drop(held);
        drop(room);
    });
}

/// Runs one queued task run to its end and records it.
async fn execute(platform: &Arc<Platform>, mut record: RunRecord, request: serde_json::Value) {
    platform.runs.started();
    let request: TaskRequest = match serde_json::from_value(request.clone()) {
        Ok(r) => r,
        Err(e) => {
            record.status = RunStatus::Failed;
            record.error = Some(format!("stored request is unreadable: {e}"));
            finish(platform, record, None, Vec::new(), None).await;
            platform.runs.finished();
            return;
        }
    };
    record.status = RunStatus::Running;
    // A queued record's start is when it was queued.
    let now = now_ms();
    record.queued_us = Some((now - record.started_at_ms).max(0) * 1000);
    record.started_at_ms = now;
    // Marking the run running is written while the container starts; the
    // end is written only after it (the later write must win).
    let store = platform.store.clone();
    let (id, at) = (record.id.clone(), record.started_at_ms);
    let marked = tokio::spawn(async move { store.start_task_run(&id, at).await });

    let (logs_tx, logs_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(containers::stream_logs(
        platform.store.clone(),
        record.clone(),
        logs_rx,
    ));
    // A run cancelled while it waited to start does not start.
    let outcome = if platform.tasks.is_cancelled(&record.id) {
        Err(super::cancel::BEFORE_START.to_string())
    } else {
        run_container(platform, &record, &request, logs_tx).await
    };
    let tail = writer.await.unwrap_or_default();
    if let Ok(Err(e)) = marked.await {
        tracing::error!(error = %e, run = %record.id, "marking a task run running");
    }

    match outcome {
        Ok(o) => {
            record.duration_us = o.duration.as_micros() as i64;
            record.exit_code = Some(o.exit_code);
            record.cpu_us = o.cpu.map(|c| c.as_micros() as i64);
            (record.status, record.error) = match o.end {
                ContainerEnd::Exited(0) => (RunStatus::Succeeded, None),
                ContainerEnd::Exited(code) => {
                    (RunStatus::Failed, Some(format!("exited with code {code}")))
                }
                ContainerEnd::TimedOut => (
                    RunStatus::TimedOut,
                    Some(format!(
                        "timed out after {} ms; stopped with SIGTERM, then SIGKILL",
                        request.spec.timeout_ms.unwrap_or(0)
                    )),
                ),
                ContainerEnd::OomKilled => (
                    RunStatus::OomKilled,
                    Some(format!(
                        "killed for exceeding its memory limit of {} bytes",
                        request.spec.memory_bytes
                    )),
                ),
            };
        }
        Err(message) => {
            record.status = RunStatus::Failed;
            record.error = Some(message);
        }
    }
    record.billed_ms = RunRecord::billed_ms_for(record.duration_us);
    let cancelled = platform.tasks.take_cancelled(&record.id);
    // (One that ended well before its stop landed keeps its success.)
    if cancelled && record.status != RunStatus::Succeeded && record.exit_code.is_some() {
        record.status = RunStatus::Failed;
        record.error = Some(super::cancel::WHILE_RUNNING.into());
    }
    platform.runs.counters.count(record.status);
    let retry = match cancelled {
        true => None,
        false => retry_of(platform, &record, &request),
    };
    finish(platform, record, Some(&request), tail, retry).await;
    platform.runs.finished();
}

/// The next attempt's record if this one failed and retries remain.
pub(super) fn retry_of(
    platform: &Platform,
    record: &RunRecord,
    request: &TaskRequest,
) -> Option<TaskRunRequest> {
    if record.status == RunStatus::Succeeded {
        return None;
    }
    let now = now_ms();
    let attempt = Attempt {
        number: record.attempt,
        max: request.spec.retries + 1,
        // Requests stored before max_age existed have no queueing time.
        expires_ms: (request.queued_ms > 0)
            .then(|| request.queued_ms + request.spec.max_age_ms as i64),
    };
    let due_ms = attempt.next_due(platform.config.event_retry_base, now)?;
    let mut next = record.clone();
    next.id = platform.runs.next_id('r');
    next.status = RunStatus::Queued;
    next.attempt += 1;
    next.started_at_ms = now_ms();
    next.duration_us = 0;
    next.billed_ms = 0;
    next.error = None;
    next.exit_code = None;
    Some(TaskRunRequest {
        record: next,
        request: serde_json::to_value(request).expect("task requests serialize"),
        due_ms,
        cpus_milli: request.spec.cpus_milli.unwrap_or(0),
    })
}

/// The destination a task run that ends for good queues with its record.
fn task_destinations(
    platform: &Platform,
    record: &RunRecord,
    request: &TaskRequest,
) -> Vec<strato_store::NewInvocation> {
    let payload = serde_json::to_string(&request.overrides.env).unwrap_or_default();
    crate::destinations::destinations(
        platform,
        &crate::destinations::Outcome {
            app: &record.app,
            name: &record.function,
            on_success: &request.spec.on_success,
            on_failure: &request.spec.on_failure,
            max_age_ms: request.spec.max_age_ms,
            invocation_id: &record.id,
            payload: payload.as_bytes(),
            attempt: record.attempt,
            status: record.status,
            http_status: None,
            exit_code: record.exit_code,
            error: record.error.as_deref(),
            span: record.trace_context(),
        },
    )
}

/// Records the end with what follows it in the same step: the retry
/// (claimed by the sweeper once its backoff has passed), or, for a run
/// that ends for good, its destination.
pub(super) async fn finish(
    platform: &Arc<Platform>,
    record: RunRecord,
    request: Option<&TaskRequest>,
    tail: Vec<LogLine>,
    retry: Option<TaskRunRequest>,
) {
    let mut effects: Vec<Effect> = match retry {
        Some(retry) => vec![Effect::QueueTaskRun(retry)],
        None => end_effects(platform, &record, request),
    };
    effects.extend(request.and_then(|r| kept_overrides(&record, r)));
    let written = platform
        .store
        .finish_task_run(&record, &tail, &effects)
        .await;
    if let Err(e) = written {
        tracing::error!(run = %record.id, error = %e, "recording a task run's end");
        return;
    }
    let figures = platform
        .runs
        .metrics
        .figures("task", &record.app, &record.function);
    platform.runs.observe(&figures, &record, &tail, Vec::new());
    if effects
        .iter()
        .any(|e| matches!(e, Effect::ResumeWorkflowStep { .. }))
    {
        platform.workflow_wakeup.notify_one();
    }
    let _ = platform.tasks.run_ended.send(record.id);
}

/// What the run was asked to do beyond its spec (environment, command,
/// entrypoint: a bucket event's or a queue batch's variables, say), kept
/// with its record for its page.
pub(super) fn kept_overrides(record: &RunRecord, request: &TaskRequest) -> Option<Effect> {
    if request.overrides == Default::default() {
        return None;
    }
    let text = serde_json::to_vec(&request.overrides).ok()?;
    Some(Effect::KeepPayload {
        run_id: record.id.clone(),
        body: text[..text.len().min(strato_store::MAX_KEPT_PAYLOAD)].to_vec(),
    })
}

/// What a run's end for good commits with it: its destination, and the
/// workflow step waiting for it.
pub(super) fn end_effects(
    platform: &Platform,
    record: &RunRecord,
    request: Option<&TaskRequest>,
) -> Vec<Effect> {
    let mut effects: Vec<Effect> = request
        .map(|request| task_destinations(platform, record, request))
        .unwrap_or_default()
        .into_iter()
        .map(Effect::Enqueue)
        .collect();
    if let Some(step) = request.and_then(|r| r.workflow_step.clone()) {
        effects.push(Effect::ResumeWorkflowStep {
            id: step,
            outcome: crate::workflows::task_run_outcome(record),
        });
    }
    effects
}

/// Resolves the image and runs the container; `Err` is a setup failure
/// told to the user as the run's error.
async fn run_container(
    platform: &Arc<Platform>,
    record: &RunRecord,
    request: &TaskRequest,
    logs: mpsc::UnboundedSender<LogLine>,
) -> Result<strato_oci::ContainerOutcome, String> {
    platform.tasks.containers.check()?;
    let spec = &request.spec;
    let images = platform.tasks.images.clone();
    let name = spec.image.clone();
    let (image, rootfs) = tokio::task::spawn_blocking(move || {
        let image = images.resolve(&name)?;
        let rootfs = images.rootfs(&image)?;
        Ok::<_, strato_oci::ImageError>((image, rootfs))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;

    let o = &request.overrides;
    let args = containers::container_args(
        (&image.config.entrypoint, &image.config.cmd),
        (spec.entrypoint.as_ref(), spec.command.as_ref()),
        (o.entrypoint.as_ref(), o.command.as_ref()),
    );
    if args.is_empty() {
        return Err(format!(
            "nothing to run: image {} has no ENTRYPOINT or CMD and the task sets no `command`",
            spec.image
        ));
    }

    let c = &platform.config;
    let (api_url, s3_url, network) = match spec.network {
        TaskNetwork::Host => (c.api_url.clone(), c.s3_url.clone(), NetworkMode::Host),
        mode => {
            let (api, s3) = containers::platform_urls(c);
            let net = if mode == TaskNetwork::Platform {
                NetworkMode::Platform(containers::platform_forwards(c))
            } else {
                NetworkMode::None
            };
            (api, s3, net)
        }
    };
    let mut env =
        containers::base_env(platform, &record.app, &image.config.env, &api_url, &s3_url).await;
    env.insert("STRATO_TASK".into(), record.function.clone());
    env.insert("STRATO_RUN_ID".into(), record.id.clone());
    env.insert("STRATO_ATTEMPT".into(), record.attempt.to_string());
    if let Some(span) = record.trace_context() {
        // W3C's environment-variable carrier, and the AWS SDKs' session
        // token (sent with every signed call) so S3 writes join the trace.
        env.insert("TRACEPARENT".into(), span.traceparent());
        if env.contains_key("AWS_ACCESS_KEY_ID") {
            env.insert(
                "AWS_SESSION_TOKEN".into(),
                crate::trace::session_token(&span),
            );
        }
    }
    env.extend(spec.env.clone());
    env.extend(o.env.clone());

    let container = ContainerSpec {
        id: record.id.clone(),
        image_rootfs: rootfs,
        args,
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd: spec
            .workdir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| image.config.working_dir.clone()),
        user: spec
            .user
            .clone()
            .unwrap_or_else(|| image.config.user.clone()),
        memory_bytes: Some(spec.memory_bytes),
        cpus: spec.cpus_milli.map(|m| m as f64 / 1000.0),
        pids: Some(spec.pids),
        network,
        timeout: spec.timeout_ms.map(Duration::from_millis),
        stop_grace: Duration::from_millis(spec.stop_timeout_ms),
        mounts: Vec::new(),
    };
    platform
        .tasks
        .containers
        .run(&container, logs)
        .await
        .map_err(|e| e.to_string())
}
