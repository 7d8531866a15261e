//! Workflows: executions of Amazon States Language state machines, every
//! transition durable.
//!
//! An execution is a row and its history; what it does next is a pending
//! step (`strato_store::WorkflowStep`, body `StepBody`) that any node's
//! sweeper claims under a lease. Processing a step asks the pure
//! interpreter (`strato_workflow`) what the state does, does the work
//! (calls a function, sends a message) and commits the history events,
//! the next step (or the end) and any effects in one fenced transaction
//! (`WorkflowStore::advance_workflow`): a crash repeats a step's work (tasks run
//! at least once), never its transition. Wait states are steps due at
//! their time; a task waiting for its token is a step due at its
//! deadline, resumed earlier by `SendTaskSuccess`/`SendTaskFailure`.
//! Executions run on the revision they started on.

mod branches;
mod driver;
mod ecs;
mod history;
mod nested;
mod resources;

use crate::platform::Platform;
use crate::util::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use strato_store::{
    Execution, ExecutionEnd, ExecutionFilter, ExecutionStatus, HistoryEvent, NewExecution,
    WorkflowStep,
};
use strato_workflow::StateMachine;

pub(crate) use driver::run_sweeper;
pub(crate) use ecs::task_run_outcome;
pub use history::details_key;

/// The region ARNs and events name (Strato has one).
pub(crate) const REGION: &str = "us-east-1";
/// The account ARNs name.
pub(crate) const ACCOUNT: &str = "000000000000";

/// Why a workflow operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("app `{app}` has no workflow `{workflow}`; see `strato apps`")]
    NoSuchWorkflow { app: String, workflow: String },
    #[error("no execution {0}")]
    NoSuchExecution(String),
    #[error("an execution named {0} exists already")]
    AlreadyExists(String),
    #[error("the task token is invalid, or its task is no longer waiting")]
    NoSuchTask,
    #[error("{0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Storage(String),
}

fn storage(e: strato_store::StoreError) -> WorkflowError {
    WorkflowError::Storage(e.to_string())
}

/// What a pending step does (its JSON is the store's `step`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub(crate) enum StepBody {
    /// Enter `state` with its raw input.
    Enter { state: String, input: Value },
    /// Run a Task state's work again (a retry after its delay).
    Run {
        state: String,
        raw: Value,
        retries: Vec<u32>,
        /// The idempotency key of the state's entry.
        #[serde(default)]
        key: String,
    },
    /// A Task state waiting for its token's answer (`outcome`, filled by
    /// the store when resumed); due at its deadline.
    Await {
        state: String,
        raw: Value,
        retries: Vec<u32>,
        #[serde(default)]
        heartbeat_seconds: Option<u64>,
        #[serde(default)]
        outcome: Option<Value>,
        #[serde(default)]
        key: String,
    },
    /// A Wait state's time came: leave it with `output`.
    Leave {
        state: String,
        output: Value,
        next: Option<String>,
    },
    /// Begin a Parallel branch or a Map item (the step's frame says
    /// which) with its input.
    Begin { input: Value },
    /// A Parallel or Map state's join, parked until its children are done
    /// (or one failed the state); its id prefixes theirs.
    Join {
        state: String,
        raw: Value,
        retries: Vec<u32>,
        total: u32,
    },
    /// The execution's TimeoutSeconds ran out.
    TimeOut,
}

/// Parsed definitions by (app, revision, workflow).
#[derive(Default)]
pub(crate) struct Definitions(Mutex<HashMap<(String, i64, String), Arc<StateMachine>>>);

impl Platform {
    /// The state machine an execution runs (its revision's).
    pub(crate) async fn state_machine(
        &self,
        app: &str,
        revision: i64,
        workflow: &str,
    ) -> Result<Arc<StateMachine>, WorkflowError> {
        let key = (app.to_string(), revision, workflow.to_string());
        if let Some(found) = self.workflows.0.lock().unwrap().get(&key) {
            return Ok(found.clone());
        }
        let spec = self
            .store
            .get_revision(app, revision)
            .await
            .map_err(storage)?
            .ok_or_else(|| WorkflowError::NoSuchWorkflow {
                app: app.into(),
                workflow: workflow.into(),
            })?;
        let w = spec
            .workflows
            .get(workflow)
            .ok_or_else(|| WorkflowError::NoSuchWorkflow {
                app: app.into(),
                workflow: workflow.into(),
            })?;
        let machine = Arc::new(parse_definition(&w.definition).map_err(WorkflowError::Invalid)?);
        self.workflows
            .0
            .lock()
            .unwrap()
            .insert(key, machine.clone());
        Ok(machine)
    }

    /// Starts an execution of `app`'s workflow on its live revision;
    /// `name` defaults to a fresh id. Returns it as stored.
    pub async fn start_execution(
        self: &Arc<Self>,
        app: &str,
        workflow: &str,
        name: Option<String>,
        input: Value,
    ) -> Result<Execution, WorkflowError> {
        let new = self
            .new_execution(app, workflow, name, input, None, true)
            .await?;
        if !self
            .store
            .start_execution(&new.execution, &new.events, &new.steps)
            .await
            .map_err(storage)?
        {
            return Err(WorkflowError::AlreadyExists(new.execution.name));
        }
        // The first step was queued leased to this node: run it now.
        let first = new.steps[0].clone();
        let known = Arc::new(new.execution.clone());
        tokio::spawn(driver::run(self.clone(), first, Some(known)));
        Ok(new.execution)
    }

    /// Starts an execution named `name` unless one of that name exists:
    /// what a trigger does (a bucket event, a queue batch, an async
    /// invocation), so a repeated delivery starts one execution.
    pub(crate) async fn start_execution_once(
        self: &Arc<Self>,
        app: &str,
        workflow: &str,
        name: &str,
        input: Value,
    ) -> Result<(), WorkflowError> {
        match self
            .start_execution(app, workflow, Some(name.to_string()), input)
            .await
        {
            Ok(_) | Err(WorkflowError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An execution of `app`'s workflow on its live revision, ready to
    /// store: its row, `ExecutionStarted`, its first step (leased to this
    /// node, which runs it at once, or unleased for any node's sweeper)
    /// and, with a TimeoutSeconds, its timeout.
    pub(crate) async fn new_execution(
        &self,
        app: &str,
        workflow: &str,
        name: Option<String>,
        input: Value,
        parent: Option<String>,
        leased: bool,
    ) -> Result<NewExecution, WorkflowError> {
        let revision = self
            .live()
            .apps
            .get(app)
            .filter(|a| a.spec.workflows.contains_key(workflow))
            .map(|a| a.revision)
            .ok_or_else(|| WorkflowError::NoSuchWorkflow {
                app: app.into(),
                workflow: workflow.into(),
            })?;
        let machine = self.state_machine(app, revision, workflow).await?;
        strato_workflow::payload::check_size(&input, "the execution's input")
            .map_err(|e| WorkflowError::Invalid(e.to_string()))?;
        let id = self.runs.next_id('x');
        let name = name.unwrap_or_else(|| id.clone());
        if name.is_empty() || name.len() > 80 {
            return Err(WorkflowError::Invalid(
                "an execution's name is 1 to 80 characters".into(),
            ));
        }
        if parent.is_some()
            && self
                .store
                .find_execution(app, workflow, &name)
                .await
                .map_err(storage)?
                .is_some()
        {
            return Err(WorkflowError::AlreadyExists(name));
        }
        let now = now_ms();
        // Its span hangs from whatever started it (an API call, a run's
        // event, a parent execution's step), or begins a trace.
        let span = crate::trace::begin(crate::trace::current_cause(), &id);
        let execution = Execution {
            id: id.clone(),
            app: app.into(),
            workflow: workflow.into(),
            revision,
            name,
            status: ExecutionStatus::Running,
            input: input.clone(),
            output: None,
            error: None,
            cause: None,
            started_ms: now,
            stopped_ms: None,
            parent,
            trace_id: Some(span.context.trace_hex()),
            span_id: Some(span.context.span_hex()),
            parent_span_id: span.parent.map(strato_core::trace::span_hex),
        };
        let mut steps = vec![WorkflowStep {
            id: self.runs.next_id('w'),
            execution: id.clone(),
            due_ms: 0,
            step: serde_json::to_value(StepBody::Enter {
                state: machine.start_at.clone(),
                input: input.clone(),
            })
            .expect("steps serialize"),
            attempts: u32::from(leased),
            lease_owner: if leased {
                self.config.node_id.0.clone()
            } else {
                String::new()
            },
            lease_until_ms: if leased { now + self.lease_ms() } else { 0 },
        }];
        if let Some(seconds) = machine.timeout_seconds {
            steps.push(WorkflowStep {
                id: self.runs.next_id('w'),
                execution: id.clone(),
                due_ms: now + seconds as i64 * 1000,
                step: serde_json::to_value(StepBody::TimeOut).expect("steps serialize"),
                attempts: 0,
                lease_owner: String::new(),
                lease_until_ms: 0,
            });
        }
        let started = history::execution_started(now, &input, &state_machine_arn(app, workflow));
        Ok(NewExecution {
            execution,
            events: vec![started],
            steps,
        })
    }

    /// The execution `id` once it has ended, or as it is when `wait` is
    /// over.
    pub async fn wait_for_execution(
        &self,
        id: &str,
        wait: std::time::Duration,
    ) -> Result<Execution, WorkflowError> {
        // Subscribe before reading, so an end between the two is not missed.
        let mut ended = self.execution_ended.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let execution = self.get_execution(id).await?;
            if execution.status != ExecutionStatus::Running {
                return Ok(execution);
            }
            // Another node may run it (a cluster): look again at least
            // every half second.
            let look_again =
                (tokio::time::Instant::now() + std::time::Duration::from_millis(500)).min(deadline);
            loop {
                match tokio::time::timeout_at(look_again, ended.recv()).await {
                    Err(_) if look_again >= deadline => return Ok(execution),
                    Err(_) => break,
                    Ok(Ok(done)) if done != id => continue,
                    Ok(_) => break,
                }
            }
        }
    }

    pub async fn get_execution(&self, id: &str) -> Result<Execution, WorkflowError> {
        self.store
            .get_execution(id)
            .await
            .map_err(storage)?
            .ok_or_else(|| WorkflowError::NoSuchExecution(id.into()))
    }

    pub async fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<Execution>, WorkflowError> {
        self.store.list_executions(filter).await.map_err(storage)
    }

    pub async fn execution_history(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, WorkflowError> {
        self.get_execution(id).await?;
        self.store
            .execution_history(id, after, limit)
            .await
            .map_err(storage)
    }

    /// Stops a running execution (`ABORTED`); false if it had ended.
    pub async fn stop_execution(
        &self,
        id: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<bool, WorkflowError> {
        let execution = self.get_execution(id).await?;
        let now = now_ms();
        let (error, cause) = (error.unwrap_or_default(), cause.unwrap_or_default());
        let end = ExecutionEnd {
            status: ExecutionStatus::Aborted,
            output: None,
            error: Some(error.clone()),
            cause: Some(cause.clone()),
            stopped_ms: now,
        };
        let stopped = self
            .store
            .end_execution(id, &end, &[history::execution_aborted(now, &error, &cause)])
            .await
            .map_err(storage)?;
        if stopped {
            self.runs.execution_ended(&execution, &end);
        }
        // A parent waiting for it (`startExecution.sync`) fails with it.
        if stopped && let Some(parent) = &execution.parent {
            let failure = strato_workflow::StatesError::new(error, cause);
            let outcome =
                nested::outcome(&execution, ExecutionStatus::Aborted, None, Some(&failure));
            self.store
                .resume_workflow_step(parent, &outcome)
                .await
                .map_err(storage)?;
            self.workflow_wakeup.notify_one();
        }
        Ok(stopped)
    }

    /// `SendTaskSuccess`: the waiting task's output.
    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.answer_task(token, serde_json::json!({"ok": output}))
            .await
    }

    /// `SendTaskFailure`: the waiting task failed with `error`.
    pub async fn send_task_failure(
        &self,
        token: &str,
        error: String,
        cause: String,
    ) -> Result<(), WorkflowError> {
        self.answer_task(token, serde_json::json!({"error": error, "cause": cause}))
            .await
    }

    /// `SendTaskHeartbeat`: the waiting task is alive (its heartbeat
    /// deadline moves).
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), WorkflowError> {
        let (id, heartbeat) = parse_token(token).ok_or(WorkflowError::NoSuchTask)?;
        let Some(seconds) = heartbeat else {
            return Ok(());
        };
        let due = now_ms() + seconds as i64 * 1000;
        if self
            .store
            .delay_workflow_step(&id, due)
            .await
            .map_err(storage)?
        {
            Ok(())
        } else {
            Err(WorkflowError::NoSuchTask)
        }
    }

    async fn answer_task(&self, token: &str, outcome: Value) -> Result<(), WorkflowError> {
        let (id, _) = parse_token(token).ok_or(WorkflowError::NoSuchTask)?;
        if self
            .store
            .resume_workflow_step(&id, &outcome)
            .await
            .map_err(storage)?
        {
            self.workflow_wakeup.notify_one();
            Ok(())
        } else {
            Err(WorkflowError::NoSuchTask)
        }
    }
}

impl Platform {
    /// Every live workflow: (app, workflow, deployed at).
    pub fn workflow_list(&self) -> Vec<(String, String, i64)> {
        self.live()
            .apps
            .values()
            .flat_map(|a| {
                a.spec
                    .workflows
                    .keys()
                    .map(|w| (a.name.clone(), w.to_string(), a.deployed_at_ms))
            })
            .collect()
    }

    /// Whether `app` has a live workflow `workflow`.
    pub(crate) fn has_workflow(&self, app: &str, workflow: &str) -> bool {
        self.live()
            .apps
            .get(app)
            .is_some_and(|a| a.spec.workflows.contains_key(workflow))
    }

    /// A live workflow's definition text and when it was deployed.
    pub fn workflow_definition(&self, app: &str, workflow: &str) -> Option<(String, i64)> {
        let live = self.live();
        let app = live.apps.get(app)?;
        let w = app.spec.workflows.get(workflow)?;
        Some((w.definition.clone(), app.deployed_at_ms))
    }
}

/// A trigger's body as an execution's input: its JSON, or its text as a
/// JSON string.
pub(crate) fn input_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A task token: the waiting step's id, and its heartbeat interval (so a
/// heartbeat knows how far to move the deadline).
pub(crate) fn task_token(step: &str, heartbeat_seconds: Option<u64>) -> String {
    match heartbeat_seconds {
        Some(h) => format!("{step}.{h}"),
        None => step.to_string(),
    }
}

fn parse_token(token: &str) -> Option<(String, Option<u64>)> {
    if token.is_empty() || token.len() > 1024 {
        return None;
    }
    match token.split_once('.') {
        Some((id, h)) => Some((id.to_string(), Some(h.parse().ok()?))),
        None => Some((token.to_string(), None)),
    }
}

/// The ARN of a workflow, as the Step Functions API names it.
pub fn state_machine_arn(app: &str, workflow: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{app}.{workflow}")
}

/// The ARN of an execution.
pub fn execution_arn(app: &str, workflow: &str, name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{app}.{workflow}:{name}")
}

/// Every state of a machine, those of its Parallel branches and Map item
/// processors included.
fn every_state(machine: &StateMachine) -> Vec<&strato_workflow::definition::State> {
    let mut out = Vec::new();
    for state in machine.states.values() {
        out.push(state);
        for child in machine.children(&state.name) {
            out.extend(every_state(child));
        }
    }
    out
}

/// Parses a definition and refuses what this engine does not run yet
/// (a deploy says so before any execution starts).
pub(crate) fn parse_definition(text: &str) -> Result<StateMachine, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let machine =
        strato_workflow::definition::parse(&value, Some(text)).map_err(|e| e.to_string())?;
    for state in every_state(&machine) {
        if let strato_workflow::definition::Kind::Task(task) = &state.kind {
            resources::Resource::parse(&task.resource)
                .map_err(|e| format!("state {:?}: {e}", state.name))?;
        }
    }
    Ok(machine)
}

/// Checks a revision's workflows at deploy: each parses, and each task
/// naming a function names one of the app's.
pub(crate) fn check_workflows(spec: &strato_core::RevisionSpec) -> Result<(), String> {
    for (name, w) in &spec.workflows {
        let machine = parse_definition(&w.definition)
            .map_err(|e| format!("workflow `{name}` ({}): {e}", w.file))?;
        for state in every_state(&machine) {
            if let strato_workflow::definition::Kind::Task(task) = &state.kind
                && let Ok(resource) = resources::Resource::parse(&task.resource)
                && let Some(function) = resource.fixed_function()
                && !spec.functions.contains_key(function)
            {
                return Err(format!(
                    "workflow `{name}` ({}): state {:?} calls function `{function}`, which this app does not declare",
                    w.file, state.name
                ));
            }
        }
    }
    Ok(())
}
