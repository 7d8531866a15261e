//! S3 load with the real AWS SDK, and the local floors to compare with.
//!
//!   s3bench put   ENDPOINT ID SECRET BUCKET CONC SECS    4 KiB PUTs/s
//!   s3bench get   ENDPOINT ID SECRET BUCKET CONC SECS    4 KiB GETs/s (of keys put first)
//!       (the SDK's defaults: a CRC32 with every PUT, checksum mode on GETs,
//!       which it validates); `put-plain` and `get-plain` turn both off.
//!   s3bench presign-put ENDPOINT ID SECRET BUCKET KEY    prints a presigned PUT URL
//!   s3bench fsync DIR CONC SECS                          write 4 KiB + fsync + rename
//!   s3bench events ENDPOINT ID SECRET BUCKET RATE COUNT API TOKEN FUNCTION
//!       PUTs at a fixed rate, then reads the function's logs
//!       ("event KEY started_us N") and prints PUT-ack to function-start latency.
use aws_sdk_s3::primitives::ByteStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn client(endpoint: &str, id: &str, secret: &str) -> aws_sdk_s3::Client {
    client_with(endpoint, id, secret, true)
}

fn client_with(endpoint: &str, id: &str, secret: &str, checksums: bool) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
    let (request, response) = if checksums {
        (RequestChecksumCalculation::WhenSupported, ResponseChecksumValidation::WhenSupported)
    } else {
        (RequestChecksumCalculation::WhenRequired, ResponseChecksumValidation::WhenRequired)
    };
    let config = aws_sdk_s3::Config::builder()
        .request_checksum_calculation(request)
        .response_checksum_validation(response)
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(id, secret, None, None, "bench"))
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

async fn closed_loop(
    s3: aws_sdk_s3::Client,
    bucket: String,
    op: &'static str,
    conc: usize,
    secs: u64,
) {
    let body = bytes::Bytes::from(vec![b'x'; 4096]);
    if op == "get" {
        for i in 0..256 {
            s3.put_object().bucket(&bucket).key(format!("get/{i}")).body(ByteStream::from(body.clone())).send().await.unwrap();
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // Warm-up, then measure.
    let start = Instant::now() + Duration::from_secs(1);
    for w in 0..conc {
        let (s3, bucket, body, stop, errors) = (s3.clone(), bucket.clone(), body.clone(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = if op == "put" {
                    s3.put_object().bucket(&bucket).key(format!("put/{w}/{i}")).body(ByteStream::from(body.clone())).send().await.is_ok()
                } else {
                    match s3.get_object().bucket(&bucket).key(format!("get/{}", i % 256)).send().await {
                        Ok(o) => o.body.collect().await.is_ok(),
                        Err(_) => false,
                    }
                };
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                if t >= start {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                i += 1;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(1 + secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{op} ops/s {:.0} p50_ms {:.2} p99_ms {:.2} errors {}",
        all.len() as f64 / secs as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        errors.load(Ordering::Relaxed)
    );
}

fn fsync_floor(dir: &str, conc: usize, secs: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..conc)
        .map(|w| {
            let (dir, stop, count) = (dir.to_string(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                use std::io::Write;
                let data = vec![b'x'; 4096];
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let tmp = format!("{dir}/{w}-{i}.tmp");
                    let mut f = std::fs::File::create(&tmp).unwrap();
                    f.write_all(&data).unwrap();
                    f.sync_all().unwrap();
                    std::fs::rename(&tmp, format!("{dir}/{w}-{i}")).unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    println!("fsync ops/s {:.0}", count.load(Ordering::Relaxed) as f64 / secs as f64);
    let _ = std::fs::remove_dir_all(dir);
}

#[allow(clippy::too_many_arguments)]
async fn events(s3: aws_sdk_s3::Client, bucket: &str, rate: u64, count: u64, api: &str, token: &str, function: &str) {
    let mut acked = std::collections::HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for i in 0..count {
        tick.tick().await;
        let key = format!("ev/{i}.txt");
        s3.put_object().bucket(bucket).key(&key).body(ByteStream::from_static(b"event")).send().await.unwrap();
        acked.insert(key, now_us());
    }
    // Read the function's log lines through the control API (curl keeps
    // this tool free of another HTTP client).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut started = std::collections::HashMap::new();
    while started.len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let out = std::process::Command::new("curl")
            .args(["-fsS", "-H", &format!("authorization: Bearer {token}")])
            .arg(format!("{api}/api/v1/logs?function={function}&limit=100000"))
            .output()
            .unwrap();
        let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        for l in lines {
            let text = l["text"].as_str().unwrap_or_default();
            let mut parts = text.split(' ');
            if let (Some("event"), Some(key), Some("started_us"), Some(us)) = (parts.next(), parts.next(), parts.next(), parts.next()) {
                if let Ok(us) = us.parse::<i64>() {
                    started.entry(key.to_string()).or_insert(us);
                }
            }
        }
    }
    let mut lat: Vec<f64> = acked
        .iter()
        .filter_map(|(k, ack)| started.get(k).map(|s| (*s - *ack) as f64 / 1000.0))
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "events delivered {}/{} ack_to_start_ms p50 {:.2} p99 {:.2} max {:.2} (negative: the function started before the PUT's response reached the client)",
        lat.len(), count, percentile(&lat, 0.5), percentile(&lat, 0.99), lat.last().copied().unwrap_or(f64::NAN)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let a = |i: usize| args.get(i).cloned().unwrap_or_else(|| panic!("missing argument {i}; see the header of s3bench.rs"));
    match a(1).as_str() {
        op @ ("put" | "get" | "put-plain" | "get-plain") => {
            let s3 = client_with(&a(2), &a(3), &a(4), !op.ends_with("-plain"));
            let op: &'static str = if op.starts_with("put") { "put" } else { "get" };
            closed_loop(s3, a(5), op, a(6).parse().unwrap(), a(7).parse().unwrap()).await
        }
        "presign-put" => {
            let s3 = client(&a(2), &a(3), &a(4));
            let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(3600)).unwrap();
            let url = s3.put_object().bucket(a(5)).key(a(6)).presigned(config).await.unwrap();
            println!("{}", url.uri());
        }
        "fsync" => fsync_floor(&a(2), a(3).parse().unwrap(), a(4).parse().unwrap()),
        "events" => {
            let s3 = client(&a(2), &a(3), &a(4));
            events(s3, &a(5), a(6).parse().unwrap(), a(7).parse().unwrap(), &a(8), &a(9), &a(10)).await
        }
        other => panic!("unknown mode {other}"),
    }
}
