//! Invoking a function with an event and taking its answer whole, as the
//! Lambda Invoke API does: `RequestResponse` runs it now, `Event` queues it
//! durably. The event reaches the function as every delivered event does
//! (a CloudEvents `POST /`, `ce-type: com.amazonaws.lambda.Invoke`): a
//! Lambda handler gets the payload itself as its event, a wasm component
//! gets it as the request body.

use crate::async_invoke::InvocationHead;
use crate::invoke::{InvokeError, Refused, RunContext};
use crate::platform::Platform;
use crate::util::{CloudEvent, now_ms};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;
use strato_core::invocation::Priority;
use strato_core::{FunctionSpec, LogLine, Trigger};

/// `ce-type` of an event sent through the Invoke API.
pub const INVOKE_EVENT_TYPE: &str = "com.amazonaws.lambda.Invoke";
/// Largest answer taken (Lambda's 6 MiB response limit); a longer one is
/// a function error.
pub const MAX_EVENT_ANSWER: usize = 6 << 20;

/// A function's answer to an event.
#[derive(Debug)]
pub struct EventAnswer {
    pub run_id: String,
    /// The function failed: a Lambda handler raised, timed out or crashed,
    /// or a wasm function answered a non-2xx status.
    pub function_error: bool,
    /// What it answered (its result, or an error document).
    pub body: Bytes,
    /// The run's log lines, when asked for.
    pub logs: Vec<LogLine>,
}

/// An event as a function gets it: JSON, and an empty body is `{}` (as
/// Lambda's `Invoke` takes one).
pub fn parse_event(body: Bytes) -> Result<Bytes, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&body)?;
    Ok(body)
}

/// A live function as the Lambda API lists it.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    pub app: String,
    pub name: String,
    pub revision: i64,
    pub spec: FunctionSpec,
    /// SHA-256 (hex) of its artifact (component or code package).
    pub digest: String,
}

impl Platform {
    /// Runs `name` (`APP/FUNCTION` or `FUNCTION`) on `event` and waits for
    /// its whole answer (and, `with_logs`, its recorded log lines).
    pub async fn invoke_event(
        self: &Arc<Self>,
        name: &str,
        event: Bytes,
        with_logs: bool,
        only_app: Option<&str>,
    ) -> Result<EventAnswer, InvokeError> {
        self.invoke_event_as(name, event, with_logs, only_app, Trigger::Invoke, None)
            .await
    }

    /// [`Platform::invoke_event`] for a run that shows `trigger`.
    pub(crate) async fn invoke_event_as(
        self: &Arc<Self>,
        name: &str,
        event: Bytes,
        with_logs: bool,
        only_app: Option<&str>,
        trigger: Trigger,
        envelope: Option<CloudEvent>,
    ) -> Result<EventAnswer, InvokeError> {
        let function = self.find_function(name, only_app)?;
        let mut cx = RunContext::new(trigger).caused_by(crate::trace::current_cause());
        // A given envelope's id is the run's event (a workflow task's
        // idempotency key).
        cx.event_id = envelope.as_ref().map(|e| e.id.clone());
        cx.keep_payload(&event);
        let request = envelope
            .unwrap_or_else(|| self.invoke_event_envelope())
            .request(event);
        let (tell, logs) = tokio::sync::oneshot::channel();
        if with_logs {
            cx.on_logs = Some(tell);
        }
        let response = self
            .try_run_function(function, request, cx)
            .await
            .map_err(|refused| match refused {
                Refused::Throttled => InvokeError::Throttled,
                Refused::ShuttingDown => InvokeError::Storage("the server is stopping".into()),
            })?;
        let run_id = response
            .headers()
            .get(crate::invoke::RUN_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let status = response.status();
        let flagged = response.headers().contains_key("x-amz-function-error");
        let (function_error, body) =
            match http_body_util::Limited::new(response.into_body(), MAX_EVENT_ANSWER)
                .collect()
                .await
            {
                Ok(body) => (flagged || !status.is_success(), body.to_bytes()),
                Err(_) => (
                    true,
                    Bytes::from(
                        serde_json::json!({
                            "errorType": "Function.ResponseSizeTooLarge",
                            "errorMessage": format!(
                                "the response is larger than {MAX_EVENT_ANSWER} bytes"
                            ),
                        })
                        .to_string(),
                    ),
                ),
            };
        let logs = if with_logs {
            logs.await.unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(EventAnswer {
            run_id,
            function_error,
            body,
            logs,
        })
    }

    /// Queues `event` for `name` durably (retried and sent to destinations
    /// as the function's spec says); returns the invocation id.
    pub async fn invoke_event_async(
        self: &Arc<Self>,
        name: &str,
        event: Bytes,
        only_app: Option<&str>,
    ) -> Result<String, InvokeError> {
        let function = self.find_function(name, only_app)?;
        let mut head = InvocationHead::post("/");
        head.headers = self.invoke_event_envelope().headers();
        let mut ids = self
            .queue_invocations(&function, vec![(head, event)], Priority::Normal)
            .await?;
        Ok(ids.remove(0))
    }

    /// An event for `function` as durable async work (to commit with
    /// something else, such as a workflow step waiting for its token).
    pub(crate) fn function_invocation(
        &self,
        function: &crate::live::LiveFunction,
        event: Bytes,
        envelope: CloudEvent,
    ) -> strato_store::NewInvocation {
        let mut head = InvocationHead::post("/");
        head.headers = envelope.headers();
        head.trigger = Some("workflow".into());
        self.new_invocation(function, head, event, Priority::Normal)
    }

    /// The live function `name` names, if the caller may reach it (what
    /// Lambda's `DryRun` checks).
    pub fn function_info(
        &self,
        name: &str,
        only_app: Option<&str>,
    ) -> Result<FunctionInfo, InvokeError> {
        let function = self.find_function(name, only_app)?;
        Ok(info_of(&self.live(), &function))
    }

    /// Every live function (of `only_app`, when given), by app then name.
    pub fn function_infos(&self, only_app: Option<&str>) -> Vec<FunctionInfo> {
        let live = self.live();
        let mut all: Vec<FunctionInfo> = live
            .functions
            .values()
            .filter(|f| only_app.is_none_or(|app| f.app == app))
            .map(|f| info_of(&live, f))
            .collect();
        all.sort_by(|a, b| (&a.app, &a.name).cmp(&(&b.app, &b.name)));
        all
    }

    fn invoke_event_envelope(&self) -> CloudEvent {
        CloudEvent {
            id: self.runs.next_id('e'),
            kind: INVOKE_EVENT_TYPE.into(),
            source: "strato:lambda-api".into(),
            time_ms: now_ms(),
            subject: None,
        }
    }
}

fn info_of(live: &crate::live::Live, function: &crate::live::LiveFunction) -> FunctionInfo {
    let digest = live
        .apps
        .get(&function.app)
        .and_then(|app| {
            app.spec
                .functions
                .iter()
                .find(|(name, _)| name.as_str() == function.name)
        })
        .map(|(_, deployed)| deployed.component_digest.clone())
        .unwrap_or_default();
    FunctionInfo {
        digest,
        app: function.app.clone(),
        name: function.name.clone(),
        revision: function.revision,
        spec: function.spec.clone(),
    }
}
