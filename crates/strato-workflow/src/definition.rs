//! A state machine definition, parsed and validated: every field of every
//! state type checked, every transition pointing at a state of its scope,
//! every state reachable, with errors that name the state, the field and
//! (given the source text) the line.

use crate::choice::{Rule, parse_rule, timestamp};
use crate::path::JsonPath;
use crate::payload::check_template;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A definition that does not hold, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default(), state.as_ref().map(|s| format!("state {s:?}: ")).unwrap_or_default())]
pub struct DefinitionError {
    pub state: Option<String>,
    pub message: String,
    /// 1-based, when the source text was given and the state found in it.
    pub line: Option<usize>,
}

/// A parsed state machine (or a `Parallel` branch, or a `Map`'s item
/// processor: each is one).
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    /// Where it goes when done: `None` ends the machine (`End: true`),
    /// and for Choice, Succeed and Fail.
    pub next: Option<String>,
    /// `None`: the field was `null`. Absent fields default to `$`.
    pub input_path: Option<JsonPath>,
    pub output_path: Option<JsonPath>,
    pub result_path: Option<JsonPath>,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(Task),
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<Arc<StateMachine>>,
    },
    Map(Map_),
}

/// A Task's resource and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

/// A Map state's iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Map_ {
    pub processor: Arc<StateMachine>,
    pub items_path: Option<JsonPath>,
    pub item_selector: Option<Value>,
    pub max_concurrency: u32,
    pub tolerated_failure_percentage: Option<f64>,
    pub tolerated_failure_count: Option<u64>,
}

/// A number of seconds, given or read from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Seconds {
    Fixed(u64),
    Path(JsonPath),
}

/// A string, given or read from the input (`Error` / `ErrorPath`).
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    Fixed(String),
    Path(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    Seconds(Seconds),
    Timestamp(String),
    TimestampPath(JsonPath),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<JsonPath>,
}

/// The fields each state type takes, beyond `Type`, `Comment`.
fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "Result",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Branches",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "ItemProcessor",
            "Iterator",
            "ItemsPath",
            "ItemSelector",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentage",
            "ToleratedFailureCount",
            "Label",
            "ItemReader",
            "ResultWriter",
            "ItemBatcher",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCountPath",
        ],
        _ => &[],
    }
}

/// Parses and validates a definition. `source`, when given, is the text
/// it came from: errors then carry the line of the state they concern.
pub fn parse(definition: &Value, source: Option<&str>) -> Result<StateMachine, DefinitionError> {
    let locate = |mut e: DefinitionError| {
        if let (Some(text), Some(state)) = (source, &e.state) {
            e.line = line_of(text, state);
        }
        e
    };
    if let Some(language) = definition.get("QueryLanguage").and_then(Value::as_str)
        && language != "JSONPath"
    {
        return Err(DefinitionError {
            state: None,
            message: format!(
                "QueryLanguage {language:?} is not supported: Strato runs JSONPath definitions (no maintained JSONata crate fits yet); write the states with JSONPath"
            ),
            line: None,
        });
    }
    let machine = parse_machine(definition, "the definition").map_err(locate)?;
    Ok(machine)
}

/// The line of a state's key (`"Name":`) in `text`.
fn line_of(text: &str, state: &str) -> Option<usize> {
    let key = serde_json::to_string(state).ok()?;
    let mut from = 0;
    while let Some(found) = text[from..].find(&key) {
        let at = from + found;
        let after = text[at + key.len()..].trim_start();
        if after.starts_with(':') {
            return Some(text[..at].matches('\n').count() + 1);
        }
        from = at + key.len();
    }
    // YAML writes keys bare.
    text.lines()
        .position(|l| l.trim_start().starts_with(&format!("{state}:")))
        .map(|i| i + 1)
}

fn err(state: Option<&str>, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        state: state.map(str::to_string),
        message: message.into(),
        line: None,
    }
}

fn parse_machine(value: &Value, what: &str) -> Result<StateMachine, DefinitionError> {
    let fields = value
        .as_object()
        .ok_or_else(|| err(None, format!("{what} must be a JSON object")))?;
    for key in fields.keys() {
        if !matches!(
            key.as_str(),
            "StartAt"
                | "States"
                | "Comment"
                | "Version"
                | "TimeoutSeconds"
                | "QueryLanguage"
                | "ProcessorConfig"
        ) {
            return Err(err(None, format!("{what} has an unknown field {key:?}")));
        }
    }
    let start_at = fields
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            err(
                None,
                format!("{what} needs StartAt: the name of its first state"),
            )
        })?
        .to_string();
    let raw_states = fields
        .get("States")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            err(
                None,
                format!("{what} needs States: an object of named states"),
            )
        })?;
    let timeout_seconds = match fields.get("TimeoutSeconds") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| err(None, "TimeoutSeconds must be a positive integer"))?,
        ),
    };
    let mut states = BTreeMap::new();
    for (name, raw) in raw_states {
        if name.is_empty() || name.chars().count() > 80 {
            return Err(err(Some(name), "a state's name must be 1 to 80 characters"));
        }
        states.insert(name.clone(), parse_state(name, raw)?);
    }
    if !states.contains_key(&start_at) {
        return Err(err(
            None,
            format!("StartAt names {start_at:?}, which is not one of its States"),
        ));
    }
    // Every transition names a state of this scope; every state is reached.
    let mut reached = BTreeSet::new();
    let mut pending = vec![start_at.clone()];
    while let Some(name) = pending.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        let state = &states[&name];
        for (field, target) in targets(state) {
            if !states.contains_key(&target) {
                return Err(err(
                    Some(&name),
                    format!(
                        "{field} names {target:?}, which is not a state here (states of a Parallel branch or a Map see only their own)"
                    ),
                ));
            }
            pending.push(target);
        }
    }
    if let Some(unreached) = states.keys().find(|n| !reached.contains(*n)) {
        return Err(err(
            Some(unreached),
            format!(
                "no transition reaches this state from {start_at:?}; remove it or point a Next at it"
            ),
        ));
    }
    Ok(StateMachine {
        start_at,
        states,
        timeout_seconds,
    })
}

fn targets(state: &State) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> =
        state.next.iter().map(|n| ("Next", n.clone())).collect();
    if let Kind::Choice { choices, default } = &state.kind {
        out.extend(choices.iter().map(|(_, n)| ("a choice's Next", n.clone())));
        out.extend(default.iter().map(|n| ("Default", n.clone())));
    }
    out.extend(
        state
            .catch
            .iter()
            .map(|c| ("a Catch's Next", c.next.clone())),
    );
    out
}

fn parse_state(name: &str, raw: &Value) -> Result<State, DefinitionError> {
    let here = Some(name);
    let fields = raw
        .as_object()
        .ok_or_else(|| err(here, "a state must be a JSON object"))?;
    let kind_name = fields.get("Type").and_then(Value::as_str).ok_or_else(|| {
        err(
            here,
            "Type is missing (Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)",
        )
    })?;
    let allowed = allowed(kind_name);
    if allowed.is_empty() {
        return Err(err(
            here,
            format!(
                "Type {kind_name:?} is not a state type (Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map)"
            ),
        ));
    }
    for key in fields.keys() {
        if key != "Type"
            && key != "Comment"
            && key != "QueryLanguage"
            && !allowed.contains(&key.as_str())
        {
            return Err(err(
                here,
                format!("the field {key:?} is not supported by a {kind_name} state"),
            ));
        }
    }
    let string = |field: &str| -> Result<Option<String>, DefinitionError> {
        match fields.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err(here, format!("{field} must be a string"))),
        }
    };
    let path = |field: &str| -> Result<Option<JsonPath>, DefinitionError> {
        match fields.get(field) {
            None => Ok(Some(JsonPath::parse("$").expect("$ parses"))),
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => JsonPath::parse(s)
                .map(Some)
                .map_err(|e| err(here, format!("{field}: {e}"))),
            Some(_) => Err(err(
                here,
                format!("{field} must be a path (a string such as $.result) or null"),
            )),
        }
    };
    let reference = |field: &str| -> Result<Option<JsonPath>, DefinitionError> {
        let parsed = path(field)?;
        if let Some(p) = &parsed
            && !p.is_reference()
        {
            return Err(err(
                here,
                format!(
                    "{field} {:?} must be a reference path (names and indexes only, no wildcards or filters)",
                    p.text()
                ),
            ));
        }
        Ok(parsed)
    };
    let template = |field: &str| -> Result<Option<Value>, DefinitionError> {
        match fields.get(field) {
            None => Ok(None),
            Some(v) => {
                check_template(v).map_err(|e| err(here, format!("{field}: {e}")))?;
                Ok(Some(v.clone()))
            }
        }
    };
    // Next / End.
    let terminal_kind = matches!(kind_name, "Choice" | "Succeed" | "Fail");
    let next = string("Next")?;
    let end = match fields.get("End") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err(here, "End must be true or false")),
    };
    if !terminal_kind {
        match (&next, end) {
            (Some(_), true) => {
                return Err(err(here, "a state has either Next or End: true, not both"));
            }
            (None, false) => {
                return Err(err(
                    here,
                    "Next is missing: name the next state, or set End: true",
                ));
            }
            _ => {}
        }
    }
    let input_path = reference("InputPath")?;
    let output_path = reference("OutputPath")?;
    let result_path = reference("ResultPath")?;
    let parameters = template("Parameters")?;
    let result_selector = template("ResultSelector")?;
    let retry = match fields.get("Retry") {
        None => Vec::new(),
        Some(v) => retry::parse_retry(name, v)?,
    };
    let catch = match fields.get("Catch") {
        None => Vec::new(),
        Some(v) => retry::parse_catch(name, v)?,
    };
    let seconds = |fixed: &str, from: &str| -> Result<Option<Seconds>, DefinitionError> {
        match (fields.get(fixed), fields.get(from)) {
            (Some(_), Some(_)) => Err(err(here, format!("give {fixed} or {from}, not both"))),
            (Some(v), None) => v
                .as_u64()
                .filter(|n| *n > 0 || fixed == "Seconds")
                .map(|n| Some(Seconds::Fixed(n)))
                .ok_or_else(|| err(here, format!("{fixed} must be a positive integer"))),
            (None, Some(v)) => {
                let p = v
                    .as_str()
                    .ok_or_else(|| err(here, format!("{from} must be a path")))?;
                let p = JsonPath::parse(p).map_err(|e| err(here, format!("{from}: {e}")))?;
                Ok(Some(Seconds::Path(p)))
            }
            (None, None) => Ok(None),
        }
    };
    let kind = match kind_name {
        "Pass" => Kind::Pass {
            result: fields.get("Result").cloned(),
        },
        "Task" => {
            let resource = string("Resource")?
                .ok_or_else(|| err(here, "Resource is missing: a Lambda function ARN, a function name, or an arn:aws:states:::service:action"))?;
            let timeout = seconds("TimeoutSeconds", "TimeoutSecondsPath")?;
            let heartbeat = seconds("HeartbeatSeconds", "HeartbeatSecondsPath")?;
            if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
                && h >= t
            {
                return Err(err(
                    here,
                    "HeartbeatSeconds must be smaller than TimeoutSeconds",
                ));
            }
            Kind::Task(Task {
                resource,
                timeout,
                heartbeat,
            })
        }
        "Choice" => {
            let choices = fields
                .get("Choices")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| err(here, "Choices must be a non-empty array of rules"))?;
            let mut parsed = Vec::new();
            for (i, choice) in choices.iter().enumerate() {
                let rule = parse_rule(choice, true)
                    .map_err(|e| err(here, format!("Choices[{i}]: {e}")))?;
                let next = choice
                    .get("Next")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(here, format!("Choices[{i}] needs a Next")))?;
                parsed.push((rule, next.to_string()));
            }
            Kind::Choice {
                choices: parsed,
                default: string("Default")?,
            }
        }
        "Wait" => {
            let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                .into_iter()
                .filter(|f| fields.contains_key(*f))
                .collect();
            if given.len() != 1 {
                return Err(err(
                    here,
                    "a Wait state takes exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
                ));
            }
            Kind::Wait(match given[0] {
                "Timestamp" => {
                    let text = string("Timestamp")?.unwrap_or_default();
                    if timestamp(&text).is_none() {
                        return Err(err(
                            here,
                            format!(
                                "Timestamp {text:?} is not an RFC 3339 time such as 2026-03-14T01:59:00Z"
                            ),
                        ));
                    }
                    WaitFor::Timestamp(text)
                }
                "TimestampPath" => WaitFor::TimestampPath(
                    JsonPath::parse(&string("TimestampPath")?.unwrap_or_default())
                        .map_err(|e| err(here, format!("TimestampPath: {e}")))?,
                ),
                _ => WaitFor::Seconds(seconds("Seconds", "SecondsPath")?.expect("one is given")),
            })
        }
        "Succeed" => Kind::Succeed,
        "Fail" => {
            let text = |fixed: &str, from: &str| -> Result<Option<Text>, DefinitionError> {
                match (string(fixed)?, string(from)?) {
                    (Some(_), Some(_)) => {
                        Err(err(here, format!("give {fixed} or {from}, not both")))
                    }
                    (Some(s), None) => Ok(Some(Text::Fixed(s))),
                    (None, Some(p)) => {
                        if !crate::intrinsics::is_intrinsic(&p) {
                            JsonPath::parse(&p).map_err(|e| err(here, format!("{from}: {e}")))?;
                        }
                        Ok(Some(Text::Path(p)))
                    }
                    (None, None) => Ok(None),
                }
            };
            Kind::Fail {
                error: text("Error", "ErrorPath")?,
                cause: text("Cause", "CausePath")?,
            }
        }
        "Parallel" => {
            let branches = fields
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| err(here, "Branches must be a non-empty array of state machines"))?;
            let parsed = branches
                .iter()
                .enumerate()
                .map(|(i, b)| parse_machine(b, &format!("Branches[{i}]")).map(Arc::new))
                .collect::<Result<_, _>>()?;
            Kind::Parallel { branches: parsed }
        }
        "Map" => Kind::Map(parse_map(name, fields, &reference)?),
        _ => unreachable!("allowed() knows only these"),
    };
    Ok(State {
        name: name.to_string(),
        kind,
        next,
        input_path,
        output_path,
        result_path,
        parameters,
        result_selector,
        retry,
        catch,
    })
}

fn parse_map(
    name: &str,
    fields: &Map<String, Value>,
    reference: &dyn Fn(&str) -> Result<Option<JsonPath>, DefinitionError>,
) -> Result<Map_, DefinitionError> {
    let here = Some(name);
    for distributed in ["ItemReader", "ResultWriter", "ItemBatcher"] {
        if fields.contains_key(distributed) {
            return Err(err(
                here,
                format!(
                    "{distributed} (a distributed Map) is not supported: use an inline Map over an array in the input"
                ),
            ));
        }
    }
    let processor = fields
        .get("ItemProcessor")
        .or_else(|| fields.get("Iterator"))
        .ok_or_else(|| {
            err(
                here,
                "ItemProcessor is missing: the state machine run for each item",
            )
        })?;
    if let Some(mode) = processor
        .pointer("/ProcessorConfig/Mode")
        .and_then(Value::as_str)
        && mode != "INLINE"
    {
        return Err(err(
            here,
            format!("ProcessorConfig Mode {mode:?} is not supported: use INLINE"),
        ));
    }
    let processor = parse_machine(processor, "ItemProcessor")?;
    let item_selector = match (fields.get("ItemSelector"), fields.get("Parameters")) {
        (Some(_), Some(_)) => return Err(err(here, "give ItemSelector or Parameters, not both")),
        (Some(v), None) | (None, Some(v)) => {
            check_template(v).map_err(|e| err(here, format!("ItemSelector: {e}")))?;
            Some(v.clone())
        }
        (None, None) => None,
    };
    let max_concurrency = match fields.get("MaxConcurrency") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                err(
                    here,
                    "MaxConcurrency must be a non-negative integer (0: no limit)",
                )
            })?,
    };
    if fields.contains_key("MaxConcurrencyPath")
        || fields.contains_key("ToleratedFailurePercentagePath")
        || fields.contains_key("ToleratedFailureCountPath")
    {
        return Err(err(
            here,
            "the ...Path forms of MaxConcurrency and the tolerated failures are not supported yet: give the numbers",
        ));
    }
    let tolerated_failure_percentage = match fields.get("ToleratedFailurePercentage") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| {
                    err(
                        here,
                        "ToleratedFailurePercentage must be a number from 0 to 100",
                    )
                })?,
        ),
    };
    let tolerated_failure_count = match fields.get("ToleratedFailureCount") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| err(here, "ToleratedFailureCount must be a non-negative integer"))?,
        ),
    };
    Ok(Map_ {
        processor: Arc::new(processor),
        items_path: reference("ItemsPath")?,
        item_selector,
        max_concurrency,
        tolerated_failure_percentage,
        tolerated_failure_count,
    })
}

mod retry;
#[cfg(test)]
mod tests;
