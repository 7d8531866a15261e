//! Hello: a WebAssembly HTTP function for Strato. It reads `GREETING` from
//! its environment, logs one line per request, and answers on its route.
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Hello;

wasi::http::proxy::export!(Hello);

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".to_string());
        let path = request.path_with_query().unwrap_or_default();
        println!("handled {path}");

        let body = format!("{greeting}, world!\n");
        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"text/plain".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("body taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = outgoing.write().expect("stream taken once");
        stream
            .blocking_write_and_flush(body.as_bytes())
            .expect("writing body");
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finishing body");
    }
}
