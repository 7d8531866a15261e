//! Stepping through a state machine: what entering a state does, and
//! what a task's (or branch's, or map's) outcome leads to. Pure: the
//! engine records each step durably and does the work a step asks for.

use crate::choice::{evaluate, timestamp};
use crate::definition::{Kind, Seconds, State, StateMachine, Text, WaitFor};
use crate::error::{StatesError, names};
use crate::payload::{
    apply_template, check_size, compact, place_result, select_input, select_output,
};
use serde_json::{Value, json};

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Enter `state` with `input`.
    Next { state: String, input: Value },
    /// The machine ended with `output`.
    Succeed(Value),
    /// The machine failed.
    Fail(StatesError),
    /// Run a task; report its outcome with [`StateMachine::complete`].
    Task {
        resource: String,
        parameters: Value,
        timeout_seconds: Option<u64>,
        heartbeat_seconds: Option<u64>,
    },
    /// Wait until `until_ms`, then take `then`.
    Wait { until_ms: i64, then: Box<Step> },
    /// Run every branch on `input`; report their outputs, in order, with
    /// [`StateMachine::complete`] (see [`StateMachine::parallel_outcome`]).
    Parallel { input: Value },
    /// Run the item processor on each item (at most `max_concurrency` at a
    /// time; 0: no limit); report with [`StateMachine::map_outcome`] then
    /// [`StateMachine::complete`].
    Map {
        items: Vec<Value>,
        max_concurrency: u32,
    },
}

/// What a task's, branch set's or map's outcome leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Try the state's work again after `delay_ms` (a Retrier matched).
    Retry {
        delay_ms: u64,
    },
    Then(Step),
}

impl StateMachine {
    /// The state named `name` (the engine keeps names it got from here).
    pub fn state(&self, name: &str) -> Result<&State, StatesError> {
        self.states
            .get(name)
            .ok_or_else(|| StatesError::runtime(format!("no state named {name:?}")))
    }

    /// Enters `name` with its raw input. `context` is the context object
    /// (`$$`); `now_ms` resolves Wait's seconds.
    pub fn enter(&self, name: &str, raw: &Value, context: &Value, now_ms: i64) -> Step {
        self.try_enter(name, raw, context, now_ms)
            .unwrap_or_else(Step::Fail)
    }

    fn try_enter(
        &self,
        name: &str,
        raw: &Value,
        context: &Value,
        now_ms: i64,
    ) -> Result<Step, StatesError> {
        let state = self.state(name)?;
        check_size(raw, name)?;
        let input = select_input(state.input_path.as_ref(), raw)?;
        match &state.kind {
            Kind::Pass { result } => {
                let result = match (result, &state.parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(p)) => apply_template(p, &input, context)?,
                    (None, None) => input,
                };
                let placed = place_result(state.result_path.as_ref(), raw.clone(), result)?;
                self.leave(state, &placed)
            }
            Kind::Choice { choices, default } => {
                for (rule, next) in choices {
                    if evaluate(rule, &input, context)? {
                        let output = select_output(state.output_path.as_ref(), &input)?;
                        return Ok(Step::Next {
                            state: next.clone(),
                            input: output,
                        });
                    }
                }
                match default {
                    Some(next) => Ok(Step::Next {
                        state: next.clone(),
                        input: select_output(state.output_path.as_ref(), &input)?,
                    }),
                    None => Err(StatesError::new(
                        names::NO_CHOICE_MATCHED,
                        format!("No Matches! (state {name:?} has no Default)"),
                    )),
                }
            }
            Kind::Wait(wait) => {
                let until_ms = match wait {
                    WaitFor::Seconds(s) => {
                        now_ms.saturating_add(1000 * seconds(s, &input, "SecondsPath")? as i64)
                    }
                    WaitFor::Timestamp(t) => timestamp(t).expect("checked at parse"),
                    WaitFor::TimestampPath(p) => {
                        let value = p.get_in(&input, context).unwrap_or(Value::Null);
                        value.as_str().and_then(timestamp).ok_or_else(|| {
                            StatesError::runtime(format!(
                                "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                                p.text(),
                                compact(&value)
                            ))
                        })?
                    }
                };
                let then = self.leave(state, &input)?;
                Ok(Step::Wait {
                    until_ms,
                    then: Box::new(then),
                })
            }
            Kind::Succeed => Ok(Step::Succeed(select_output(
                state.output_path.as_ref(),
                &input,
            )?)),
            Kind::Fail { error, cause } => {
                let text = |t: &Option<Text>| -> Result<String, StatesError> {
                    Ok(match t {
                        None => String::new(),
                        Some(Text::Fixed(s)) => s.clone(),
                        Some(Text::Path(p)) => {
                            let v = if crate::intrinsics::is_intrinsic(p) {
                                crate::intrinsics::evaluate(p, raw, context)?
                            } else {
                                crate::path::read(p, raw, context)?
                            };
                            match v {
                                Value::String(s) => s,
                                other => compact(&other),
                            }
                        }
                    })
                };
                Err(StatesError::new(text(error)?, text(cause)?))
            }
            Kind::Task(task) => {
                let parameters = match &state.parameters {
                    Some(p) => apply_template(p, &input, context)?,
                    None => input.clone(),
                };
                check_size(&parameters, name)?;
                Ok(Step::Task {
                    resource: task.resource.clone(),
                    parameters,
                    timeout_seconds: task
                        .timeout
                        .as_ref()
                        .map(|s| seconds(s, &input, "TimeoutSecondsPath"))
                        .transpose()?,
                    heartbeat_seconds: task
                        .heartbeat
                        .as_ref()
                        .map(|s| seconds(s, &input, "HeartbeatSecondsPath"))
                        .transpose()?,
                })
            }
            Kind::Parallel { .. } => {
                let input = match &state.parameters {
                    Some(p) => apply_template(p, &input, context)?,
                    None => input,
                };
                Ok(Step::Parallel { input })
            }
            Kind::Map(map) => {
                let items = match map.items_path.as_ref() {
                    Some(p) => p.get(&input),
                    None => Some(input.clone()),
                };
                let Some(Value::Array(items)) = items else {
                    return Err(StatesError::runtime(format!(
                        "Invalid path '{}': the ItemsPath of state {name:?} must select an array",
                        map.items_path.as_ref().map(|p| p.text()).unwrap_or("$")
                    )));
                };
                let items = match &map.item_selector {
                    None => items,
                    Some(selector) => items
                        .into_iter()
                        .enumerate()
                        .map(|(index, value)| {
                            let mut ctx = context.clone();
                            if let Value::Object(o) = &mut ctx {
                                o.insert(
                                    "Map".into(),
                                    json!({"Item": {"Index": index, "Value": value}}),
                                );
                            }
                            apply_template(selector, &input, &ctx)
                        })
                        .collect::<Result<_, _>>()?,
                };
                Ok(Step::Map {
                    items,
                    max_concurrency: map.max_concurrency,
                })
            }
        }
    }

    /// A state's output on its way out: OutputPath, the size limit, then
    /// its Next or the machine's end.
    fn leave(&self, state: &State, placed: &Value) -> Result<Step, StatesError> {
        let output = select_output(state.output_path.as_ref(), placed)?;
        check_size(&output, &state.name)?;
        Ok(match &state.next {
            Some(next) => Step::Next {
                state: next.clone(),
                input: output,
            },
            None => Step::Succeed(output),
        })
    }

    /// What the outcome of a Task, Parallel or Map state's work leads to:
    /// on success ResultSelector, ResultPath, OutputPath and the next
    /// state; on failure a retry (counting in `retries`, one counter per
    /// Retrier, kept by the caller across attempts), a catch, or the
    /// machine's failure. `random` in [0, 1) draws full jitter.
    pub fn complete(
        &self,
        name: &str,
        raw: &Value,
        outcome: Result<Value, StatesError>,
        retries: &mut Vec<u32>,
        context: &Value,
        random: f64,
    ) -> Completion {
        let state = match self.state(name) {
            Ok(s) => s,
            Err(e) => return Completion::Then(Step::Fail(e)),
        };
        let error = match outcome.and_then(|result| {
            check_size(&result, name)?;
            let result = match &state.result_selector {
                Some(selector) => apply_template(selector, &result, context)?,
                None => result,
            };
            let placed = place_result(state.result_path.as_ref(), raw.clone(), result)?;
            self.leave(state, &placed)
        }) {
            Ok(step) => return Completion::Then(step),
            Err(e) => e,
        };
        retries.resize(state.retry.len(), 0);
        if let Some((i, retrier)) = state
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| error.matches(&r.error_equals))
            && retries[i] < retrier.max_attempts
        {
            let mut delay = retrier.interval_seconds as f64
                * 1000.0
                * retrier.backoff_rate.powi(retries[i] as i32);
            if let Some(max) = retrier.max_delay_seconds {
                delay = delay.min(max as f64 * 1000.0);
            }
            if retrier.full_jitter {
                delay *= random;
            }
            retries[i] += 1;
            return Completion::Retry {
                delay_ms: delay as u64,
            };
        }
        if let Some(catcher) = state.catch.iter().find(|c| error.matches(&c.error_equals)) {
            let error_output = json!({"Error": error.error, "Cause": error.cause});
            return Completion::Then(
                match place_result(catcher.result_path.as_ref(), raw.clone(), error_output) {
                    Ok(input) => Step::Next {
                        state: catcher.next.clone(),
                        input,
                    },
                    Err(e) => Step::Fail(e),
                },
            );
        }
        Completion::Then(Step::Fail(error))
    }

    /// A Parallel state's outcome from its branches' (in order): their
    /// outputs, or the first failure.
    pub fn parallel_outcome(
        results: Vec<Result<Value, StatesError>>,
    ) -> Result<Value, StatesError> {
        results
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    /// A Map state's outcome from its items' (in order): their outputs
    /// (a failed item's as its error, when failures are tolerated), the
    /// first failure, or `States.ExceedToleratedFailureThreshold`.
    pub fn map_outcome(
        &self,
        name: &str,
        results: Vec<Result<Value, StatesError>>,
    ) -> Result<Value, StatesError> {
        let Ok(state) = self.state(name) else {
            return Err(StatesError::runtime(format!("no state named {name:?}")));
        };
        let Kind::Map(map) = &state.kind else {
            return Err(StatesError::runtime(format!("{name:?} is not a Map state")));
        };
        let total = results.len();
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed == 0 {
            return Self::parallel_outcome(results);
        }
        let tolerated = match (
            map.tolerated_failure_percentage,
            map.tolerated_failure_count,
        ) {
            (None, None) => {
                return Err(results
                    .into_iter()
                    .find_map(Result::err)
                    .expect("one failed"));
            }
            (percentage, count) => {
                count.is_some_and(|c| failed as u64 <= c)
                    || percentage.is_some_and(|p| failed as f64 * 100.0 <= p * total as f64)
            }
        };
        if !tolerated {
            return Err(StatesError::new(
                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                format!(
                    "The specified tolerated failure threshold was exceeded: {failed} of {total} items failed"
                ),
            ));
        }
        Ok(Value::Array(
            results
                .into_iter()
                .map(|r| r.unwrap_or_else(|e| json!({"Error": e.error, "Cause": e.cause})))
                .collect(),
        ))
    }

    /// The state machines of a Parallel state's branches or a Map state's
    /// item processor.
    pub fn children(&self, name: &str) -> Vec<&StateMachine> {
        match self.states.get(name).map(|s| &s.kind) {
            Some(Kind::Parallel { branches }) => branches.iter().map(|b| &**b).collect(),
            Some(Kind::Map(map)) => vec![&*map.processor],
            _ => Vec::new(),
        }
    }

    /// The machine child `index` of state `name` runs: a Parallel state's
    /// branch `index`, or a Map state's item processor (any item).
    pub fn child(&self, name: &str, index: usize) -> Option<std::sync::Arc<StateMachine>> {
        match self.states.get(name).map(|s| &s.kind) {
            Some(Kind::Parallel { branches }) => branches.get(index).cloned(),
            Some(Kind::Map(map)) => Some(map.processor.clone()),
            _ => None,
        }
    }
}

fn seconds(s: &Seconds, input: &Value, field: &str) -> Result<u64, StatesError> {
    match s {
        Seconds::Fixed(n) => Ok(*n),
        Seconds::Path(p) => p.get(input).and_then(|v| v.as_u64()).ok_or_else(|| {
            StatesError::runtime(format!(
                "The {field} parameter does not reference a valid non-negative integer: {}",
                p.text()
            ))
        }),
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
