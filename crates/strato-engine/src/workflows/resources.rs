//! Task resources: what a Task state's `Resource` names, and doing it.
//!
//! - a function of the workflow's app: its name (`inc`), a Lambda ARN
//!   (`arn:aws:lambda:REGION:ACCOUNT:function:inc`; region and account
//!   are ignored), or `arn:aws:states:::lambda:invoke` with
//!   `FunctionName` and `Payload` (the result then shaped as AWS's
//!   Invoke answer: `Payload`, `StatusCode`, ...);
//! - `arn:aws:states:::sqs:sendMessage` with `QueueUrl` (a queue of the
//!   app, by name or URL) and `MessageBody`;
//! - `arn:aws:states:::ecs:runTask` with `TaskDefinition` (a task of the
//!   app, by name or task-definition ARN) and ECS's `Overrides`; with
//!   `.sync` the state waits for the container's exit (see `ecs`);
//! - `arn:aws:states:::states:startExecution` with `StateMachineArn` (a
//!   workflow, by name or ARN), `Input` and `Name`; with `.sync` (or
//!   `.sync:2`, output as JSON) the state waits for its end;
//! - any of them with `.waitForTaskToken`: the work is started with the
//!   step's token in `$$.Task.Token` and the state waits for
//!   `SendTaskSuccess` or `SendTaskFailure`.
//!
//! A function called by a Task state sees the same CloudEvents `ce-id`
//! (`EXECUTION:STEP`, the step that entered the state) on every attempt
//! and retry of that entry: its idempotency key.

use crate::platform::Platform;
use crate::util::CloudEvent;
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use strato_core::Trigger;
use strato_store::{Effect, NewMessage};
use strato_workflow::StatesError;
use strato_workflow::error::names;

/// A parsed Task resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resource {
    /// A function called with the state's parameters as its event.
    Function { name: String },
    /// `arn:aws:states:::lambda:invoke`.
    LambdaInvoke { wait_for_token: bool },
    /// `arn:aws:states:::sqs:sendMessage`.
    SendMessage { wait_for_token: bool },
    /// `arn:aws:states:::ecs:runTask`, `.sync` waiting for the exit.
    RunTask { sync: bool, wait_for_token: bool },
    /// `arn:aws:states:::states:startExecution`; `sync`: 1 for `.sync`
    /// (output as text), 2 for `.sync:2` (output as JSON).
    StartExecution { sync: u8, wait_for_token: bool },
}

/// Where a task runs: the execution's app, its idempotency key and the
/// id of the step that would wait for an answer.
pub(crate) struct TaskSite<'a> {
    pub execution: &'a strato_store::Execution,
    pub key: &'a str,
    pub wait_id: &'a str,
}

impl Resource {
    pub(crate) fn parse(resource: &str) -> Result<Resource, String> {
        if let Some(service) = resource.strip_prefix("arn:aws:states:::") {
            let (action, wait_for_token) = match service.strip_suffix(".waitForTaskToken") {
                Some(action) => (action, true),
                None => (service, false),
            };
            let (action, sync) = if let Some(a) = action.strip_suffix(".sync:2") {
                (a, 2)
            } else if let Some(a) = action.strip_suffix(".sync") {
                (a, 1)
            } else {
                (action, 0)
            };
            return match (action, sync) {
                _ if sync > 0 && wait_for_token => Err(format!(
                    "{resource:?}: .sync and .waitForTaskToken do not go together"
                )),
                ("lambda:invoke", 0) => Ok(Resource::LambdaInvoke { wait_for_token }),
                ("sqs:sendMessage", 0) => Ok(Resource::SendMessage { wait_for_token }),
                ("ecs:runTask", 0 | 1) => Ok(Resource::RunTask {
                    sync: sync == 1,
                    wait_for_token,
                }),
                ("states:startExecution", _) => Ok(Resource::StartExecution {
                    sync,
                    wait_for_token,
                }),
                (other, _) => Err(format!(
                    "the resource {resource} is not supported: use a function (its name or Lambda ARN), arn:aws:states:::lambda:invoke, sqs:sendMessage, ecs:runTask(.sync) or states:startExecution(.sync) (any with .waitForTaskToken); {other} is not one of them"
                )),
            };
        }
        if resource.starts_with("arn:") {
            return function_of_arn(resource)
                .map(|name| Resource::Function { name })
                .ok_or_else(|| format!("{resource:?} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"));
        }
        Ok(Resource::Function {
            name: resource.to_string(),
        })
    }

    /// The function it calls, when its name is fixed by the definition.
    pub(crate) fn fixed_function(&self) -> Option<&str> {
        match self {
            Resource::Function { name } => Some(name),
            _ => None,
        }
    }
}

/// `NAME` of `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`,
/// or a bare name.
pub(crate) fn function_of_arn(text: &str) -> Option<String> {
    if !text.starts_with("arn:") {
        return Some(text.to_string());
    }
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => Some(name.to_string()),
        _ => None,
    }
}

/// What starting a task gave: its outcome now (with effects to commit
/// with the step, such as a message sent), or effects to commit with the
/// step that then waits for the token's answer.
pub(crate) enum Started {
    Done {
        outcome: Result<Value, StatesError>,
        effects: Vec<Effect>,
    },
    Waiting(Vec<Effect>),
}

impl Started {
    pub(super) fn done(outcome: Result<Value, StatesError>) -> Started {
        Started::Done {
            outcome,
            effects: Vec::new(),
        }
    }
}

/// Starts (and for a plain call, finishes) a Task state's work.
pub(crate) async fn start(
    platform: &Arc<Platform>,
    site: &TaskSite<'_>,
    resource: &Resource,
    parameters: &Value,
    timeout_seconds: Option<u64>,
) -> Started {
    let app = site.execution.app.as_str();
    match resource {
        Resource::Function { name } => Started::done(
            call(
                platform,
                site,
                name,
                parameters.clone(),
                timeout_seconds,
                false,
            )
            .await,
        ),
        Resource::LambdaInvoke { wait_for_token } => {
            let Some(name) = parameters
                .get("FunctionName")
                .and_then(Value::as_str)
                .and_then(function_of_arn)
            else {
                return Started::done(Err(StatesError::runtime(
                    "arn:aws:states:::lambda:invoke needs Parameters.FunctionName (a function's name or ARN)",
                )));
            };
            let payload = parameters.get("Payload").cloned().unwrap_or(json!({}));
            if *wait_for_token {
                return match queue_call(platform, site, &name, &payload) {
                    Ok(effect) => Started::Waiting(vec![effect]),
                    Err(e) => Started::done(Err(e)),
                };
            }
            Started::done(call(platform, site, &name, payload, timeout_seconds, true).await)
        }
        Resource::SendMessage { wait_for_token } => match send_message(platform, app, parameters) {
            Ok((effect, _)) if *wait_for_token => Started::Waiting(vec![effect]),
            // Sent with the step that records SQS's answer.
            Ok((effect, answer)) => Started::Done {
                outcome: Ok(answer),
                effects: vec![effect],
            },
            Err(e) => Started::done(Err(e)),
        },
        Resource::RunTask {
            sync,
            wait_for_token,
        } => super::ecs::run_task(platform, site, parameters, *sync, *wait_for_token).await,
        Resource::StartExecution {
            sync,
            wait_for_token,
        } => super::nested::start(platform, site, parameters, *sync, *wait_for_token).await,
    }
}

/// The envelope a workflow's function call carries: its idempotency key
/// as the CloudEvents id, the workflow as the source, the execution as
/// the subject.
fn envelope(site: &TaskSite<'_>) -> CloudEvent {
    let e = site.execution;
    CloudEvent {
        id: site.key.to_string(),
        kind: crate::event_invoke::INVOKE_EVENT_TYPE.into(),
        source: format!("strato:workflow:{}.{}", e.app, e.workflow),
        time_ms: crate::util::now_ms(),
        subject: Some(e.id.clone()),
    }
}

/// Calls a function of the execution's app and waits for its answer.
async fn call(
    platform: &Arc<Platform>,
    site: &TaskSite<'_>,
    name: &str,
    payload: Value,
    timeout_seconds: Option<u64>,
    sdk_shape: bool,
) -> Result<Value, StatesError> {
    let app = site.execution.app.as_str();
    let event = Bytes::from(payload.to_string());
    let target = format!("{app}/{name}");
    let call = platform.invoke_event_as(
        &target,
        event,
        false,
        Some(app),
        Trigger::Workflow,
        Some(envelope(site)),
    );
    let answer = match timeout_seconds {
        Some(s) => match tokio::time::timeout(std::time::Duration::from_secs(s), call).await {
            Ok(answer) => answer,
            Err(_) => {
                return Err(StatesError::new(
                    names::TIMEOUT,
                    format!("the function {name} did not answer within {s} s"),
                ));
            }
        },
        None => call.await,
    };
    let answer = answer.map_err(|e| match e {
        crate::InvokeError::Throttled => StatesError::new(
            "Lambda.TooManyRequestsException",
            format!("function {name} is at its concurrency limit"),
        ),
        other => StatesError::new("Lambda.ResourceNotFoundException", other.to_string()),
    })?;
    let text = String::from_utf8_lossy(&answer.body).to_string();
    if answer.function_error {
        let error = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("errorType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| names::TASK_FAILED.to_string());
        return Err(StatesError::new(error, text));
    }
    let payload: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if !sdk_shape {
        return Ok(payload);
    }
    Ok(json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {"HttpStatusCode": 200},
        "SdkResponseMetadata": {"RequestId": answer.run_id},
        "StatusCode": 200,
    }))
}

/// A function call queued (as durable async work) with the step.
fn queue_call(
    platform: &Arc<Platform>,
    site: &TaskSite<'_>,
    name: &str,
    payload: &Value,
) -> Result<Effect, StatesError> {
    let app = site.execution.app.as_str();
    let live = platform.live();
    let function = live.function(app, name).ok_or_else(|| {
        StatesError::new(
            "Lambda.ResourceNotFoundException",
            format!("app {app} has no function {name}"),
        )
    })?;
    Ok(Effect::Enqueue(platform.function_invocation(
        function,
        Bytes::from(payload.to_string()),
        envelope(site),
    )))
}

/// A message for a queue of `app`, and SQS's answer to sending it.
fn send_message(
    platform: &Arc<Platform>,
    app: &str,
    parameters: &Value,
) -> Result<(Effect, Value), StatesError> {
    let url = parameters
        .get("QueueUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| StatesError::runtime("sqs:sendMessage needs Parameters.QueueUrl"))?;
    let queue = url.rsplit('/').next().unwrap_or(url).to_string();
    let body = match parameters.get("MessageBody") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => {
            return Err(StatesError::runtime(
                "sqs:sendMessage needs Parameters.MessageBody",
            ));
        }
    };
    let live = platform.live();
    let spec = live.queue(app, &queue).ok_or_else(|| {
        StatesError::new(
            "SQS.QueueDoesNotExistException",
            format!("app {app} has no queue {queue}"),
        )
    })?;
    let now = crate::util::now_ms();
    let id = platform.runs.next_id('m');
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(body.as_bytes()));
    let effect = Effect::SendMessage {
        app: app.to_string(),
        queue: queue.clone(),
        message: NewMessage {
            id: id.clone(),
            body: body.into_bytes(),
            visible_ms: now + spec.delay_ms as i64,
            expires_ms: now + spec.retention_ms as i64,
            traceparent: crate::trace::current_cause().map(|c| c.traceparent()),
        },
    };
    Ok((effect, json!({"MessageId": id, "MD5OfMessageBody": md5})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_map_to_strato_names() {
        assert_eq!(
            Resource::parse("arn:aws:lambda:us-east-1:123456789012:function:inc").unwrap(),
            Resource::Function { name: "inc".into() }
        );
        assert_eq!(
            Resource::parse("arn:aws:lambda:eu-west-1:1:function:inc:$LATEST").unwrap(),
            Resource::Function { name: "inc".into() }
        );
        assert_eq!(
            Resource::parse("inc").unwrap(),
            Resource::Function { name: "inc".into() }
        );
        assert_eq!(
            Resource::parse("arn:aws:states:::lambda:invoke.waitForTaskToken").unwrap(),
            Resource::LambdaInvoke {
                wait_for_token: true
            }
        );
        assert_eq!(
            Resource::parse("arn:aws:states:::ecs:runTask.sync").unwrap(),
            Resource::RunTask {
                sync: true,
                wait_for_token: false
            }
        );
        assert_eq!(
            Resource::parse("arn:aws:states:::states:startExecution.sync:2").unwrap(),
            Resource::StartExecution {
                sync: 2,
                wait_for_token: false
            }
        );
        assert!(Resource::parse("arn:aws:states:::ecs:runTask.sync.waitForTaskToken").is_err());
        assert!(Resource::parse("arn:aws:states:::lambda:invoke.sync").is_err());
        assert!(Resource::parse("arn:aws:states:::dynamodb:putItem").is_err());
        assert!(Resource::parse("arn:aws:s3:::bucket").is_err());
    }
}
