//! What the pipeline's functions share: reading the state's input (the
//! event Strato POSTs), answering with the state's result, or failing
//! with an error type the workflow's Retry and Catch match (Lambda's
//! `{"errorType", "errorMessage"}`).

use serde_json::{Value, json};
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::{IntoBody, Request, Response, StatusCode};

/// A step's failure: its error type (the state's error) and message.
pub struct StepError {
    pub kind: &'static str,
    pub message: String,
}

impl StepError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> StepError {
        StepError {
            kind,
            message: message.into(),
        }
    }
}

/// Reads the input, runs `step` on it and answers with its result.
pub async fn serve<F, Fut>(mut request: Request<IncomingBody>, responder: Responder, step: F) -> Finished
where
    F: FnOnce(Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value, StepError>>,
{
    let body = request.body_mut().bytes().await.unwrap_or_default();
    let outcome = match serde_json::from_slice(&body) {
        Ok(input) => step(input).await,
        Err(e) => Err(StepError::new("BadInput", format!("the input is not JSON: {e}"))),
    };
    let (status, answer) = match outcome {
        Ok(result) => (StatusCode::OK, result),
        Err(e) => {
            eprintln!("{}: {}", e.kind, e.message);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"errorType": e.kind, "errorMessage": e.message}),
            )
        }
    };
    let mut response = Response::new(answer.to_string().into_body());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    responder.respond(response).await
}
