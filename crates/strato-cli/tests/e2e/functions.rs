//! Function behaviours through the gateway: hello, echo, panic, timeout,
//! memory limit, outbound HTTP allowed and denied, env, logging,
//! concurrency limit, and a third-party `wasmtime serve` component.

use crate::support::{AppDir, Server, client, guest, wait_until};

const TEN_SECONDS: std::time::Duration = std::time::Duration::from_secs(10);
use std::io::{Read, Write};
use std::net::TcpListener;

/// A tiny HTTP server on 127.0.0.1 answering every request with `body`.
fn upstream(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn kitchen_manifest(allowed_port: u16) -> String {
    format!(
        r#"[app]
name = "kitchen"

[functions.kitchen]
component = "{}"
routes = ["/k/*"]
env = {{ GREETING = "hej" }}
memory = "32MiB"
timeout = "1s"
allowed_outbound_hosts = ["http://127.0.0.1:{allowed_port}"]

[functions.narrow]
component = "{}"
routes = ["/narrow/*"]
concurrency = 1
"#,
        guest("kitchen"),
        guest("kitchen")
    )
}

fn deployed_kitchen(allowed_port: u16) -> (Server, AppDir) {
    let server = Server::start_with(&["--queue-wait", "300ms"]);
    let app = AppDir::new(&kitchen_manifest(allowed_port));
    server.cli_ok(&["deploy", app.path()]);
    (server, app)
}

fn run_of(server: &Server, run_id: &str) -> serde_json::Value {
    let mut run = None;
    wait_until(&format!("run {run_id} to be recorded"), TEN_SECONDS, || {
        let r = client()
            .get(format!("{}/api/v1/runs/{run_id}", server.api))
            .bearer_auth(&server.token)
            .send()
            .unwrap();
        run = (r.status() == 200).then(|| r.json().unwrap());
        run.is_some()
    });
    run.unwrap()
}

fn run_id(response: &reqwest::blocking::Response) -> String {
    response.headers()["x-strato-run-id"]
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn hello_echo_and_env() {
    let (server, _app) = deployed_kitchen(1);
    let http = client();

    let r = http.get(server.url("/k/anything?x=1")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "kitchen GET /k/anything?x=1\n");
    assert_eq!(
        http.get(server.url("/nowhere")).send().unwrap().status(),
        404
    );

    // A large body streams through the guest and back unchanged.
    let body: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let r = http
        .post(server.url("/k/echo"))
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), body.as_slice());

    let env = |name: &str| {
        http.get(server.url(&format!("/k/env?name={name}")))
            .send()
            .unwrap()
    };
    assert_eq!(env("GREETING").text().unwrap(), "hej");
    assert_eq!(env("STRATO_APP").text().unwrap(), "kitchen");
    assert_eq!(env("STRATO_API").text().unwrap(), server.api);
    let r = env("STRATO_RUN_ID");
    let id = run_id(&r);
    assert_eq!(r.text().unwrap(), id, "each run sees its own id");
    assert_eq!(
        env("HOME").text().unwrap(),
        "<unset>",
        "the host's environment does not leak"
    );
}

#[test]
fn panic_is_a_failed_run_with_the_message() {
    let (server, _app) = deployed_kitchen(1);
    let r = client().get(server.url("/k/panic")).send().unwrap();
    assert_eq!(r.status(), 500);
    let run = run_of(&server, &run_id(&r));
    assert_eq!(run["status"], "failed");
    let error = run["error"].as_str().unwrap();
    assert!(error.contains("kitchen panicked on purpose"), "{error}");
    assert!(error.contains("unreachable"), "{error}");
    assert_eq!(error.matches("wasm trap").count(), 1, "{error}");
    // The server survives and serves the next request.
    assert_eq!(
        client().get(server.url("/k/")).send().unwrap().status(),
        200
    );
}

#[test]
fn endless_loop_times_out_with_504() {
    let (server, _app) = deployed_kitchen(1);
    let started = std::time::Instant::now();
    let r = client().get(server.url("/k/loop")).send().unwrap();
    assert_eq!(r.status(), 504);
    let elapsed = started.elapsed();
    assert!(
        elapsed.as_millis() >= 1000 && elapsed.as_millis() < 3000,
        "{elapsed:?}"
    );
    let run = run_of(&server, &run_id(&r));
    assert_eq!(run["status"], "timed_out");
    assert_eq!(run["error"], "timed out after 1s");
}

#[test]
fn memory_limit_fails_the_run() {
    let (server, _app) = deployed_kitchen(1);
    let ok = client().get(server.url("/k/hog?mb=8")).send().unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().unwrap(), "held 8 MiB\n");
    let r = client().get(server.url("/k/hog?mb=64")).send().unwrap();
    assert_eq!(r.status(), 500);
    let run = run_of(&server, &run_id(&r));
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .starts_with("memory limit exceeded (32MiB)"),
        "{run}"
    );
    assert_eq!(run["memory_limit_bytes"], 32 << 20);
}

#[test]
fn outbound_http_is_allowed_only_to_listed_hosts() {
    let allowed = upstream("from upstream");
    let denied = upstream("should not be reached");
    let (server, _app) = deployed_kitchen(allowed);

    let r = client()
        .get(server.url(&format!("/k/fetch?url=http://127.0.0.1:{allowed}/x")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "upstream 200: from upstream");

    let r = client()
        .get(server.url(&format!("/k/fetch?url=http://127.0.0.1:{denied}/x")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 502);
    let id = run_id(&r);
    assert!(r.text().unwrap().contains("HttpRequestDenied"));
    run_of(&server, &id);
    let logs = server.cli_ok(&["logs", "kitchen/kitchen", "--run", &id]);
    assert!(
        logs.contains(&format!(
            "outbound request to http://127.0.0.1:{denied} denied"
        )),
        "{logs}"
    );
    assert!(logs.contains(&format!("stderr outbound request to http://127.0.0.1:{denied}/x failed: ErrorCode::HttpRequestDenied")), "{logs}");
}

#[test]
fn stdout_and_stderr_are_captured_line_by_line() {
    let (server, _app) = deployed_kitchen(1);
    let r = client().get(server.url("/k/log?n=3")).send().unwrap();
    assert_eq!(r.status(), 200);
    let id = run_id(&r);
    run_of(&server, &id);
    // A name nothing has: an error that says so, not empty output.
    let err = server.cli_err(&["logs", "kitchn"]);
    assert!(
        err.contains("no function or task `kitchn` is deployed or has run"),
        "{err}"
    );
    // `strato apps` keeps its columns apart (APP REVISION FUNCTIONS DEPLOYED).
    let apps = server.cli_ok(&["apps"]);
    let row: Vec<&str> = apps
        .lines()
        .find(|l| l.starts_with("kitchen "))
        .unwrap_or_else(|| panic!("{apps}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[..3], ["kitchen", "1", "2"], "{apps}");
    let out = server.cli_ok(&["logs", "kitchen", "--run", &id, "--output", "json"]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["stream"].as_str().unwrap().to_string(),
                l["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for i in 0..3 {
        assert!(
            texts.contains(&("stdout".into(), format!("stdout line {i}"))),
            "{texts:?}"
        );
        assert!(
            texts.contains(&("stderr".into(), format!("stderr line {i}"))),
            "{texts:?}"
        );
    }
    assert!(lines.iter().all(|l| l["run_id"] == id.as_str()));
}

#[test]
fn over_concurrency_waits_then_answers_429() {
    let (server, _app) = deployed_kitchen(1);
    let url = server.url("/narrow/sleep?ms=1500");
    let first = std::thread::spawn(move || client().get(url).send().unwrap().status());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let r = client()
        .get(server.url("/narrow/sleep?ms=10"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(
        started.elapsed().as_millis() >= 250,
        "it waited the bounded time first"
    );
    assert_eq!(first.join().unwrap(), 200);
    // Once the slot is free, requests run again.
    assert_eq!(
        client()
            .get(server.url("/narrow/sleep?ms=10"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let throttled = server.runs_eventually("status=throttled", 1);
    assert_eq!(throttled.len(), 1);
}

#[test]
fn runs_record_trigger_cold_start_and_billing() {
    let (server, _app) = deployed_kitchen(1);
    for _ in 0..2 {
        assert_eq!(
            client().get(server.url("/k/")).send().unwrap().status(),
            200
        );
    }
    let out = server.cli_ok(&[
        "invoke",
        "kitchen/kitchen",
        "--path",
        "/k/echo",
        "-X",
        "POST",
        "--data",
        "ping",
    ]);
    assert_eq!(out, "ping");
    let runs = server.runs_eventually("app=kitchen&function=kitchen", 3);
    assert_eq!(runs.len(), 3);
    // Newest first: invoke, then the two gateway runs.
    assert_eq!(runs[0]["trigger"], "invoke");
    assert_eq!(runs[2]["trigger"], "http");
    assert_eq!(runs[2]["cold_start"], true);
    assert_eq!(runs[1]["cold_start"], false);
    for r in &runs {
        assert_eq!(r["status"], "succeeded");
        assert_eq!(r["revision"], 1);
        assert!(r["billed_ms"].as_i64().unwrap() >= 1);
        assert_eq!(
            r["billed_ms"].as_i64().unwrap(),
            (r["duration_us"].as_i64().unwrap() + 999) / 1000
        );
    }
    let table = server.cli_ok(&["runs", "--app", "kitchen", "--status", "succeeded"]);
    assert_eq!(table.lines().count(), 4, "{table}");
    let json = server.cli_ok(&["runs", "--function", "narrow", "--output", "json"]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&json)
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_plain_wasmtime_serve_component_runs_unchanged() {
    let server = Server::start();
    let app = AppDir::new(&format!(
        "[app]\nname = \"third-party\"\n\n[functions.wstd]\ncomponent = \"{}\"\nroutes = [\"/*\"]\n",
        guest("wstd-hello")
    ));
    server.cli_ok(&["deploy", app.path()]);
    let r = client().get(server.url("/any/path")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "hello from wstd at /any/path\n");
}

#[test]
fn logs_follow_streams_new_lines_as_they_arrive() {
    let (server, _app) = deployed_kitchen(1);
    let out_path = server.data_dir.path().join("follow.out");
    let mut follower = std::process::Command::new(crate::support::strato_bin())
        .args(["logs", "kitchen/kitchen", "-f"])
        .env("STRATO_DATA_DIR", server.data_dir.path())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    for n in 1..=2 {
        let r = client()
            .get(server.url(&format!("/k/log?n={n}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let want = format!("stderr line {}", n - 1);
        wait_until(&format!("`logs -f` to print {want:?}"), TEN_SECONDS, || {
            std::fs::read_to_string(&out_path).unwrap().contains(&want)
        });
    }
    assert!(
        follower.try_wait().unwrap().is_none(),
        "follow keeps running"
    );
    follower.kill().unwrap();
    let _ = follower.wait();
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        text.matches("stdout line 0").count(),
        2,
        "each line printed once: {text}"
    );
}

#[test]
fn busy_guests_do_not_starve_other_requests() {
    let (server, _app) = deployed_kitchen(1);
    // More endless loops (1 s timeout each) than the server has worker
    // threads. A starved request would be answered only once a loop is
    // stopped at its timeout and frees a thread; a served one is answered
    // while every loop still runs. (Judged by that, not by a fixed number
    // of milliseconds: with other tests loading the two cores, the quick
    // answer took 400-600 ms, and did so before this change too.)
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let url = server.url("/k/loop");
            std::thread::spawn(move || client().get(url).send().unwrap().status())
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let r = client().get(server.url("/k/quick")).send().unwrap();
    let waited = started.elapsed();
    assert_eq!(r.status(), 200);
    let loops_running = loops.iter().filter(|l| !l.is_finished()).count();
    assert_eq!(
        loops_running, 4,
        "a quick request waited {waited:?}, until a looping guest was stopped"
    );
    for l in loops {
        assert_eq!(l.join().unwrap(), 504);
    }
}
