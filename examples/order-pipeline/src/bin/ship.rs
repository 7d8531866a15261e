//! F4: books the parcel for a packed, paid order.
use order_pipeline::{StepError, serve};
use serde_json::{Value, json};
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::Request;

#[wstd::http_server]
async fn main(request: Request<IncomingBody>, responder: Responder) -> Finished {
    serve(request, responder, |order| async move { ship(order) }).await
}

fn ship(order: Value) -> Result<Value, StepError> {
    let id = order["id"].as_str().unwrap_or("?");
    let customer = order["customer"].as_str().unwrap_or("?");
    println!("order {id} shipped to {customer}");
    Ok(json!({ "tracking": format!("TRACK-{id}") }))
}
