//! Open-loop load at a fixed rate. Reports latency from the moment each
//! request is sent to the end of its response (`p50_ms`, `p99_ms`, …), and
//! separately the p99 from each request's *scheduled* send time
//! (`sched_p99_ms`), which also counts delays a stall imposes on later
//! requests. tokio's timer has 1 ms granularity, so the scheduled figure
//! carries up to ~1 ms of the load generator's own timer lateness.
//! `loadgen URL RATE SECONDS CONNECTIONS` prints one line of results.
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url: hyper::Uri = args[1].parse().expect("url");
    let rate: f64 = args[2].parse().expect("rate");
    let seconds: f64 = args[3].parse().expect("seconds");
    let connections: usize = args[4].parse().expect("connections");
    let authority = url.authority().expect("authority").to_string();
    let path = url.path_and_query().map(|p| p.to_string()).unwrap_or("/".into());
    let per_conn_interval = Duration::from_secs_f64(connections as f64 / rate);
    let total_per_conn = (rate * seconds / connections as f64) as usize;
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (authority, path) = (authority.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(&authority).await.expect("connect");
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            // Spread connections evenly over one interval.
            let offset = per_conn_interval.mul_f64(c as f64 / connections as f64);
            let mut latencies = Vec::with_capacity(total_per_conn);
            let mut scheduled_latencies = Vec::with_capacity(total_per_conn);
            let mut errors = 0usize;
            for i in 0..total_per_conn {
                let scheduled = start + offset + per_conn_interval.mul_f64(i as f64);
                tokio::time::sleep_until(scheduled.into()).await;
                let sent = Instant::now();
                let req = Request::get(path.as_str())
                    .header("host", authority.as_str())
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
                latencies.push(sent.elapsed());
                scheduled_latencies.push(scheduled.elapsed());
            }
            (latencies, scheduled_latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut scheduled = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, s, e) = t.await.unwrap();
        all.extend(l);
        scheduled.extend(s);
        errors += e;
    }
    scheduled.sort();
    let sched_p99 = scheduled[((scheduled.len() as f64 * 0.99) as usize).min(scheduled.len() - 1)].as_secs_f64() * 1000.0;
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "requests={} achieved_rps={:.0} errors={} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3} sched_p99_ms={:.3}",
        all.len(),
        all.len() as f64 / elapsed,
        errors,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        all.last().unwrap().as_secs_f64() * 1000.0,
        sched_p99
    );
}
