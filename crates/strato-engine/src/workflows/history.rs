//! History events as AWS reports them: the event type and its details
//! object (`stateEnteredEventDetails`, `taskSucceededEventDetails`, ...),
//! payloads as JSON text.

use serde_json::{Value, json};
use strato_store::NewHistoryEvent;
use strato_workflow::StatesError;

fn text(value: &Value) -> String {
    strato_workflow::payload::compact(value)
}

fn event(kind: impl Into<String>, ts_ms: i64, details: Value) -> NewHistoryEvent {
    NewHistoryEvent {
        ts_ms,
        kind: kind.into(),
        details,
    }
}

pub(crate) fn execution_started(ts_ms: i64, input: &Value, state_machine: &str) -> NewHistoryEvent {
    event(
        "ExecutionStarted",
        ts_ms,
        json!({"input": text(input), "inputDetails": {"truncated": false}, "roleArn": "arn:aws:iam::000000000000:role/strato", "stateMachineArn": state_machine}),
    )
}

pub(crate) fn execution_succeeded(ts_ms: i64, output: &Value) -> NewHistoryEvent {
    event(
        "ExecutionSucceeded",
        ts_ms,
        json!({"output": text(output), "outputDetails": {"truncated": false}}),
    )
}

pub(crate) fn execution_failed(ts_ms: i64, error: &StatesError) -> NewHistoryEvent {
    event(
        "ExecutionFailed",
        ts_ms,
        json!({"error": error.error, "cause": error.cause}),
    )
}

pub(crate) fn execution_timed_out(ts_ms: i64, error: &StatesError) -> NewHistoryEvent {
    event(
        "ExecutionTimedOut",
        ts_ms,
        json!({"error": error.error, "cause": error.cause}),
    )
}

pub(crate) fn execution_aborted(ts_ms: i64, error: &str, cause: &str) -> NewHistoryEvent {
    event(
        "ExecutionAborted",
        ts_ms,
        json!({"error": error, "cause": cause}),
    )
}

/// `PassStateEntered`, `TaskStateEntered`, ... (`kind` is the state's Type).
pub(crate) fn state_entered(ts_ms: i64, kind: &str, name: &str, input: &Value) -> NewHistoryEvent {
    event(
        format!("{kind}StateEntered"),
        ts_ms,
        json!({"name": name, "input": text(input), "inputDetails": {"truncated": false}}),
    )
}

pub(crate) fn state_exited(ts_ms: i64, kind: &str, name: &str, output: &Value) -> NewHistoryEvent {
    event(
        format!("{kind}StateExited"),
        ts_ms,
        json!({"name": name, "output": text(output), "outputDetails": {"truncated": false}}),
    )
}

pub(crate) fn task_scheduled(
    ts_ms: i64,
    resource: &str,
    parameters: &Value,
    timeout: Option<u64>,
    heartbeat: Option<u64>,
) -> NewHistoryEvent {
    let (resource_type, name) = resource_parts(resource);
    let mut details = json!({
        "resourceType": resource_type, "resource": name, "region": crate::workflows::REGION,
        "parameters": text(parameters),
    });
    if let Some(t) = timeout {
        details["timeoutInSeconds"] = json!(t);
    }
    if let Some(h) = heartbeat {
        details["heartbeatInSeconds"] = json!(h);
    }
    event("TaskScheduled", ts_ms, details)
}

pub(crate) fn task_started(ts_ms: i64, resource: &str) -> NewHistoryEvent {
    let (resource_type, name) = resource_parts(resource);
    event(
        "TaskStarted",
        ts_ms,
        json!({"resourceType": resource_type, "resource": name}),
    )
}

pub(crate) fn task_ended(
    ts_ms: i64,
    resource: &str,
    outcome: &Result<Value, StatesError>,
) -> NewHistoryEvent {
    let (resource_type, name) = resource_parts(resource);
    match outcome {
        Ok(output) => event(
            "TaskSucceeded",
            ts_ms,
            json!({"resourceType": resource_type, "resource": name, "output": text(output), "outputDetails": {"truncated": false}}),
        ),
        Err(e)
            if e.error == strato_workflow::error::names::TIMEOUT
                || e.error == strato_workflow::error::names::HEARTBEAT_TIMEOUT =>
        {
            event(
                "TaskTimedOut",
                ts_ms,
                json!({"resourceType": resource_type, "resource": name, "error": e.error, "cause": e.cause}),
            )
        }
        Err(e) => event(
            "TaskFailed",
            ts_ms,
            json!({"resourceType": resource_type, "resource": name, "error": e.error, "cause": e.cause}),
        ),
    }
}

/// `ParallelStateStarted`, `MapStateSucceeded`, ...: the events of a
/// Parallel or Map state's fan-out, which carry no details.
pub(crate) fn fan_out_event(ts_ms: i64, kind: &str) -> NewHistoryEvent {
    event(kind, ts_ms, Value::Null)
}

pub(crate) fn map_started(ts_ms: i64, length: usize) -> NewHistoryEvent {
    event("MapStateStarted", ts_ms, json!({"length": length}))
}

/// `MapIterationStarted`, `MapIterationSucceeded`, `MapIterationFailed`.
pub(crate) fn map_iteration(ts_ms: i64, kind: &str, state: &str, index: u32) -> NewHistoryEvent {
    event(kind, ts_ms, json!({"name": state, "index": index}))
}

/// AWS splits a resource into its type and name: `lambda` + `invoke` for
/// `arn:aws:states:::lambda:invoke`, `lambda` + the ARN for a function.
fn resource_parts(resource: &str) -> (&str, &str) {
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
        return rest.split_once(':').unwrap_or((rest, ""));
    }
    ("lambda", resource)
}

/// The details key AWS gives each event type's details
/// (`TaskStateEntered` → `stateEnteredEventDetails`).
pub fn details_key(kind: &str) -> String {
    let base = if let Some(stripped) = kind.strip_suffix("StateEntered") {
        let _ = stripped;
        "StateEntered".to_string()
    } else if kind.ends_with("StateExited") {
        "StateExited".to_string()
    } else {
        kind.to_string()
    };
    let mut chars = base.chars();
    let first = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_default();
    format!("{first}{}EventDetails", chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keys_follow_aws() {
        assert_eq!(details_key("TaskStateEntered"), "stateEnteredEventDetails");
        assert_eq!(details_key("ChoiceStateExited"), "stateExitedEventDetails");
        assert_eq!(
            details_key("ExecutionStarted"),
            "executionStartedEventDetails"
        );
        assert_eq!(details_key("TaskSucceeded"), "taskSucceededEventDetails");
    }
}
