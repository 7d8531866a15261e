//! F3: charges the order's total. The payment provider is flaky: its
//! first attempt at each order times out (`PaymentTimeout`, which the
//! workflow retries); a card over the limit is declined (`CardDeclined`,
//! which it catches).
use order_pipeline::{StepError, serve};
use serde_json::{Value, json};
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::Request;

#[wstd::http_server]
async fn main(request: Request<IncomingBody>, responder: Responder) -> Finished {
    serve(request, responder, |input| async move { charge(input) }).await
}

/// Above this (in cents) the card is declined.
const CARD_LIMIT: u64 = 100_000;

fn charge(input: Value) -> Result<Value, StepError> {
    let total: u64 = input["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["cents"].as_u64())
        .sum();
    let id = input["id"].as_str().unwrap_or("?");
    if input["attempt"].as_u64() == Some(0) {
        return Err(StepError::new("PaymentTimeout", "the payment provider did not answer in time"));
    }
    if total > CARD_LIMIT {
        return Err(StepError::new("CardDeclined", format!("{total} cents is over the card's limit")));
    }
    println!("charged order {id}: {total} cents");
    Ok(json!({ "total": total, "payment": format!("pay-{id}") }))
}
