//! Async invocation and queue benchmarks against a running Strato.
//!
//! `asyncbench latency GATEWAY_URL API_URL TOKEN APP RATE SECONDS CONNECTIONS`
//!   Open-loop async POSTs (`X-Strato-Invocation-Type: Event`) at RATE/s,
//!   each body `{"key":"<send time, µs since the epoch>"}`. The kitchen
//!   guest logs `event <key> started_us <its start time>`; once the queue
//!   is drained, the logs give enqueue-to-start latency per invocation
//!   (from the client's send, so HTTP and the durable commit are in it).
//! `asyncbench batch API_URL TOKEN APP FUNCTION TOTAL WORKERS BATCH [PATH [accept-only]]`
//!   TOTAL no-op async invocations (of PATH, default `/k/echo`) queued
//!   BATCH per request by WORKERS clients (`POST .../invocations`); prints
//!   invocations/s from the first request until the queue is drained
//!   (`strato_async_invocations_pending` at 0), or with `accept-only` the
//!   rate they were accepted at.
//! `asyncbench queue API_URL TOKEN APP QUEUE SECONDS WORKERS`
//!   Closed loop per worker: send 10 messages, receive 10, delete them.
//!   Prints messages/s fully processed (sent, received and deleted).
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(url: &hyper::Uri) -> Sender {
    let authority = url.authority().expect("authority").to_string();
    let stream = TcpStream::connect(&authority).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn post(sender: &mut Sender, url: &str, token: &str, body: Value) -> Value {
    let req = Request::post(url)
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.expect("request");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(&args[2..]).await,
        Some("queue") => queue(&args[2..]).await,
        Some("batch") => batch(&args[2..]).await,
        _ => panic!("usage: asyncbench latency|queue ..."),
    }
}

async fn latency(args: &[String]) {
    let gateway: hyper::Uri = args[0].parse().expect("gateway url");
    let api: hyper::Uri = args[1].parse().expect("api url");
    let (token, app) = (args[2].clone(), args[3].clone());
    let rate: f64 = args[4].parse().unwrap();
    let seconds: f64 = args[5].parse().unwrap();
    let connections: usize = args[6].parse().unwrap();
    let path = gateway.path().to_string();
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let per_conn = (rate * seconds / connections as f64) as usize;
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (gateway, path) = (gateway.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&gateway).await;
            let offset = interval.mul_f64(c as f64 / connections as f64);
            for i in 0..per_conn {
                tokio::time::sleep_until((start + offset + interval.mul_f64(i as f64)).into()).await;
                let body = json!({ "key": now_us().to_string() }).to_string();
                let req = Request::post(path.as_str())
                    .header("host", "localhost")
                    .header("x-strato-invocation-type", "Event")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let resp = sender.send_request(req).await.expect("request");
                assert_eq!(resp.status(), 202);
                let _ = resp.into_body().collect().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let sent = per_conn * connections;
    // Read the guest's log lines until every invocation has logged.
    let mut sender = connect(&api).await;
    let mut latencies = Vec::new();
    let mut after = 0i64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while latencies.len() < sent && Instant::now() < deadline {
        let req = Request::get(format!("/api/v1/logs?app={app}&after={after}&limit=10000"))
            .header("host", "localhost")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender.send_request(req).await.expect("logs");
        let lines: Vec<Value> =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        if lines.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        for line in &lines {
            after = after.max(line["seq"].as_i64().unwrap_or(0));
            let text = line["text"].as_str().unwrap_or("");
            let mut words = text.split(' ');
            if let (Some("event"), Some(key), Some("started_us"), Some(started)) =
                (words.next(), words.next(), words.next(), words.next())
                && let (Ok(k), Ok(s)) = (key.parse::<u64>(), started.parse::<u64>())
            {
                latencies.push(s.saturating_sub(k) as f64 / 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "sent={sent} started={} enqueue_to_start_ms p50={:.3} p90={:.3} p99={:.3} max={:.3}",
        latencies.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
}

async fn queue(args: &[String]) {
    let api: hyper::Uri = args[0].parse().expect("api url");
    let (token, app, queue) = (args[1].clone(), args[2].clone(), args[3].clone());
    let seconds: f64 = args[4].parse().unwrap();
    let workers: usize = args[5].parse().unwrap();
    let base = format!("/api/v1/apps/{app}/queues/{queue}");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (api, token, base) = (api.clone(), token.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&api).await;
            let mut done = 0usize;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let messages: Vec<Value> = (0..10)
                    .map(|i| json!({ "body": format!("worker {w} message {}", n + i) }))
                    .collect();
                n += 10;
                post(&mut sender, &format!("{base}/messages"), &token, json!({ "messages": messages })).await;
                let got = post(&mut sender, &format!("{base}/receive"), &token, json!({ "max": 10 })).await;
                let receipts: Vec<Value> = got["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| m["receipt"].clone())
                    .collect();
                if receipts.is_empty() {
                    continue;
                }
                let deleted = post(&mut sender, &format!("{base}/delete"), &token, json!({ "receipts": receipts })).await;
                done += deleted["deleted"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| d.as_bool() == Some(true))
                    .count();
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "messages={total} seconds={elapsed:.2} messages_per_s={:.0} (each sent, received and deleted, in batches of 10, {workers} workers)",
        total as f64 / elapsed
    );
}

async fn pending(sender: &mut Sender) -> u64 {
    let req = Request::get("/metrics")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.expect("metrics");
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix("strato_async_invocations_pending "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .expect("strato_async_invocations_pending in /metrics")
}

async fn batch(args: &[String]) {
    let api: hyper::Uri = args[0].parse().expect("api url");
    let (token, app, function) = (args[1].clone(), args[2].clone(), args[3].clone());
    let total: usize = args[4].parse().unwrap();
    let workers: usize = args[5].parse().unwrap();
    let size: usize = args[6].parse().unwrap();
    let path = args.get(7).cloned().unwrap_or_else(|| "/k/echo".into());
    // `accept-only`: return once the last batch is accepted (the caller
    // then kills the server to leave a backlog in the store).
    let wait_for_drain = args.get(8).map(String::as_str) != Some("accept-only");
    let url = format!("/api/v1/apps/{app}/functions/{function}/invocations");
    let batches = total / size;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (api, token, url, next, path) =
            (api.clone(), token.clone(), url.clone(), next.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&api).await;
            let items: Vec<Value> = (0..size).map(|_| json!({ "body": "x", "path": path })).collect();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < batches {
                post(&mut sender, &url, &token, json!({ "invocations": items })).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = started.elapsed().as_secs_f64();
    let n = batches * size;
    if !wait_for_drain {
        println!("invocations={n} accepted_in={accepted:.2}s ({:.0}/s)", n as f64 / accepted);
        return;
    }
    let mut sender = connect(&api).await;
    while pending(&mut sender).await > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed().as_secs_f64();
    println!(
        "invocations={n} accepted_in={accepted:.2}s ({:.0}/s) drained_in={drained:.2}s: {:.0} invocations/s end to end ({size} per request, {workers} clients)",
        n as f64 / accepted,
        n as f64 / drained
    );
}
