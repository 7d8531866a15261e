//! `arn:aws:states:::ecs:runTask`: a run of one of the app's container
//! tasks, queued with the step that starts it. `TaskDefinition` names the
//! task (`NAME`, `NAME:REV` or a task-definition ARN: the family is the
//! task's name); `Overrides.ContainerOverrides` give `Command` and
//! `Environment` as ECS takes them. With `.sync` the step waits parked and
//! the run's end resumes it in the run's record transaction: exit 0 is the
//! state's output (the task described as ECS's `DescribeTasks` does), any
//! other end is `States.TaskFailed` with that description as the cause.

use super::resources::{Started, TaskSite};
use super::{ACCOUNT, REGION};
use crate::platform::Platform;
use crate::tasks::{TaskError, TaskOverrides};
use serde_json::{Value, json};
use std::sync::Arc;
use strato_core::{RunRecord, RunStatus};
use strato_store::Effect;
use strato_workflow::StatesError;
use strato_workflow::error::names;

pub(super) async fn run_task(
    platform: &Arc<Platform>,
    site: &TaskSite<'_>,
    parameters: &Value,
    sync: bool,
    wait_for_token: bool,
) -> Started {
    let Some(task) = parameters
        .get("TaskDefinition")
        .and_then(Value::as_str)
        .map(task_of_definition)
    else {
        return Started::done(Err(StatesError::runtime(
            "ecs:runTask needs Parameters.TaskDefinition (a task's name or task-definition ARN)",
        )));
    };
    let overrides = match overrides_of(parameters) {
        Ok(o) => o,
        Err(e) => return Started::done(Err(e)),
    };
    let waiting = sync.then(|| site.wait_id.to_string());
    let app = &site.execution.app;
    match platform
        .workflow_task_run(app, &task, overrides, site.key.to_string(), waiting)
        .await
    {
        Ok(run) => {
            let pending = describe(&run.record);
            let effect = Effect::QueueTaskRun(run);
            if sync || wait_for_token {
                Started::Waiting(vec![effect])
            } else {
                Started::Done {
                    outcome: Ok(json!({"Tasks": [pending], "Failures": []})),
                    effects: vec![effect],
                }
            }
        }
        Err(e) => {
            let error = match e {
                TaskError::NoSuchTask { .. } => "ECS.ClientException",
                TaskError::Storage(_) => "ECS.ServerException",
                _ => "ECS.InvalidParameterException",
            };
            Started::done(Err(StatesError::new(error, e.to_string())))
        }
    }
}

/// The task a `TaskDefinition` names: its family.
fn task_of_definition(text: &str) -> String {
    let family = text
        .rsplit_once("task-definition/")
        .map_or(text, |(_, f)| f);
    family.split(':').next().unwrap_or(family).to_string()
}

/// ECS's container overrides as a task run's.
fn overrides_of(parameters: &Value) -> Result<TaskOverrides, StatesError> {
    let mut overrides = TaskOverrides::default();
    let containers = parameters
        .pointer("/Overrides/ContainerOverrides")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for container in containers {
        if let Some(command) = container.get("Command") {
            let command: Vec<String> = serde_json::from_value(command.clone()).map_err(|_| {
                StatesError::runtime("ContainerOverrides Command must be an array of strings")
            })?;
            overrides.command = Some(command);
        }
        for pair in container
            .get("Environment")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(value)) = (
                pair.get("Name").and_then(Value::as_str),
                pair.get("Value").and_then(Value::as_str),
            ) else {
                return Err(StatesError::runtime(
                    "ContainerOverrides Environment entries are {\"Name\": ..., \"Value\": ...} with string values",
                ));
            };
            overrides.env.insert(name.to_string(), value.to_string());
        }
    }
    Ok(overrides)
}

/// A task run as ECS's `DescribeTasks` describes a task.
fn describe(record: &RunRecord) -> Value {
    let status = match record.status {
        RunStatus::Queued => "PROVISIONING",
        RunStatus::Running => "RUNNING",
        _ => "STOPPED",
    };
    let mut container = json!({"Name": record.function, "LastStatus": status});
    let mut task = json!({
        "TaskArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{}/{}", record.app, record.id),
        "TaskDefinitionArn": format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{}:{}",
            record.function, record.revision
        ),
        "ClusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{}", record.app),
        "Group": format!("family:{}", record.function),
        "LaunchType": "FARGATE",
        "LastStatus": status,
        "DesiredStatus": if status == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "CreatedAt": record.started_at_ms,
    });
    if status == "STOPPED" {
        if let Some(code) = record.exit_code {
            container["ExitCode"] = json!(code);
        }
        task["StoppedAt"] = json!(record.started_at_ms + record.duration_us / 1000);
        task["StopCode"] = json!(if record.exit_code.is_some() {
            "EssentialContainerExited"
        } else {
            "TaskFailedToStart"
        });
        if let Some(error) = &record.error {
            task["StoppedReason"] = json!(error);
            container["Reason"] = json!(error);
        }
    }
    task["Containers"] = json!([container]);
    task
}

/// What a task run's end tells the workflow step waiting for it.
pub(crate) fn task_run_outcome(record: &RunRecord) -> Value {
    let task = describe(record);
    if record.status == RunStatus::Succeeded {
        json!({ "ok": task })
    } else {
        json!({ "error": names::TASK_FAILED, "cause": task.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definitions_name_tasks_by_family() {
        assert_eq!(task_of_definition("resize"), "resize");
        assert_eq!(task_of_definition("resize:3"), "resize");
        assert_eq!(
            task_of_definition("arn:aws:ecs:eu-west-1:123456789012:task-definition/resize:7"),
            "resize"
        );
    }

    #[test]
    fn container_overrides_become_the_runs() {
        let o = overrides_of(&json!({"Overrides": {"ContainerOverrides": [{
            "Name": "main", "Command": ["sh", "-c", "exit 3"],
            "Environment": [{"Name": "SIZE", "Value": "64"}]}]}}))
        .unwrap();
        assert_eq!(
            o.command,
            Some(vec!["sh".into(), "-c".into(), "exit 3".into()])
        );
        assert_eq!(o.env.get("SIZE").map(String::as_str), Some("64"));
        assert!(
            overrides_of(&json!({"Overrides": {"ContainerOverrides": [{"Environment": [{"Name": "X", "Value": 1}]}]}}))
                .is_err()
        );
    }
}
