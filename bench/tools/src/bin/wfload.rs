//! Closed-loop load on workflow executions: CONNECTIONS clients, each on
//! its own keep-alive connection, start an execution and wait for its end
//! (`POST .../executions?wait=60s`), then start the next, for SECONDS.
//! Counts executions that ended SUCCEEDED; prints executions/s and the
//! end-to-end latency percentiles.
//! `wfload URL TOKEN SECONDS CONNECTIONS`
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url: hyper::Uri = args[1].parse().expect("url");
    let token = args[2].clone();
    let seconds: f64 = args[3].parse().expect("seconds");
    let connections: usize = args[4].parse().expect("connections");
    let authority = url.authority().expect("authority").to_string();
    let path = url.path_and_query().map(|p| p.to_string()).unwrap_or("/".into());
    let began = Instant::now();
    let stop = began + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (authority, path, token) = (authority.clone(), path.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(&authority).await.expect("connect");
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let (mut latencies, mut failed) = (Vec::new(), 0usize);
            while Instant::now() < stop {
                let req = Request::post(path.as_str())
                    .header("host", authority.as_str())
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(b"{\"input\": {}}")))
                    .unwrap();
                let sent = Instant::now();
                let ok = match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                        status.is_success()
                            && body.is_ok_and(|b| {
                                String::from_utf8_lossy(&b).contains("\"status\":\"SUCCEEDED\"")
                            })
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for t in tasks {
        let (l, f) = t.await.unwrap();
        all.extend(l);
        failed += f;
    }
    let took = began.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{:.0} executions/s ({} succeeded, {} failed, {} clients, {:.0} s), p50 {:.2} ms, p99 {:.2} ms",
        all.len() as f64 / took,
        all.len(),
        failed,
        connections,
        took,
        pct(0.5),
        pct(0.99)
    );
}
