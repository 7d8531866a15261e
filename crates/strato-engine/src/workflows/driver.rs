//! Running steps: claim due ones (the sweeper, or a wakeup), process each
//! and commit its advance; a next step due at once was queued leased to
//! this node and runs here straight away, so a chain of states costs one
//! transaction per state and no waiting for a sweep.

use super::branches::{self, Level};
use super::history::{self, state_entered, state_exited};
use super::resources::{self, Resource, Started};
use super::{StepBody, task_token};
use crate::platform::Platform;
use crate::util::now_ms;
use serde_json::{Value, json};
use std::sync::Arc;
use strato_store::{
    Effect, Execution, ExecutionEnd, ExecutionStatus, Fence, WorkRef, WorkflowAdvance, WorkflowStep,
};
use strato_workflow::definition::Kind;
use strato_workflow::{Completion, StateMachine, StatesError, Step};

/// Most steps one sweep claims.
const CLAIM_BATCH: usize = 64;

/// A parked step's deadline when it has none: far enough to be never.
pub(super) const NEVER_MS: i64 = i64::MAX / 4;

/// One sweep: claims due steps (retries past their delay, Wait states'
/// times, answered or timed-out tasks, steps whose node was lost) and
/// runs each.
pub(crate) async fn sweep(platform: &Arc<Platform>) {
    loop {
        let claimed = match platform
            .store
            .claim_workflow_steps(
                &platform.config.node_id,
                now_ms(),
                platform.lease_ms(),
                CLAIM_BATCH,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "claiming workflow steps");
                return;
            }
        };
        let full = claimed.len() == CLAIM_BATCH;
        for step in claimed {
            tokio::spawn(run(platform.clone(), step, None));
        }
        if !full {
            return;
        }
    }
}

/// Runs a step this node holds, then every step it queues due at once.
/// `known`: its execution, when the caller has it (its fields never
/// change while it runs, and a stop meanwhile is caught by the advance's
/// fence), which saves a read per step of a chain.
pub(crate) async fn run(
    platform: Arc<Platform>,
    first: WorkflowStep,
    mut known: Option<Arc<Execution>>,
) {
    let mut pending = vec![first];
    while let Some(step) = pending.pop() {
        let _held = platform
            .in_hand
            .hold(WorkRef::WorkflowStep(step.id.clone()));
        let execution = match known.take() {
            Some(e) => Some(e),
            None => match platform.store.get_execution(&step.execution).await {
                Ok(e) => e.map(Arc::new),
                Err(e) => {
                    tracing::error!(step = %step.id, error = %e, "reading a workflow step's execution; it is retried when its lease runs out");
                    continue;
                }
            },
        };
        // Gone, or ended meanwhile: nothing to do.
        let Some(execution) = execution.filter(|e| e.status == ExecutionStatus::Running) else {
            continue;
        };
        // What a step starts (a run, a message, a nested execution)
        // hangs from the execution's span.
        let cause = execution.trace_context();
        match crate::trace::caused_by(cause, turn(&platform, &step, &execution)).await {
            Ok(Some(advance)) => {
                let fence = Fence {
                    work: WorkRef::WorkflowStep(step.id.clone()),
                    owner: platform.config.node_id.clone(),
                    attempt: step.attempts,
                };
                match platform.store.advance_workflow(&fence, &advance).await {
                    Ok(true) if let Some(end) = &advance.end => {
                        platform.runs.execution_ended(&execution, end);
                        let _ = platform.execution_ended.send(advance.execution.clone());
                    }
                    Ok(true) => {
                        if advance
                            .effects
                            .iter()
                            .any(|e| matches!(e, Effect::EndWorkflowBranch(_)))
                        {
                            // A join or a parked item may be due now.
                            platform.workflow_wakeup.notify_one();
                        }
                        // Steps due now run here: one in this task, the
                        // others (a Parallel's branches, a Map's items)
                        // each in its own.
                        let mut now: Vec<WorkflowStep> = advance
                            .next
                            .into_iter()
                            .filter(|s| !s.lease_owner.is_empty())
                            .collect();
                        if let Some(first) = now.pop() {
                            for other in now {
                                spawn_run(platform.clone(), other, Some(execution.clone()));
                            }
                            pending.push(first);
                            known = Some(execution);
                        }
                    }
                    // Another node took it over, or the execution ended.
                    Ok(false) => {
                        tracing::debug!(step = %step.id, "a workflow step's lease no longer held; its result was dropped")
                    }
                    Err(e) => {
                        tracing::error!(step = %step.id, error = %e, "recording a workflow step; it is retried when its lease runs out")
                    }
                }
            }
            // The execution ended meanwhile: nothing to do.
            Ok(None) => {}
            Err(e) => {
                tracing::error!(step = %step.id, error = %e, "running a workflow step; it is retried when its lease runs out")
            }
        }
    }
}

/// Runs `step` in a task of its own.
fn spawn_run(platform: Arc<Platform>, step: WorkflowStep, known: Option<Arc<Execution>>) {
    let run: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(run(platform, step, known));
    tokio::spawn(run);
}

/// What a step of a running `execution` does: the advance to commit.
async fn turn(
    platform: &Arc<Platform>,
    step: &WorkflowStep,
    execution: &Execution,
) -> Result<Option<WorkflowAdvance>, String> {
    let frame: Vec<Level> = match step.step.get("frame") {
        Some(f) => serde_json::from_value(f.clone())
            .map_err(|e| format!("step {} has an unreadable frame: {e}", step.id))?,
        None => Vec::new(),
    };
    let machine = match platform
        .state_machine(&execution.app, execution.revision, &execution.workflow)
        .await
        .map_err(|e| StatesError::runtime(e.to_string()))
        .and_then(|root| branches::frame_machine(&root, &frame))
    {
        Ok(m) => m,
        Err(e) => {
            let mut turn = Turn::ending(platform, execution);
            turn.fail(e);
            return Ok(Some(turn.advance));
        }
    };
    let mut turn = Turn {
        platform,
        now: now_ms(),
        advance: WorkflowAdvance {
            execution: execution.id.clone(),
            ..Default::default()
        },
        machine,
        execution,
        step_id: &step.id,
        frame,
        key: format!("{}:{}", execution.id, step.id),
    };
    let body: StepBody = serde_json::from_value(step.step.clone())
        .map_err(|e| format!("step {} is unreadable: {e}", step.id))?;
    match body {
        StepBody::Enter { state, input } => turn.enter(&state, &input, Vec::new()).await,
        StepBody::Run {
            state,
            raw,
            retries,
            key,
        } => {
            if !key.is_empty() {
                turn.key = key;
            }
            turn.enter_task_again(&state, &raw, retries).await
        }
        StepBody::Await {
            state,
            raw,
            retries,
            heartbeat_seconds,
            outcome,
            key,
        } => {
            if !key.is_empty() {
                turn.key = key;
            }
            let outcome = match outcome {
                Some(answer) => answer_of(&answer),
                None => Err(match heartbeat_seconds {
                    Some(_) => StatesError::new(
                        strato_workflow::error::names::HEARTBEAT_TIMEOUT,
                        "no heartbeat came in time",
                    ),
                    None => StatesError::new(
                        strato_workflow::error::names::TIMEOUT,
                        "the task did not answer in time",
                    ),
                }),
            };
            let resource = turn.resource_of(&state);
            let outcome = match Resource::parse(&resource) {
                Ok(Resource::StartExecution { sync: 1, .. }) => {
                    super::nested::output_as_text(outcome)
                }
                _ => outcome,
            };
            turn.event(history::task_ended(turn.now, &resource, &outcome));
            turn.complete(&state, &raw, outcome, retries);
        }
        StepBody::Leave {
            state,
            output,
            next,
        } => {
            turn.event(state_exited(turn.now, "Wait", &state, &output));
            match next {
                Some(next) => turn.goto(next, output),
                None => turn.succeed(output),
            }
        }
        StepBody::Begin { input } => turn.begin(input).await,
        StepBody::Join {
            state,
            raw,
            retries,
            total,
        } => turn.join(state, raw, retries, total).await?,
        StepBody::TimeOut => turn.time_out(),
    }
    Ok(Some(turn.advance))
}

/// `{"ok": output}` or `{"error": ..., "cause": ...}`, as a task's
/// answer is stored.
pub(super) fn answer_of(answer: &Value) -> Result<Value, StatesError> {
    match answer.get("ok") {
        Some(output) => Ok(output.clone()),
        None => Err(StatesError::new(
            answer["error"].as_str().unwrap_or_default(),
            answer["cause"].as_str().unwrap_or_default(),
        )),
    }
}

/// One step's processing: what it appends and queues.
pub(super) struct Turn<'a> {
    pub(super) platform: &'a Arc<Platform>,
    pub(super) execution: &'a Execution,
    /// The machine the step's frame runs: the workflow's, or a branch's
    /// or a Map's item processor.
    pub(super) machine: Arc<StateMachine>,
    pub(super) now: i64,
    pub(super) advance: WorkflowAdvance,
    /// The step being processed.
    pub(super) step_id: &'a str,
    /// The Parallel branches and Map items the step is inside, outermost
    /// first (empty: the workflow's own states).
    pub(super) frame: Vec<Level>,
    /// The idempotency key of the state's entry (`EXECUTION:STEP`, the
    /// step that entered it), kept by its retries.
    pub(super) key: String,
}

impl<'a> Turn<'a> {
    /// A turn that can only end the execution (its definition is gone).
    fn ending(platform: &'a Arc<Platform>, execution: &'a Execution) -> Turn<'a> {
        Turn {
            platform,
            execution,
            machine: Arc::new(StateMachine {
                start_at: String::new(),
                states: Default::default(),
                timeout_seconds: None,
            }),
            now: now_ms(),
            advance: WorkflowAdvance {
                execution: execution.id.clone(),
                ..Default::default()
            },
            step_id: "",
            frame: Vec::new(),
            key: String::new(),
        }
    }

    pub(super) fn event(&mut self, event: strato_store::NewHistoryEvent) {
        self.advance.events.push(event);
    }

    pub(super) fn kind_of(&self, state: &str) -> &'static str {
        match self.machine.states.get(state).map(|s| &s.kind) {
            Some(Kind::Pass { .. }) => "Pass",
            Some(Kind::Task(_)) => "Task",
            Some(Kind::Choice { .. }) => "Choice",
            Some(Kind::Wait(_)) => "Wait",
            Some(Kind::Succeed) => "Succeed",
            Some(Kind::Fail { .. }) => "Fail",
            Some(Kind::Parallel { .. }) => "Parallel",
            Some(Kind::Map(_)) => "Map",
            None => "Unknown",
        }
    }

    fn resource_of(&self, state: &str) -> String {
        match self.machine.states.get(state).map(|s| &s.kind) {
            Some(Kind::Task(task)) => task.resource.clone(),
            _ => String::new(),
        }
    }

    /// The context object (`$$`) in `state`.
    fn context(&self, state: &str, retries: &[u32], token: Option<&str>) -> Value {
        let e = self.execution;
        let mut ctx = json!({
            "Execution": {
                "Id": super::execution_arn(&e.app, &e.workflow, &e.name),
                "Input": e.input,
                "Name": e.name,
                "RoleArn": "arn:aws:iam::000000000000:role/strato",
                "StartTime": strato_core::time::format_rfc3339_ms(e.started_ms),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": strato_core::time::format_rfc3339_ms(self.now),
                "Name": state,
                "RetryCount": retries.iter().sum::<u32>(),
            },
            "StateMachine": {
                "Id": super::state_machine_arn(&e.app, &e.workflow),
                "Name": format!("{}.{}", e.app, e.workflow),
            },
        });
        if let Some(token) = token {
            ctx["Task"] = json!({ "Token": token });
        }
        ctx
    }

    /// A fresh id for a step in this frame: under its branch's or item's
    /// prefix (`{join}/{index}/`), so the join can drop what is left.
    pub(super) fn new_step_id(&self) -> String {
        let id = self.platform.runs.next_id('w');
        match self.frame.last() {
            Some(level) => format!("{}/{}/{id}", level.join, level.index),
            None => id,
        }
    }

    /// A new step of this execution; due now, it is leased to this node,
    /// which runs it next.
    fn queue(&mut self, body: StepBody, due_ms: i64) -> String {
        let id = self.new_step_id();
        self.queue_as(id.clone(), body, due_ms);
        id
    }

    pub(super) fn queue_as(&mut self, id: String, body: StepBody, due_ms: i64) {
        let frame = self.frame.clone();
        self.queue_in(id, body, due_ms, &frame);
    }

    /// Queues a step in `frame` (a new branch's, or this step's).
    pub(super) fn queue_in(&mut self, id: String, body: StepBody, due_ms: i64, frame: &[Level]) {
        let now_due = due_ms <= self.now;
        let mut step = serde_json::to_value(body).expect("steps serialize");
        if !frame.is_empty() {
            step["frame"] = serde_json::to_value(frame).expect("frames serialize");
        }
        self.advance.next.push(WorkflowStep {
            id,
            execution: self.execution.id.clone(),
            due_ms,
            step,
            // Stored leased to this node with its first attempt counted.
            attempts: u32::from(now_due),
            lease_owner: if now_due {
                self.platform.config.node_id.0.clone()
            } else {
                String::new()
            },
            lease_until_ms: if now_due {
                self.now + self.platform.lease_ms()
            } else {
                0
            },
        });
    }

    fn goto(&mut self, state: String, input: Value) {
        self.queue(StepBody::Enter { state, input }, self.now);
    }

    /// The machine ended with `output`: the execution, or this branch.
    fn succeed(&mut self, output: Value) {
        if let Some(level) = self.frame.last().cloned() {
            return self.end_branch(&level, Ok(output));
        }
        self.tell_parent(ExecutionStatus::Succeeded, Some(&output), None);
        self.event(history::execution_succeeded(self.now, &output));
        self.advance.end = Some(ExecutionEnd {
            status: ExecutionStatus::Succeeded,
            output: Some(output),
            error: None,
            cause: None,
            stopped_ms: self.now,
        });
    }

    /// The machine failed: the execution, or this branch.
    pub(super) fn fail(&mut self, error: StatesError) {
        if let Some(level) = self.frame.last().cloned() {
            return self.end_branch(&level, Err(error));
        }
        self.tell_parent(ExecutionStatus::Failed, None, Some(&error));
        self.event(history::execution_failed(self.now, &error));
        self.advance.end = Some(ExecutionEnd {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(error.error),
            cause: Some(error.cause),
            stopped_ms: self.now,
        });
    }

    /// The execution's TimeoutSeconds ran out: it ends `TIMED_OUT`.
    fn time_out(&mut self) {
        let error = StatesError::new(
            strato_workflow::error::names::TIMEOUT,
            "the execution ran longer than its TimeoutSeconds",
        );
        self.tell_parent(ExecutionStatus::TimedOut, None, Some(&error));
        self.event(history::execution_timed_out(self.now, &error));
        self.advance.end = Some(ExecutionEnd {
            status: ExecutionStatus::TimedOut,
            output: None,
            error: Some(error.error),
            cause: Some(error.cause),
            stopped_ms: self.now,
        });
    }

    /// A parent execution waiting for this one's end (a nested
    /// `startExecution.sync`) is resumed with it, in the same transaction.
    fn tell_parent(
        &mut self,
        status: ExecutionStatus,
        output: Option<&Value>,
        error: Option<&StatesError>,
    ) {
        if let Some(parent) = &self.execution.parent {
            self.advance.effects.push(Effect::ResumeWorkflowStep {
                id: parent.clone(),
                outcome: super::nested::outcome(self.execution, status, output, error),
            });
        }
    }

    /// Enters `state` with `input`: its Entered event and what it does.
    pub(super) async fn enter(&mut self, state: &str, input: &Value, retries: Vec<u32>) {
        let kind = self.kind_of(state);
        self.event(state_entered(self.now, kind, state, input));
        self.run_state(state, input, retries).await;
    }

    /// A Task state's work again (a retry): no new Entered event.
    async fn enter_task_again(&mut self, state: &str, raw: &Value, retries: Vec<u32>) {
        self.run_state(state, raw, retries).await;
    }

    async fn run_state(&mut self, state: &str, input: &Value, retries: Vec<u32>) {
        // A task that waits for its token gets it in `$$.Task.Token`: the
        // id of the step that will wait.
        let wait_id = self.new_step_id();
        let heartbeat = match self.machine.states.get(state).map(|s| &s.kind) {
            Some(Kind::Task(task)) => match &task.heartbeat {
                Some(strato_workflow::definition::Seconds::Fixed(h)) => Some(*h),
                _ => None,
            },
            _ => None,
        };
        let token = task_token(&wait_id, heartbeat);
        let ctx = self.context(state, &retries, Some(&token));
        let step = self.machine.enter(state, input, &ctx, self.now);
        self.follow(state, input, step, retries, wait_id).await;
    }

    /// Takes the interpreter's next step from `state` (raw input `raw`).
    async fn follow(
        &mut self,
        state: &str,
        raw: &Value,
        step: Step,
        retries: Vec<u32>,
        wait_id: String,
    ) {
        let kind = self.kind_of(state);
        match step {
            Step::Next { state: next, input } => {
                self.event(state_exited(self.now, kind, state, &input));
                self.goto(next, input);
            }
            Step::Succeed(output) => {
                self.event(state_exited(self.now, kind, state, &output));
                self.succeed(output);
            }
            Step::Fail(error) => self.fail(error),
            Step::Wait { until_ms, then } => {
                let (output, next) = match *then {
                    Step::Next { state, input } => (input, Some(state)),
                    Step::Succeed(output) => (output, None),
                    Step::Fail(error) => return self.fail(error),
                    _ => return self.fail(StatesError::runtime("a Wait state leads nowhere")),
                };
                self.queue(
                    StepBody::Leave {
                        state: state.to_string(),
                        output,
                        next,
                    },
                    until_ms,
                );
            }
            Step::Task {
                resource,
                parameters,
                timeout_seconds,
                heartbeat_seconds,
            } => {
                self.task(
                    state,
                    raw,
                    TaskCall {
                        resource,
                        parameters,
                        timeout_seconds,
                        heartbeat_seconds,
                    },
                    retries,
                    wait_id,
                )
                .await
            }
            Step::Parallel { input } => {
                let branches = self.machine.children(state).len();
                self.fan_out(state, raw, retries, vec![input; branches], 0)
            }
            Step::Map {
                items,
                max_concurrency,
            } => self.fan_out(state, raw, retries, items, max_concurrency),
        }
    }

    async fn task(
        &mut self,
        state: &str,
        raw: &Value,
        call: TaskCall,
        retries: Vec<u32>,
        wait_id: String,
    ) {
        let TaskCall {
            resource: resource_text,
            parameters,
            timeout_seconds,
            heartbeat_seconds,
        } = call;
        self.event(history::task_scheduled(
            self.now,
            &resource_text,
            &parameters,
            timeout_seconds,
            heartbeat_seconds,
        ));
        let resource = match Resource::parse(&resource_text) {
            Ok(r) => r,
            Err(e) => return self.fail(StatesError::runtime(e)),
        };
        self.event(history::task_started(self.now, &resource_text));
        let site = resources::TaskSite {
            execution: self.execution,
            key: &self.key,
            wait_id: &wait_id,
        };
        let started = resources::start(
            self.platform,
            &site,
            &resource,
            &parameters,
            timeout_seconds,
        )
        .await;
        match started {
            Started::Waiting(effects) => {
                self.advance.effects.extend(effects);
                let deadline = [timeout_seconds, heartbeat_seconds]
                    .into_iter()
                    .flatten()
                    .min()
                    .map_or(NEVER_MS, |s| self.now + s as i64 * 1000);
                self.queue_as(
                    wait_id,
                    StepBody::Await {
                        state: state.to_string(),
                        raw: raw.clone(),
                        retries,
                        heartbeat_seconds: heartbeat_seconds
                            .filter(|h| timeout_seconds.is_none_or(|t| *h < t)),
                        outcome: None,
                        key: self.key.clone(),
                    },
                    deadline,
                );
            }
            Started::Done { outcome, effects } => {
                self.advance.effects.extend::<Vec<Effect>>(effects);
                // The end is timestamped when it happened, not when began.
                self.now = now_ms();
                self.event(history::task_ended(self.now, &resource_text, &outcome));
                self.complete(state, raw, outcome, retries);
            }
        }
    }

    /// A task's outcome: retried after its delay, caught, or on to the
    /// next state.
    pub(super) fn complete(
        &mut self,
        state: &str,
        raw: &Value,
        outcome: Result<Value, StatesError>,
        mut retries: Vec<u32>,
    ) {
        let ctx = self.context(state, &retries, None);
        let completion = self.machine.complete(
            state,
            raw,
            outcome,
            &mut retries,
            &ctx,
            rand::random::<f64>(),
        );
        match completion {
            Completion::Retry { delay_ms } => {
                self.queue(
                    StepBody::Run {
                        state: state.to_string(),
                        raw: raw.clone(),
                        retries,
                        key: self.key.clone(),
                    },
                    self.now + delay_ms as i64,
                );
            }
            Completion::Then(Step::Next { state: next, input }) => {
                let kind = self.kind_of(state);
                self.event(state_exited(self.now, kind, state, &input));
                self.goto(next, input);
            }
            Completion::Then(Step::Succeed(output)) => {
                let kind = self.kind_of(state);
                self.event(state_exited(self.now, kind, state, &output));
                self.succeed(output);
            }
            Completion::Then(Step::Fail(error)) => self.fail(error),
            Completion::Then(_) => self.fail(StatesError::runtime(
                "a task's completion can only lead to a state or the end",
            )),
        }
    }
}

struct TaskCall {
    resource: String,
    parameters: Value,
    timeout_seconds: Option<u64>,
    heartbeat_seconds: Option<u64>,
}

/// The workflow sweeper: a sweep every 100 ms, or at once when a task's
/// answer or another node's wakeup arrives.
pub(crate) async fn run_sweeper(platform: std::sync::Weak<Platform>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut woken = platform
        .upgrade()
        .and_then(|p| p.store.wakeups())
        .map(|w| w.work.subscribe());
    loop {
        let notified = match platform.upgrade() {
            Some(p) => p.workflow_wakeup.clone(),
            None => return,
        };
        tokio::select! {
            _ = crate::cluster::tick_or_wakeup(&mut tick, woken.as_mut()) => {}
            _ = notified.notified() => {}
        }
        let Some(platform) = platform.upgrade() else {
            return;
        };
        if platform.status.draining() {
            continue;
        }
        sweep(&platform).await;
    }
}
