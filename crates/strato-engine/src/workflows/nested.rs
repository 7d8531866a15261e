//! `arn:aws:states:::states:startExecution`: an execution of another
//! workflow (of any app: `StateMachineArn` is an ARN naming `APP.NAME`,
//! or a bare name of the same app), started in the transaction of the
//! step that starts it. Its `Name` defaults to one derived from the
//! starting step's idempotency key, so a repeated step never starts two.
//! With `.sync` (or `.sync:2`) the child's `parent` is the parked step,
//! which the child's end resumes in its own last transaction.

use super::resources::{Started, TaskSite};
use super::{WorkflowError, execution_arn, state_machine_arn};
use crate::platform::Platform;
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::Arc;
use strato_store::{Effect, Execution, ExecutionStatus};
use strato_workflow::StatesError;
use strato_workflow::error::names;

pub(super) async fn start(
    platform: &Arc<Platform>,
    site: &TaskSite<'_>,
    parameters: &Value,
    sync: u8,
    wait_for_token: bool,
) -> Started {
    let Some(arn) = parameters.get("StateMachineArn").and_then(Value::as_str) else {
        return Started::done(Err(StatesError::runtime(
            "states:startExecution needs Parameters.StateMachineArn (a workflow's ARN or name)",
        )));
    };
    let (app, workflow) = workflow_of_arn(arn, &site.execution.app);
    let input = match parameters.get("Input") {
        None => json!({}),
        // AWS takes the input as JSON text or as JSON.
        Some(Value::String(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        Some(v) => v.clone(),
    };
    let name = match parameters.get("Name").and_then(Value::as_str) {
        Some(name) => name.to_string(),
        None => hex::encode(&sha2::Sha256::digest(site.key.as_bytes())[..16]),
    };
    let parent = (sync > 0).then(|| site.wait_id.to_string());
    match platform
        .new_execution(&app, &workflow, Some(name), input, parent, false)
        .await
    {
        Ok(new) => {
            let answer = json!({
                "ExecutionArn": execution_arn(&app, &workflow, &new.execution.name),
                "StartDate": new.execution.started_ms,
            });
            let effect = Effect::StartExecution(Box::new(new));
            if sync > 0 || wait_for_token {
                Started::Waiting(vec![effect])
            } else {
                Started::Done {
                    outcome: Ok(answer),
                    effects: vec![effect],
                }
            }
        }
        Err(e) => {
            let error = match e {
                WorkflowError::AlreadyExists(_) => "StepFunctions.ExecutionAlreadyExistsException",
                WorkflowError::NoSuchWorkflow { .. } => {
                    "StepFunctions.StateMachineDoesNotExistException"
                }
                WorkflowError::Invalid(_) => "StepFunctions.InvalidExecutionInputException",
                _ => names::RUNTIME,
            };
            Started::done(Err(StatesError::new(error, e.to_string())))
        }
    }
}

/// (app, workflow) of `arn:aws:states:REGION:ACCOUNT:stateMachine:APP.NAME`,
/// or of a bare `NAME` (the calling app's).
fn workflow_of_arn(arn: &str, own_app: &str) -> (String, String) {
    let name = arn.rsplit_once(":stateMachine:").map_or(arn, |(_, n)| n);
    match name.split_once('.') {
        Some((app, workflow)) => (app.to_string(), workflow.to_string()),
        None => (own_app.to_string(), name.to_string()),
    }
}

/// An ended execution as `DescribeExecution` answers (output as JSON).
fn describe(execution: &Execution, status: ExecutionStatus, output: Option<&Value>) -> Value {
    let e = execution;
    let mut d = json!({
        "ExecutionArn": execution_arn(&e.app, &e.workflow, &e.name),
        "StateMachineArn": state_machine_arn(&e.app, &e.workflow),
        "Name": e.name,
        "Status": status.as_str(),
        "StartDate": e.started_ms,
        "StopDate": strato_core::time::now_ms(),
        "Input": strato_workflow::payload::compact(&e.input),
        "InputDetails": {"Included": true},
    });
    if let Some(output) = output {
        d["Output"] = output.clone();
        d["OutputDetails"] = json!({"Included": true});
    }
    d
}

/// What a child's end tells its parent's waiting step.
pub(super) fn outcome(
    execution: &Execution,
    status: ExecutionStatus,
    output: Option<&Value>,
    error: Option<&StatesError>,
) -> Value {
    let mut d = describe(execution, status, output);
    match error {
        None => json!({ "ok": d }),
        Some(e) => {
            d["Error"] = json!(e.error);
            d["Cause"] = json!(e.cause);
            json!({ "error": names::TASK_FAILED, "cause": d.to_string() })
        }
    }
}

/// `.sync` (not `:2`) gives the child's output as JSON text, as AWS does.
pub(super) fn output_as_text(outcome: Result<Value, StatesError>) -> Result<Value, StatesError> {
    outcome.map(|mut d| {
        if let Some(output) = d.get("Output").cloned() {
            d["Output"] = json!(strato_workflow::payload::compact(&output));
        }
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine_arns_name_apps_and_workflows() {
        assert_eq!(
            workflow_of_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:shop.refund",
                "x"
            ),
            ("shop".into(), "refund".into())
        );
        assert_eq!(
            workflow_of_arn("refund", "shop"),
            ("shop".into(), "refund".into())
        );
    }
}
