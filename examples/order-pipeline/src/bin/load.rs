//! F1: the uploaded order. The workflow starts with the S3 event of the
//! upload; this reads the object through Strato's API with the run's own
//! token and checks it.
use order_pipeline::{StepError, serve};
use serde_json::{Value, json};
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::{Client, IntoBody, Request};

#[wstd::http_server]
async fn main(request: Request<IncomingBody>, responder: Responder) -> Finished {
    serve(request, responder, load).await
}

async fn load(event: Value) -> Result<Value, StepError> {
    let record = &event["Records"][0]["s3"];
    let bucket = record["bucket"]["name"].as_str().unwrap_or_default();
    let key = record["object"]["key"].as_str().unwrap_or_default();
    if key.is_empty() {
        return Err(StepError::new("BadInput", "not an S3 event"));
    }
    let api = std::env::var("STRATO_API").map_err(|_| StepError::new("Setup", "no STRATO_API"))?;
    let token =
        std::env::var("STRATO_TOKEN").map_err(|_| StepError::new("Setup", "no STRATO_TOKEN"))?;
    let request = Request::get(format!("{api}/api/v1/buckets/{bucket}/objects/{key}"))
        .header("authorization", format!("Bearer {token}"))
        .body("".into_body())
        .map_err(|e| StepError::new("Setup", e.to_string()))?;
    let mut response = Client::new()
        .send(request)
        .await
        .map_err(|e| StepError::new("Unavailable", e.to_string()))?;
    let body = response
        .body_mut()
        .bytes()
        .await
        .map_err(|e| StepError::new("Unavailable", e.to_string()))?;
    if !response.status().is_success() {
        return Err(StepError::new(
            "Unavailable",
            format!("reading s3://{bucket}/{key}: {}", response.status()),
        ));
    }
    let order: Value = serde_json::from_slice(&body)
        .map_err(|e| StepError::new("BadOrder", format!("{key} is not JSON: {e}")))?;
    let items = order["items"].as_array().cloned().unwrap_or_default();
    if order["id"].as_str().is_none() || items.is_empty() {
        return Err(StepError::new("BadOrder", format!("{key} has no id or no items")));
    }
    println!("order {} loaded from s3://{bucket}/{key}: {} items", order["id"], items.len());
    Ok(json!({ "id": order["id"], "customer": order["customer"], "items": items }))
}
