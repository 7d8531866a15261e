//! On each S3 event for `incoming/*.txt`, reads the object through Strato's
//! control API (with the run's `STRATO_TOKEN`), and writes an uppercased
//! copy to `upper/`. Plain wasi:http, no SDK: the bearer-token object
//! endpoint needs no request signing.
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

struct Uppercase;

wasi::http::proxy::export!(Uppercase);

impl wasi::exports::http::incoming_handler::Guest for Uppercase {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let body = read_incoming(request);
        match handle_event(&body) {
            Ok(written) => respond(out, 200, &written.join("\n")),
            Err(error) => {
                eprintln!("failed: {error}");
                respond(out, 500, &error);
            }
        }
    }
}

fn handle_event(body: &[u8]) -> Result<Vec<String>, String> {
    let event: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not an S3 event: {e}"))?;
    let mut written = Vec::new();
    for record in event["Records"].as_array().into_iter().flatten() {
        let bucket = record["s3"]["bucket"]["name"].as_str().unwrap_or_default();
        // S3 events carry keys form-encoded.
        let key = form_decode(record["s3"]["object"]["key"].as_str().unwrap_or_default());
        let text = api("GET", &object_path(bucket, &key), None)?;
        let upper = String::from_utf8_lossy(&text).to_uppercase();
        let target = format!("upper/{}", key.strip_prefix("incoming/").unwrap_or(&key));
        api("PUT", &object_path(bucket, &target), Some(upper.as_bytes()))?;
        println!("wrote s3://{bucket}/{target} ({} bytes)", upper.len());
        written.push(target);
    }
    Ok(written)
}

fn object_path(bucket: &str, key: &str) -> String {
    let mut path = format!("/api/v1/buckets/{bucket}/objects/");
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                path.push(b as char)
            }
            _ => path.push_str(&format!("%{b:02X}")),
        }
    }
    path
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request to Strato's control API, authorised by the run's token.
fn api(method: &str, path: &str, body: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let base = std::env::var("STRATO_API").map_err(|_| "STRATO_API is not set")?;
    let token = std::env::var("STRATO_TOKEN").map_err(|_| "STRATO_TOKEN is not set")?;
    let authority = base.strip_prefix("http://").ok_or("STRATO_API is not http://")?;
    let headers = Fields::new();
    headers
        .set("authorization", &[format!("Bearer {token}").into_bytes()])
        .map_err(|e| format!("{e:?}"))?;
    if let Some(b) = body {
        headers
            .set("content-length", &[b.len().to_string().into_bytes()])
            .map_err(|e| format!("{e:?}"))?;
    }
    let request = OutgoingRequest::new(headers);
    request
        .set_method(&if method == "PUT" { Method::Put } else { Method::Get })
        .map_err(|_| "bad method")?;
    request.set_scheme(Some(&Scheme::Http)).map_err(|_| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|_| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|_| "bad path")?;
    let outgoing = request.body().map_err(|_| "body taken")?;
    let future = wasi::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing.write().map_err(|_| "stream taken")?;
        for chunk in body.unwrap_or_default().chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| format!("{e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("response not ready")?
        .map_err(|_| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().map_err(|_| "body taken")?;
    let bytes = read_stream(incoming.stream().map_err(|_| "stream taken")?)?;
    if status >= 300 {
        return Err(format!(
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    Ok(bytes)
}

fn read_incoming(request: IncomingRequest) -> Vec<u8> {
    let body = request.consume().expect("request body taken once");
    read_stream(body.stream().expect("body stream taken once")).unwrap_or_default()
}

fn read_stream(stream: wasi::io::streams::InputStream) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let response = OutgoingResponse::new(Fields::new());
    response.set_status_code(status).expect("valid status");
    let body = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("stream taken once");
    stream
        .blocking_write_and_flush(text.as_bytes())
        .expect("writing the response");
    drop(stream);
    OutgoingBody::finish(body, None).expect("finishing the response");
}
