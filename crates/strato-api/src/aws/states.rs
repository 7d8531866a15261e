//! The Step Functions API (AWS JSON 1.0: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.OPERATION`), so `aws stepfunctions`
//! and boto3's `stepfunctions` client work given only an endpoint URL:
//! `StartExecution`, `StartSyncExecution`, `DescribeExecution`,
//! `ListExecutions`, `GetExecutionHistory`, `StopExecution`,
//! `ListStateMachines`, `DescribeStateMachine`, `SendTaskSuccess`,
//! `SendTaskFailure`, `SendTaskHeartbeat`.
//!
//! Names: a workflow `APP/WORKFLOW` is the state machine `APP.WORKFLOW`
//! (`arn:aws:states:REGION:000000000000:stateMachine:APP.WORKFLOW`), its
//! executions `arn:aws:states:REGION:000000000000:execution:APP.WORKFLOW:NAME`.
//! State machines are deployed from `strato.toml`; operations that create
//! or change them answer that they are not supported here.

use super::AwsError;
use crate::control::{Caller, Ctx};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strato_engine::workflows::{WorkflowError, execution_arn, state_machine_arn};
use strato_store::{Execution, ExecutionFilter, ExecutionStatus};

fn error(code: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, code, message)
}

impl From<WorkflowError> for AwsError {
    fn from(e: WorkflowError) -> Self {
        match &e {
            WorkflowError::NoSuchWorkflow { .. } => {
                error("StateMachineDoesNotExist", e.to_string())
            }
            WorkflowError::NoSuchExecution(_) => error("ExecutionDoesNotExist", e.to_string()),
            WorkflowError::AlreadyExists(_) => error("ExecutionAlreadyExists", e.to_string()),
            WorkflowError::NoSuchTask => error("TaskDoesNotExist", e.to_string()),
            WorkflowError::Invalid(_) => error("InvalidExecutionInput", e.to_string()),
            WorkflowError::Storage(_) => AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                e.to_string(),
            ),
        }
    }
}

pub(crate) fn routes(ctx: Ctx) -> axum::Router<Ctx> {
    axum::Router::new()
        .route("/", axum::routing::post(handle))
        .layer(axum::middleware::from_fn_with_state(ctx, authenticate))
}

async fn authenticate(
    state: State<Ctx>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    super::authenticate(state, request, next, "states").await
}

/// `POST /` on the control listener: one Step Functions operation.
pub(crate) async fn handle(
    State(ctx): State<Ctx>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = target.strip_prefix("AWSStepFunctions.") else {
        return error(
            "UnknownOperationException",
            "POST / takes Step Functions operations (X-Amz-Target: AWSStepFunctions.*)",
        )
        .into_response();
    };
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return error("SerializationException", e.to_string()).into_response(),
        }
    };
    let ops = Ops {
        ctx: &ctx,
        caller: &caller,
        request: &request,
    };
    let answer = match operation {
        "StartExecution" => ops.start(false).await,
        "StartSyncExecution" => ops.start(true).await,
        "DescribeExecution" => ops.describe().await,
        "ListExecutions" => ops.list().await,
        "GetExecutionHistory" => ops.history().await,
        "StopExecution" => ops.stop().await,
        "ListStateMachines" => ops.list_state_machines(),
        "DescribeStateMachine" => ops.describe_state_machine(),
        "SendTaskSuccess" => ops.task_answer("success").await,
        "SendTaskFailure" => ops.task_answer("failure").await,
        "SendTaskHeartbeat" => ops.task_answer("heartbeat").await,
        other => Err(error(
            "UnknownOperationException",
            format!(
                "{other} is not supported: workflows are created and changed by deploying strato.toml"
            ),
        )),
    };
    match answer {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            v.to_string(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

struct Ops<'a> {
    ctx: &'a Ctx,
    caller: &'a Caller,
    request: &'a Value,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn describe(e: &Execution) -> Value {
    let mut v = json!({
        "executionArn": execution_arn(&e.app, &e.workflow, &e.name),
        "stateMachineArn": state_machine_arn(&e.app, &e.workflow),
        "name": e.name,
        "status": e.status.as_str(),
        "startDate": seconds(e.started_ms),
        "input": e.input.to_string(),
        "inputDetails": {"included": true},
    });
    if let Some(stopped) = e.stopped_ms {
        v["stopDate"] = json!(seconds(stopped));
    }
    if let Some(output) = &e.output {
        v["output"] = json!(output.to_string());
        v["outputDetails"] = json!({"included": true});
    }
    if let Some(error) = &e.error {
        v["error"] = json!(error);
    }
    if let Some(cause) = &e.cause {
        v["cause"] = json!(cause);
    }
    v
}

impl Ops<'_> {
    fn string(&self, field: &str) -> Result<&str, AwsError> {
        self.request
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| error("ValidationException", format!("{field} is required")))
    }

    /// `APP`, `WORKFLOW` of a state machine ARN (or `APP.WORKFLOW`), if the
    /// caller may reach that app.
    fn state_machine(&self) -> Result<(String, String), AwsError> {
        let arn = self.string("stateMachineArn")?;
        let name = arn
            .strip_prefix("arn:aws:states:")
            .and_then(|rest| rest.split(':').nth(3))
            .filter(|_| arn.contains(":stateMachine:"))
            .unwrap_or(arn);
        let (app, workflow) = name.split_once('.').ok_or_else(|| {
            error(
                "InvalidArn",
                format!("{arn:?} is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:APP.WORKFLOW)"),
            )
        })?;
        self.reach(app)?;
        Ok((app.to_string(), workflow.to_string()))
    }

    fn reach(&self, app: &str) -> Result<(), AwsError> {
        match self.caller {
            Caller::App(mine) if mine != app => Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                format!("this key is scoped to app `{mine}`"),
            )),
            _ => Ok(()),
        }
    }

    /// The execution an `executionArn` names.
    async fn execution(&self) -> Result<Execution, AwsError> {
        let arn = self.string("executionArn")?;
        let parts: Vec<&str> = arn.split(':').collect();
        let ["arn", _, "states", _, _, "execution", machine, name] = parts[..] else {
            return Err(error(
                "InvalidArn",
                format!(
                    "{arn:?} is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:APP.WORKFLOW:NAME)"
                ),
            ));
        };
        let (app, workflow) = machine
            .split_once('.')
            .ok_or_else(|| error("InvalidArn", format!("{arn:?} names no APP.WORKFLOW")))?;
        self.reach(app)?;
        self.ctx
            .platform
            .store()
            .find_execution(app, workflow, name)
            .await
            .map_err(|e| AwsError::from(WorkflowError::Storage(e.to_string())))?
            .ok_or_else(|| {
                error(
                    "ExecutionDoesNotExist",
                    format!("Execution Does Not Exist: '{arn}'"),
                )
            })
    }

    async fn start(&self, sync: bool) -> Result<Value, AwsError> {
        let (app, workflow) = self.state_machine()?;
        let input = match self.request.get("input").and_then(Value::as_str) {
            None => json!({}),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                error(
                    "InvalidExecutionInput",
                    format!("Invalid State Machine Execution Input: {e}"),
                )
            })?,
        };
        let name = self
            .request
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut execution = self
            .ctx
            .platform
            .start_execution(&app, &workflow, name, input)
            .await?;
        if !sync {
            return Ok(json!({
                "executionArn": execution_arn(&app, &workflow, &execution.name),
                "startDate": seconds(execution.started_ms),
            }));
        }
        // Express workflows answer within 5 minutes.
        execution = self
            .ctx
            .platform
            .wait_for_execution(&execution.id, std::time::Duration::from_secs(300))
            .await?;
        Ok(describe(&execution))
    }

    async fn describe(&self) -> Result<Value, AwsError> {
        Ok(describe(&self.execution().await?))
    }

    async fn list(&self) -> Result<Value, AwsError> {
        let (app, workflow) = self.state_machine()?;
        let status = match self.request.get("statusFilter").and_then(Value::as_str) {
            None => None,
            Some(s) => Some(ExecutionStatus::parse(s).ok_or_else(|| {
                error(
                    "ValidationException",
                    format!("statusFilter {s:?} is not an execution status"),
                )
            })?),
        };
        let limit = self
            .request
            .get("maxResults")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .unwrap_or(100)
            .min(1000) as usize;
        let before = self
            .request
            .get("nextToken")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut list = self
            .ctx
            .platform
            .list_executions(&ExecutionFilter {
                app: Some(app),
                workflow: Some(workflow),
                status,
                before,
                trace_id: None,
                limit: limit + 1,
            })
            .await?;
        let next = (list.len() > limit).then(|| {
            list.truncate(limit);
            list.last().map(|e| e.id.clone())
        });
        let executions: Vec<Value> = list
            .iter()
            .map(|e| {
                let mut v = json!({
                    "executionArn": execution_arn(&e.app, &e.workflow, &e.name),
                    "stateMachineArn": state_machine_arn(&e.app, &e.workflow),
                    "name": e.name,
                    "status": e.status.as_str(),
                    "startDate": seconds(e.started_ms),
                });
                if let Some(stopped) = e.stopped_ms {
                    v["stopDate"] = json!(seconds(stopped));
                }
                v
            })
            .collect();
        let mut answer = json!({ "executions": executions });
        if let Some(Some(token)) = next {
            answer["nextToken"] = json!(token);
        }
        Ok(answer)
    }

    async fn history(&self) -> Result<Value, AwsError> {
        let execution = self.execution().await?;
        let limit = self
            .request
            .get("maxResults")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .unwrap_or(1000)
            .min(1000) as usize;
        let after = self
            .request
            .get("nextToken")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let mut events = self
            .ctx
            .platform
            .execution_history(&execution.id, after, limit + 1)
            .await?;
        let next = (events.len() > limit).then(|| {
            events.truncate(limit);
            events.last().map(|e| e.id)
        });
        let mut out: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut v = json!({
                    "timestamp": seconds(e.ts_ms),
                    "type": e.kind,
                    "id": e.id,
                    "previousEventId": e.id - 1,
                });
                // Events without details (`ParallelStateStarted`) have no key.
                if !e.details.is_null() {
                    v[strato_engine::workflows::details_key(&e.kind)] = e.details.clone();
                }
                v
            })
            .collect();
        if self.request.get("reverseOrder").and_then(Value::as_bool) == Some(true) {
            out.reverse();
        }
        let mut answer = json!({ "events": out });
        if let Some(Some(id)) = next {
            answer["nextToken"] = json!(id.to_string());
        }
        Ok(answer)
    }

    async fn stop(&self) -> Result<Value, AwsError> {
        let execution = self.execution().await?;
        let text = |f: &str| {
            self.request
                .get(f)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        self.ctx
            .platform
            .stop_execution(&execution.id, text("error"), text("cause"))
            .await?;
        let stopped = self.ctx.platform.get_execution(&execution.id).await?;
        Ok(
            json!({"stopDate": seconds(stopped.stopped_ms.unwrap_or_else(strato_core::time::now_ms))}),
        )
    }

    fn list_state_machines(&self) -> Result<Value, AwsError> {
        let live = self.ctx.platform.workflow_list();
        let machines: Vec<Value> = live
            .iter()
            .filter(|(app, _, _)| self.reach(app).is_ok())
            .map(|(app, workflow, deployed_ms)| {
                json!({
                    "stateMachineArn": state_machine_arn(app, workflow),
                    "name": format!("{app}.{workflow}"),
                    "type": "STANDARD",
                    "creationDate": seconds(*deployed_ms),
                })
            })
            .collect();
        Ok(json!({ "stateMachines": machines }))
    }

    fn describe_state_machine(&self) -> Result<Value, AwsError> {
        let (app, workflow) = self.state_machine()?;
        let (definition, deployed_ms) = self
            .ctx
            .platform
            .workflow_definition(&app, &workflow)
            .ok_or_else(|| {
                error(
                    "StateMachineDoesNotExist",
                    format!(
                        "State Machine Does Not Exist: '{}'",
                        state_machine_arn(&app, &workflow)
                    ),
                )
            })?;
        Ok(json!({
            "stateMachineArn": state_machine_arn(&app, &workflow),
            "name": format!("{app}.{workflow}"),
            "status": "ACTIVE",
            "definition": definition,
            "roleArn": "arn:aws:iam::000000000000:role/strato",
            "type": "STANDARD",
            "creationDate": seconds(deployed_ms),
        }))
    }

    async fn task_answer(&self, kind: &str) -> Result<Value, AwsError> {
        let token = self.string("taskToken")?;
        let platform = &self.ctx.platform;
        match kind {
            "success" => {
                let output = self.string("output")?;
                let output: Value = serde_json::from_str(output)
                    .map_err(|e| error("InvalidOutput", format!("the output is not JSON: {e}")))?;
                platform.send_task_success(token, output).await?
            }
            "failure" => {
                let text = |f: &str| {
                    self.request
                        .get(f)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                platform
                    .send_task_failure(token, text("error"), text("cause"))
                    .await?
            }
            _ => platform.send_task_heartbeat(token).await?,
        }
        Ok(json!({}))
    }
}
