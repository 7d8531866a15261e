//! The kitchen-sink guest: one `wasi:http/proxy` component whose paths
//! exercise every behaviour Strato's tests need (echo, panic, endless loop,
//! memory hog, outbound HTTP, env, stdout/stderr logging, sleeping).
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

struct Kitchen;

wasi::http::proxy::export!(Kitchen);

impl wasi::exports::http::incoming_handler::Guest for Kitchen {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let (path, query) = match path_with_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_with_query.clone(), String::new()),
        };
        let param = |name: &str| -> Option<String> {
            query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name).then(|| v.to_string())
            })
        };
        let leaf = path.rsplit('/').next().unwrap_or("").to_string();
        match leaf.as_str() {
            "echo" => {
                let body = read_body(request);
                respond(out, 200, "application/octet-stream", &body);
            }
            "panic" => panic!("kitchen panicked on purpose"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "hog" => {
                let mb: usize = param("mb").and_then(|v| v.parse().ok()).unwrap_or(512);
                let mut blocks = Vec::new();
                for _ in 0..mb {
                    let mut block = vec![0u8; 1 << 20];
                    block[4096] = 1;
                    blocks.push(block);
                }
                respond(
                    out,
                    200,
                    "text/plain",
                    format!("held {} MiB\n", blocks.len()).as_bytes(),
                );
            }
            "fetch" => {
                let url = param("url").unwrap_or_default();
                match fetch(&url) {
                    Ok((status, body)) => {
                        let text = format!("upstream {status}: {}", String::from_utf8_lossy(&body));
                        respond(out, 200, "text/plain", text.as_bytes());
                    }
                    Err(err) => {
                        eprintln!("outbound request to {url} failed: {err}");
                        respond(
                            out,
                            502,
                            "text/plain",
                            format!("outbound request failed: {err}\n").as_bytes(),
                        );
                    }
                }
            }
            // Writes `?bucket=B&key=K` (body "made by kitchen") through the
            // control API's objects endpoint with the run's own token, as
            // a function's code would.
            "put" => {
                let api = std::env::var("STRATO_API").unwrap_or_default();
                let token = std::env::var("STRATO_TOKEN").unwrap_or_default();
                let bucket = param("bucket").unwrap_or_default();
                let key = param("key").unwrap_or_default();
                let url = format!("{api}/api/v1/buckets/{bucket}/objects/{key}");
                let auth = format!("Bearer {token}");
                match send(Method::Put, &url, &[("authorization", &auth)], b"made by kitchen") {
                    Ok((status, body)) => {
                        println!("put {bucket}/{key}: {status}");
                        let text = format!("upstream {status}: {}", String::from_utf8_lossy(&body));
                        respond(out, status, "text/plain", text.as_bytes());
                    }
                    Err(err) => respond(out, 502, "text/plain", err.as_bytes()),
                }
            }
            "env" => {
                let name = param("name").unwrap_or_default();
                let value = std::env::var(&name).unwrap_or_else(|_| "<unset>".into());
                respond(out, 200, "text/plain", value.as_bytes());
            }
            "log" => {
                let n: usize = param("n").and_then(|v| v.parse().ok()).unwrap_or(1);
                for i in 0..n {
                    println!("stdout line {i}");
                    eprintln!("stderr line {i}");
                }
                respond(out, 200, "text/plain", format!("logged {n}\n").as_bytes());
            }
            "nap" => {
                // Sleeps `NAP_MS` (unset: not at all), then echoes: a
                // function a redeploy makes slow or fast.
                let ms: u64 = std::env::var("NAP_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if ms > 0 {
                    wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                }
                let body = read_body(request);
                respond(out, 200, "application/octet-stream", &body);
            }
            "sleep" => {
                let ms: u64 = param("ms").and_then(|v| v.parse().ok()).unwrap_or(100);
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, "text/plain", b"slept\n");
            }
            // A bucket event (POST / with an S3 notification): log the key;
            // keys containing "fail" fail, to exercise retries.
            "" if matches!(request.method(), Method::Post) => {
                let now = wasi::clocks::wall_clock::now();
                let started_us = now.seconds * 1_000_000 + u64::from(now.nanoseconds / 1000);
                let body = String::from_utf8_lossy(&read_body(request)).into_owned();
                if body.contains("\"eventSource\":\"aws:sqs\"") {
                    return consume_sqs_batch(&body, out);
                }
                if body.contains("\"step\":") {
                    return workflow_step(&body, out);
                }
                if body.contains("\"detail-type\":\"Scheduled Event\"") {
                    let time = field(&body, "time");
                    println!("scheduled {time} started_us {started_us}");
                    if body.contains("\"sleep\"") {
                        wasi::clocks::monotonic_clock::subscribe_duration(2_500_000_000).block();
                    }
                    return respond(out, 200, "text/plain", b"ok\n");
                }
                let key = body
                    .split("\"key\":\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or("?")
                    .to_string();
                println!("event {key} started_us {started_us}");
                // A versioned bucket's events name the version.
                let version = field(&body, "versionId");
                if version != "?" {
                    println!("version {key} {version} {}", field(&body, "eventName"));
                }
                if key.contains("fail") {
                    respond(out, 500, "text/plain", b"failing on purpose\n");
                } else {
                    respond(out, 200, "text/plain", b"ok\n");
                }
            }
            _ => {
                let method = match request.method() {
                    Method::Get => "GET".to_string(),
                    Method::Post => "POST".to_string(),
                    Method::Put => "PUT".to_string(),
                    Method::Delete => "DELETE".to_string(),
                    other => format!("{other:?}"),
                };
                let text = format!("kitchen {method} {path_with_query}\n");
                respond(out, 200, "text/plain", text.as_bytes());
            }
        }
    }
}

fn read_body(request: IncomingRequest) -> Vec<u8> {
    let body = request.consume().expect("request body taken once");
    let stream = body.stream().expect("body stream taken once");
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                panic!("reading body: {}", e.to_debug_string())
            }
        }
    }
    bytes
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::new();
    headers
        .set("content-type", &[content_type.as_bytes().to_vec()])
        .expect("content-type is allowed");
    headers
        .set("content-length", &[body.len().to_string().into_bytes()])
        .expect("content-length is allowed");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("stream taken once");
    for chunk in body.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .expect("writing body");
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finishing body");
}

fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    send(Method::Get, url, &[], b"")
}

fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// urls")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(&name.to_string(), &value.as_bytes().to_vec())
            .map_err(|e| format!("header {name}: {e:?}"))?;
    }
    let sends_body = !body.is_empty();
    if sends_body {
        fields
            .append(
                &"content-length".to_string(),
                &body.len().to_string().into_bytes(),
            )
            .map_err(|e| format!("content-length: {e:?}"))?;
    }
    let request = OutgoingRequest::new(fields);
    request.set_method(&method).map_err(|_| "bad method")?;
    let outgoing = request.body().map_err(|_| "body taken")?;
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|_| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|_| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|_| "bad path")?;
    let future =
        wasi::http::outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing.write().map_err(|_| "stream taken")?;
        if sends_body {
            stream
                .blocking_write_and_flush(body)
                .map_err(|e| format!("writing the body: {e:?}"))?;
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
    let body = response.consume().map_err(|_| "body taken")?;
    let stream = body.stream().map_err(|_| "stream taken")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    Ok((status, bytes))
}

/// The string value of the first `"name":"..."` in a JSON text (the test
/// payloads hold no escaped quotes).
fn field<'a>(json: &'a str, name: &str) -> &'a str {
    json.split(&format!("\"{name}\":\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("?")
}

/// A workflow's task (an event with `"step"`): `inc` answers `{"n": n+1}`,
/// `fail` fails with a Lambda-shaped error, `flaky` fails while its
/// `"retry"` count is below 2, `sleep` answers `{"n": n+1}` after `"ms"`
/// milliseconds, `echo` answers the event.
fn workflow_step(body: &str, out: ResponseOutparam) {
    let number = |name: &str| -> i64 {
        body.split(&format!("\"{name}\":"))
            .nth(1)
            .map(|rest| {
                rest.trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect::<String>()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let step = field(body, "step");
    println!("workflow step {step}");
    let error = |kind: &str| {
        format!("{{\"errorType\":\"{kind}\",\"errorMessage\":\"{step} failed on purpose\"}}")
    };
    match step {
        "inc" => {
            let n = number("n") + 1;
            respond(out, 200, "application/json", format!("{{\"n\":{n}}}").as_bytes())
        }
        "fail" => respond(out, 500, "application/json", error("KitchenError").as_bytes()),
        "flaky" if number("retry") < 2 => {
            respond(out, 500, "application/json", error("Flaky").as_bytes())
        }
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(number("ms") as u64));
            let n = number("n") + 1;
            respond(out, 200, "application/json", format!("{{\"n\":{n}}}").as_bytes())
        }
        "flaky" => {
            let retry = number("retry");
            respond(out, 200, "application/json", format!("{{\"recovered\":{retry}}}").as_bytes())
        }
        _ => respond(out, 200, "application/json", body.as_bytes()),
    }
}

/// An SQS batch: logs each message; bodies containing "fail" are reported
/// as `batchItemFailures`, one containing "crash" fails the whole batch.
fn consume_sqs_batch(body: &str, out: ResponseOutparam) {
    let mut failures = Vec::new();
    // One record per `"attributes":{` (keys are serialized sorted).
    for record in body.split("\"attributes\":{").skip(1) {
        let id = field(record, "messageId");
        let text = field(record, "body");
        let count = field(record, "ApproximateReceiveCount");
        println!("message {text} id {id} receive {count}");
        if text.contains("crash") {
            return respond(out, 500, "text/plain", b"crashing on purpose\n");
        }
        if text.contains("fail") {
            failures.push(format!("{{\"itemIdentifier\":\"{id}\"}}"));
        }
    }
    let answer = format!("{{\"batchItemFailures\":[{}]}}", failures.join(","));
    respond(out, 200, "application/json", answer.as_bytes());
}
