//! F2, once per item (the workflow's Map): a line's price from the
//! catalogue.
use order_pipeline::{StepError, serve};
use serde_json::{Value, json};
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::Request;

#[wstd::http_server]
async fn main(request: Request<IncomingBody>, responder: Responder) -> Finished {
    serve(request, responder, |item| async move { price(item) }).await
}

const CATALOGUE: &[(&str, u64)] = &[("widget", 250), ("gadget", 1_200), ("gizmo", 9_900)];

fn price(item: Value) -> Result<Value, StepError> {
    let sku = item["sku"].as_str().unwrap_or_default();
    let quantity = item["quantity"].as_u64().unwrap_or(1);
    let (_, cents) = CATALOGUE
        .iter()
        .find(|(name, _)| *name == sku)
        .ok_or_else(|| StepError::new("UnknownItem", format!("no item {sku:?} in the catalogue")))?;
    println!("{quantity} x {sku} at {cents} cents");
    Ok(json!({ "sku": sku, "quantity": quantity, "cents": cents * quantity }))
}
