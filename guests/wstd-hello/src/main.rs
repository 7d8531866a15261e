//! A plain `wasi:http/proxy` server built with `wstd`, the way one writes a
//! component for `wasmtime serve -S cli`. Strato must run it unchanged.
use wstd::http::body::IncomingBody;
use wstd::http::server::{Finished, Responder};
use wstd::http::{IntoBody, Request, Response};

#[wstd::http_server]
async fn main(request: Request<IncomingBody>, responder: Responder) -> Finished {
    let text = format!("hello from wstd at {}\n", request.uri().path());
    responder.respond(Response::new(text.into_body())).await
}
