//! Parallel and Map states: a fan-out into child frames and a join.
//!
//! Entering the state queues, in its one transaction, a join step parked
//! until never and a first step per child (`{join}/{i}`, a branch of a
//! Parallel or an item of a Map; past a Map's MaxConcurrency parked too).
//! Each child runs the branch's (or item processor's) states as ordinary
//! steps whose ids stay under `{join}/{i}/` and whose frame names where
//! they are. A child's end records its outcome for the join in its last
//! step's transaction (`Effect::EndWorkflowBranch`: once per child, the
//! store starts the next parked item and wakes the join when the last
//! outcome is in, or at once on a failure that fails the state). The
//! join reads the outcomes, drops whatever its children left pending,
//! and completes the state as a task's outcome is completed: retried,
//! caught, or on to the next state.

use super::StepBody;
use super::driver::{NEVER_MS, Turn};
use super::history::{self, fan_out_event, map_iteration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use strato_store::{BranchEnd, Effect};
use strato_workflow::definition::Kind;
use strato_workflow::{StateMachine, StatesError};

/// One level of nesting: which child of which Parallel or Map state a
/// step belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Level {
    /// The Parallel or Map state, in the enclosing machine.
    pub state: String,
    /// The branch's (Parallel) or item's (Map) index.
    pub index: u32,
    /// The state's join step.
    pub join: String,
    /// How many children the join waits for.
    pub total: u32,
    /// A Map's MaxConcurrency (0: none).
    pub limit: u32,
    /// Whether this child's failure fails the state at once (a Parallel,
    /// or a Map that tolerates no failures).
    pub fail_fast: bool,
    /// A Map's item (its events are `MapIteration...`).
    pub map: bool,
}

/// The machine a frame runs: the workflow's own, or nested branches'.
pub(super) fn frame_machine(
    root: &Arc<StateMachine>,
    frame: &[Level],
) -> Result<Arc<StateMachine>, StatesError> {
    let mut machine = root.clone();
    for level in frame {
        machine = machine
            .child(&level.state, level.index as usize)
            .ok_or_else(|| {
                StatesError::runtime(format!(
                    "state {:?} has no branch {} in this definition",
                    level.state, level.index
                ))
            })?;
    }
    Ok(machine)
}

fn is_map(machine: &StateMachine, state: &str) -> bool {
    matches!(
        machine.states.get(state).map(|s| &s.kind),
        Some(Kind::Map(_))
    )
}

fn answer(outcome: &Result<Value, StatesError>) -> Value {
    match outcome {
        Ok(output) => json!({ "ok": output }),
        Err(e) => json!({ "error": e.error, "cause": e.cause }),
    }
}

impl Turn<'_> {
    /// Enters a Parallel's branches or a Map's items, each with its input.
    pub(super) fn fan_out(
        &mut self,
        state: &str,
        raw: &Value,
        retries: Vec<u32>,
        inputs: Vec<Value>,
        limit: u32,
    ) {
        let map = is_map(&self.machine, state);
        let total = inputs.len() as u32;
        self.event(if map {
            history::map_started(self.now, inputs.len())
        } else {
            fan_out_event(self.now, "ParallelStateStarted")
        });
        if inputs.is_empty() {
            // A Map over no items is done at once.
            return self.joined(state, raw, retries, Ok(json!([])));
        }
        let tolerates = match self.machine.states.get(state).map(|s| &s.kind) {
            Some(Kind::Map(m)) => {
                m.tolerated_failure_count.is_some() || m.tolerated_failure_percentage.is_some()
            }
            _ => false,
        };
        let join = self.new_step_id();
        self.queue_as(
            join.clone(),
            StepBody::Join {
                state: state.to_string(),
                raw: raw.clone(),
                retries,
                total,
            },
            NEVER_MS,
        );
        for (index, input) in (0..total).zip(inputs) {
            let mut frame = self.frame.clone();
            frame.push(Level {
                state: state.to_string(),
                index,
                join: join.clone(),
                total,
                limit,
                fail_fast: !tolerates,
                map,
            });
            let due = if limit == 0 || index < limit {
                self.now
            } else {
                NEVER_MS
            };
            self.queue_in(
                format!("{join}/{index}"),
                StepBody::Begin { input },
                due,
                &frame,
            );
        }
    }

    /// A child's first step: its machine's first state.
    pub(super) async fn begin(&mut self, input: Value) {
        if let Some(level) = self.frame.last().filter(|l| l.map) {
            let started = map_iteration(self.now, "MapIterationStarted", &level.state, level.index);
            self.event(started);
        }
        let start = self.machine.start_at.clone();
        self.enter(&start, &input, Vec::new()).await;
    }

    /// This child's machine ended: its outcome goes to its join.
    pub(super) fn end_branch(&mut self, level: &Level, outcome: Result<Value, StatesError>) {
        if level.map {
            let kind = match outcome {
                Ok(_) => "MapIterationSucceeded",
                Err(_) => "MapIterationFailed",
            };
            self.event(map_iteration(self.now, kind, &level.state, level.index));
        }
        self.advance
            .effects
            .push(Effect::EndWorkflowBranch(BranchEnd {
                join: level.join.clone(),
                execution: self.execution.id.clone(),
                index: level.index,
                outcome: answer(&outcome),
                total: level.total,
                max_concurrency: level.limit,
                wake: level.fail_fast && outcome.is_err(),
            }));
    }

    /// The join woke: every child's outcome is in, or one failed the
    /// state. Completes the state with them.
    pub(super) async fn join(
        &mut self,
        state: String,
        raw: Value,
        retries: Vec<u32>,
        total: u32,
    ) -> Result<(), String> {
        let recorded = self
            .platform
            .store
            .workflow_results(self.step_id)
            .await
            .map_err(|e| e.to_string())?;
        let outcomes: Vec<Result<Value, StatesError>> = recorded
            .iter()
            .map(|(_, answer)| super::driver::answer_of(answer))
            .collect();
        let outcome = if recorded.len() as u32 >= total {
            if is_map(&self.machine, &state) {
                self.machine.map_outcome(&state, outcomes)
            } else {
                StateMachine::parallel_outcome(outcomes)
            }
        } else if let Some(failed) = outcomes.into_iter().find_map(Result::err) {
            Err(failed)
        } else {
            // Woken early with nothing failed (a wake raced the join's own
            // turn): wait on, under the same id, children untouched.
            let join = self.step_id.to_string();
            self.queue_as(
                join,
                StepBody::Join {
                    state,
                    raw,
                    retries,
                    total,
                },
                NEVER_MS,
            );
            return Ok(());
        };
        self.advance.drops_children = true;
        self.joined(&state, &raw, retries, outcome);
        Ok(())
    }

    /// The fan-out's outcome: its event, then the state completes as a
    /// task's would (ResultSelector, ResultPath, Retry, Catch, Next).
    fn joined(
        &mut self,
        state: &str,
        raw: &Value,
        retries: Vec<u32>,
        outcome: Result<Value, StatesError>,
    ) {
        let kind = self.kind_of(state);
        let ended = match outcome {
            Ok(_) => format!("{kind}StateSucceeded"),
            Err(_) => format!("{kind}StateFailed"),
        };
        self.event(fan_out_event(self.now, &ended));
        self.complete(state, raw, outcome, retries);
    }
}
