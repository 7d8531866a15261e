//! Task resources: what a Task state's `Resource` names, and doing it.
//!
//! - a function of the workflow's app: its name (`inc`), a Lambda ARN
//!   (`arn:aws:lambda:REGION:ACCOUNT:function:inc`; region and account
//!   are ignored), or `arn:aws:states:::lambda:invoke` with
//!   `FunctionName` and `Payload` (the result then shaped as AWS's
//!   Invoke answer: `Payload`, `StatusCode`, ...);
//! - `arn:aws:states:::sqs:sendMessage` with `QueueUrl` (a queue of the
//!   app, by name or URL) and `MessageBody`;
//! - either with `.waitForTaskToken`: the work is started with the step's
//!   token in `$$.Task.Token` and the state waits for `SendTaskSuccess`
//!   or `SendTaskFailure`.

use crate::platform::Platform;
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
}

impl Resource {
    pub(crate) fn parse(resource: &str) -> Result<Resource, String> {
        if let Some(service) = resource.strip_prefix("arn:aws:states:::") {
            let (action, wait_for_token) = match service.strip_suffix(".waitForTaskToken") {
                Some(action) => (action, true),
                None => (service, false),
            };
            return match action {
                "lambda:invoke" => Ok(Resource::LambdaInvoke { wait_for_token }),
                "sqs:sendMessage" => Ok(Resource::SendMessage { wait_for_token }),
                other => Err(format!(
                    "the resource arn:aws:states:::{other} is not supported (yet): use a function (its name or Lambda ARN), arn:aws:states:::lambda:invoke or arn:aws:states:::sqs:sendMessage"
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
    fn done(outcome: Result<Value, StatesError>) -> Started {
        Started::Done {
            outcome,
            effects: Vec::new(),
        }
    }
}

/// Starts (and for a plain call, finishes) a Task state's work.
pub(crate) async fn start(
    platform: &Arc<Platform>,
    app: &str,
    resource: &Resource,
    parameters: &Value,
    timeout_seconds: Option<u64>,
) -> Started {
    match resource {
        Resource::Function { name } => Started::done(
            call(
                platform,
                app,
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
                return match queue_call(platform, app, &name, &payload) {
                    Ok(effect) => Started::Waiting(vec![effect]),
                    Err(e) => Started::done(Err(e)),
                };
            }
            Started::done(call(platform, app, &name, payload, timeout_seconds, true).await)
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
    }
}

/// Calls a function of `app` and waits for its answer.
async fn call(
    platform: &Arc<Platform>,
    app: &str,
    name: &str,
    payload: Value,
    timeout_seconds: Option<u64>,
    sdk_shape: bool,
) -> Result<Value, StatesError> {
    let event = Bytes::from(payload.to_string());
    let target = format!("{app}/{name}");
    let call = platform.invoke_event_as(&target, event, false, Some(app), Trigger::Workflow);
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
    app: &str,
    name: &str,
    payload: &Value,
) -> Result<Effect, StatesError> {
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
        assert!(Resource::parse("arn:aws:states:::dynamodb:putItem").is_err());
        assert!(Resource::parse("arn:aws:s3:::bucket").is_err());
    }
}
