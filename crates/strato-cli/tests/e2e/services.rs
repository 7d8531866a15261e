//! Container services through the real binary and real runc: a busybox
//! httpd image serving on a route, from zero replicas, scaled out and in,
//! streaming, crashing, failing its liveness check, a deploy that never
//! becomes ready, and a kill -9 of the server.

use crate::oci_images::{Entry, busybox_layer, docker_archive, layer, require_containers, write};
use crate::support::{AppDir, Server, client, runc_list, wait_until};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// busybox's httpd serving `/www` with CGI scripts the tests drive: `env`
/// (its environment), `stream` (three events 300 ms apart), `slow` (one
/// second), `crash` (kills the server), `sicken`/`alive` (liveness).
pub fn web_layer() -> Vec<u8> {
    let cgi = |body: &str| format!("#!/bin/sh\n{body}\n").into_bytes();
    let env = cgi("printf 'Content-Type: text/plain\\r\\n\\r\\n'; env");
    let stream = cgi(
        "printf 'Content-Type: text/event-stream\\r\\n\\r\\n'\nfor i in 1 2 3; do printf 'data: %s\\n\\n' $i; sleep 0.3; done",
    );
    let slow = cgi("sleep 1; printf 'Content-Type: text/plain\\r\\n\\r\\nslow done\\n'");
    let crash = cgi("kill -9 $(cat /tmp/httpd.pid)");
    let sicken = cgi("touch /tmp/sick; printf 'Content-Type: text/plain\\r\\n\\r\\nsick\\n'");
    let alive = cgi(
        "if [ -f /tmp/sick ]; then printf 'Status: 500\\r\\n\\r\\n'; else printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'; fi",
    );
    // Answers an upgrade with 101, then echoes whatever comes.
    let upgrade = b"#!/bin/sh\nwhile read -r line; do [ -z \"$(printf '%s' \"$line\" | tr -d '\\r')\" ] && break; done\nprintf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'\nexec cat\n";
    layer(&[
        Entry::Symlink("bin/httpd", "busybox"),
        Entry::Symlink("bin/kill", "busybox"),
        Entry::Symlink("bin/tr", "busybox"),
        Entry::File("upgrade.sh", upgrade),
        Entry::Dir("www"),
        Entry::File("www/index.html", b"hello from web\n"),
        Entry::Dir("www/cgi-bin"),
        Entry::File("www/cgi-bin/env", &env),
        Entry::File("www/cgi-bin/stream", &stream),
        Entry::File("www/cgi-bin/slow", &slow),
        Entry::File("www/cgi-bin/crash", &crash),
        Entry::File("www/cgi-bin/sicken", &sicken),
        Entry::File("www/cgi-bin/alive", &alive),
    ])
}

/// A server with `web:1` imported: busybox httpd on `$PORT`, in the
/// background of a shell so a crash of httpd ends the container.
fn server_with_web() -> Server {
    require_containers();
    let server = Server::start();
    let archive = docker_archive("web:1", &[busybox_layer(), web_layer()], None);
    let path = write(server.data_dir.path(), "web.tar", &archive);
    server.cli_ok(&["image", "import", &path]);
    server
}

pub const COMMAND: &str = r#"command = ["sh", "-c", "echo web listening on $PORT; httpd -f -p $PORT -h /www & echo $! > /tmp/httpd.pid; wait $!"]"#;

fn services(server: &Server) -> Vec<Value> {
    client()
        .get(format!("{}/api/v1/services", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn replica_ids(server: &Server) -> Vec<String> {
    services(server)
        .iter()
        .flat_map(|s| s["replicas"].as_array().cloned().unwrap_or_default())
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn get(server: &Server, path: &str) -> (u16, String) {
    let resp = client().get(server.url(path)).send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

#[test]
fn a_service_scales_from_zero_streams_scales_out_and_back_in() {
    let server = server_with_web();
    let app = AppDir::new(&format!(
        "[app]\nname = \"shop\"\n[services.web]\nimage = \"web:1\"\n{COMMAND}\nroutes = [\"/*\"]\nport = 8081\nconcurrency = 1\nmax_replicas = 3\nidle = \"2s\"\nstop_timeout = \"1s\"\n"
    ));
    server.cli_ok(&["deploy", app.path()]);
    // The deploy proved a replica ready; idle, it stops.
    wait_until("scaled to zero", Duration::from_secs(15), || {
        replica_ids(&server).is_empty()
    });

    // The first request is held while a replica starts, then answered.
    let started = Instant::now();
    let (status, body) = get(&server, "/index.html");
    assert_eq!((status, body.as_str()), (200, "hello from web\n"));
    eprintln!("first request from zero: {:?}", started.elapsed());
    assert_eq!(replica_ids(&server).len(), 1);

    // The app sees who asked, its port and its name.
    let (status, env) = get(&server, "/cgi-bin/env");
    assert_eq!(status, 200, "{env}");
    for want in [
        "HTTP_X_FORWARDED_FOR=127.0.0.1",
        "HTTP_X_FORWARDED_PROTO=http",
        "PORT=8081",
        "STRATO_SERVICE=web",
    ] {
        assert!(env.contains(want), "{want} missing from {env}");
    }

    // A request is a span of its caller's trace: the app sees it as
    // `traceparent`, the answer names it in `traceresponse`.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = client()
        .get(server.url("/cgi-bin/env"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .unwrap();
    let answered = resp.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_string();
    let env = resp.text().unwrap();
    assert!(answered.starts_with(&format!("00-{trace}-")), "{answered}");
    assert!(
        env.contains(&format!("HTTP_TRACEPARENT={answered}")),
        "the app saw the request's span: {env}"
    );
    assert!(!answered.contains("00f067aa0ba902b7"), "a span of its own");

    // A streamed response arrives as the app writes it.
    let started = Instant::now();
    let mut resp = client().get(server.url("/cgi-bin/stream")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let mut first = [0u8; 9];
    resp.read_exact(&mut first).unwrap();
    let first_at = started.elapsed();
    assert_eq!(&first, b"data: 1\n\n");
    let mut rest = String::new();
    resp.read_to_string(&mut rest).unwrap();
    let all_at = started.elapsed();
    assert_eq!(rest, "data: 2\n\ndata: 3\n\n");
    assert!(
        all_at >= Duration::from_millis(600) && first_at + Duration::from_millis(400) < all_at,
        "the first event came at {first_at:?}, the last at {all_at:?}"
    );

    // Three slow requests at once, one per replica: out to three.
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = server.url("/cgi-bin/slow");
            std::thread::spawn(move || {
                let resp = client().get(url).send().unwrap();
                (resp.status().as_u16(), resp.text().unwrap())
            })
        })
        .collect();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && seen < 3 {
        seen = seen.max(replica_ids(&server).len());
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        assert_eq!(t.join().unwrap(), (200, "slow done\n".to_string()));
    }
    assert_eq!(seen, 3, "three replicas served the three requests");

    // Idle again: back to zero.
    wait_until("scaled in to zero", Duration::from_secs(20), || {
        replica_ids(&server).is_empty()
    });
    let status = &services(&server)[0];
    assert!(
        status["requests"]["requests"].as_u64().unwrap() >= 6,
        "{status}"
    );
    assert!(status["requests"]["p50_ms"].as_f64().is_some(), "{status}");
    // The same counters on /metrics, with the replica gauge back at zero.
    let ok =
        server.metric(r#"strato_service_requests_total{app="shop",service="web",class="2xx"}"#);
    assert!(ok >= 6.0, "{ok}");
    let count =
        server.metric(r#"strato_service_request_duration_seconds_count{app="shop",service="web"}"#);
    assert!(count >= ok, "{count}");
    assert_eq!(
        server.metric(r#"strato_service_replicas{app="shop",service="web"}"#),
        0.0
    );

    // Each replica was a run of trigger `service` with its output.
    let runs = server.runs_eventually("app=shop", 4);
    assert!(runs.len() >= 4, "{runs:?}");
    for run in &runs {
        assert_eq!(run["trigger"], "service", "{run}");
        assert_eq!(run["function"], "web", "{run}");
    }
    wait_until(
        "replica runs recorded as stopped",
        Duration::from_secs(10),
        || {
            server
                .runs("app=shop")
                .iter()
                .all(|r| r["status"] == "succeeded")
        },
    );
    assert!(
        server
            .log_texts("shop")
            .iter()
            .any(|l| l == "web listening on 8081")
    );
}

#[test]
fn crashes_and_liveness_failures_are_replaced_and_a_deploy_that_never_gets_ready_changes_nothing() {
    let server = server_with_web();
    let manifest = |command: &str| {
        format!(
            "[app]\nname = \"shop\"\n[services.web]\nimage = \"web:1\"\n{command}\nroutes = [\"/*\"]\nport = 8081\nmin_replicas = 1\nstop_timeout = \"1s\"\nliveness = {{ path = \"/cgi-bin/alive\" }}\n"
        )
    };
    let app = AppDir::new(&manifest(COMMAND));
    server.cli_ok(&["deploy", app.path()]);
    let first = replica_ids(&server);
    assert_eq!(first.len(), 1, "min_replicas = 1");
    assert_eq!(get(&server, "/index.html").0, 200);

    // The app crashes: another replica takes its place.
    let _ = client().get(server.url("/cgi-bin/crash")).send();
    wait_until("a replacement replica", Duration::from_secs(20), || {
        let ids = replica_ids(&server);
        ids.len() == 1 && ids != first
    });
    assert_eq!(get(&server, "/index.html").0, 200);
    let status = &services(&server)[0];
    assert!(
        status["last_failure"].as_str().unwrap().contains("exited"),
        "{status}"
    );
    let crashed = server.runs_eventually("app=shop&status=failed", 1);
    assert!(
        crashed[0]["error"].as_str().unwrap().contains("exited"),
        "{crashed:?}"
    );

    // It stops answering its liveness check: restarted.
    let second = replica_ids(&server);
    assert_eq!(get(&server, "/cgi-bin/sicken").0, 200);
    wait_until(
        "a restart after liveness failures",
        Duration::from_secs(30),
        || {
            let ids = replica_ids(&server);
            ids.len() == 1 && ids != second
        },
    );
    let status = &services(&server)[0];
    assert!(
        status["last_failure"]
            .as_str()
            .unwrap()
            .contains("liveness"),
        "{status}"
    );
    assert_eq!(get(&server, "/index.html").0, 200);

    // A revision whose replicas exit at once is refused with why; the
    // old one serves on.
    let serving = replica_ids(&server);
    app.rewrite(&manifest(
        r#"command = ["sh", "-c", "echo cannot find my config >&2; exit 3"]"#,
    ));
    let err = server.cli_err(&["deploy", app.path()]);
    assert!(err.contains("did not become ready"), "{err}");
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(err.contains("cannot find my config"), "{err}");
    assert_eq!(replica_ids(&server), serving);
    assert_eq!(get(&server, "/index.html").0, 200);

    // kill -9 of the server: its replica outlives it, and is gone once
    // it restarts; the service serves again.
    let state_dir = server.data_dir.path().join("runc");
    let mut server = server;
    server.kill9();
    assert!(runc_list(&state_dir).contains(&serving[0]));
    server.restart();
    wait_until("the old replica removed", Duration::from_secs(20), || {
        !runc_list(&state_dir).contains(&serving[0])
    });
    assert_eq!(get(&server, "/index.html").0, 200);
    let ids = replica_ids(&server);
    assert_eq!(ids.len(), 1);
    assert_ne!(ids, serving);
}

#[test]
fn a_rolling_deploy_under_load_answers_everything_and_upgrades_splice_through() {
    let server = server_with_web();
    let manifest = |version: u32| {
        format!(
            "[app]\nname = \"shop\"\n[services.web]\nimage = \"web:1\"\n{COMMAND}\nroutes = [\"/*\"]\nport = 8081\nmin_replicas = 2\nconcurrency = 4\nmax_replicas = 4\nstop_timeout = \"1s\"\nenv = {{ VERSION = \"v{version}\" }}\n"
        )
    };
    let app = AppDir::new(&manifest(1));
    server.cli_ok(&["deploy", app.path()]);
    assert_eq!(replica_ids(&server).len(), 2);

    // Steady load across a deploy of a new revision: every request is
    // answered 200, by the old revision and then by the new one only.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (server.url("/cgi-bin/env"), stop.clone());
            std::thread::spawn(move || {
                let client = client();
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = match client.get(&url).send() {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body = r.text().unwrap_or_default();
                            let version = body
                                .lines()
                                .find_map(|l| l.strip_prefix("VERSION="))
                                .unwrap_or("")
                                .to_string();
                            (status, version)
                        }
                        Err(e) => (0, e.to_string()),
                    };
                    answers.push((Instant::now(), answer));
                }
                answers
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let old = replica_ids(&server);
    app.rewrite(&manifest(2));
    server.cli_ok(&["deploy", app.path()]);
    let deployed = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers: Vec<_> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let failed: Vec<_> = answers.iter().filter(|(_, (s, _))| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert!(answers.iter().any(|(_, (_, v))| v == "v1"));
    assert!(answers.iter().any(|(_, (_, v))| v == "v2"));
    // Requests sent after the deploy returned meet the new revision only
    // (a little slack for those already on their way).
    let late = deployed + Duration::from_millis(200);
    assert!(
        answers
            .iter()
            .filter(|(at, _)| *at > late)
            .all(|(_, (_, v))| v == "v2")
    );
    eprintln!("{} requests across the deploy, none failed", answers.len());
    // The old replicas drained and stopped.
    wait_until("the old replicas stopped", Duration::from_secs(15), || {
        let ids = replica_ids(&server);
        old.iter().all(|o| !ids.contains(o))
    });

    // The CLI: the table, a service's logs, pinning its replica count.
    let table = server.cli_ok(&["services"]);
    assert!(
        table.contains("shop/web") && table.contains("ready"),
        "{table}"
    );
    let logs = server.cli_ok(&["services", "logs", "web"]);
    assert!(logs.contains("web listening on 8081"), "{logs}");
    let out = server.cli_ok(&["services", "scale", "shop/web", "3"]);
    assert!(out.contains("pinned at 3"), "{out}");
    wait_until("three replicas", Duration::from_secs(15), || {
        replica_ids(&server).len() == 3
    });
    server.cli_ok(&["services", "scale", "web", "auto"]);
    let err = server.cli_err(&["services", "scale", "nothing", "1"]);
    assert!(err.contains("no live service `nothing`"), "{err}");

    // An upgrade (WebSocket's handshake) through the gateway: 101, then
    // bytes both ways on the same connection.
    let chat = AppDir::new(
        "[app]\nname = \"chat\"\n[services.ws]\nimage = \"web:1\"\ncommand = [\"sh\", \"-c\", \"nc -ll -p $PORT -e /upgrade.sh\"]\nroutes = [\"/ws\"]\nport = 9000\n",
    );
    server.cli_ok(&["deploy", chat.path()]);
    let addr = server.gateway.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"ping 1\n"[..], b"a second, longer message\n"] {
        stream.write_all(message).unwrap();
        let mut echoed = vec![0u8; message.len()];
        stream.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, message);
    }
}

#[test]
fn a_replica_still_stopping_when_the_server_stops_is_stopped_too() {
    // An app that ignores SIGTERM and a long stop timeout: an idle
    // replica taken out of service is still stopping for 60 s.
    let mut server = server_with_web();
    let app = AppDir::new(
        "[app]\nname = \"slow\"\n[services.web]\nimage = \"web:1\"\ncommand = [\"sh\", \"-c\", \"trap '' TERM; httpd -f -p $PORT -h /www & wait\"]\nroutes = [\"/*\"]\nport = 8081\nidle = \"1s\"\nstop_timeout = \"60s\"\n",
    );
    server.cli_ok(&["deploy", app.path()]);
    wait_until(
        "the idle replica taken out",
        Duration::from_secs(15),
        || {
            replica_ids(&server).is_empty()
                && server.log().contains("stopping an idle service replica")
        },
    );
    let state = server.data_dir.path().join("runc");
    assert!(
        runc_list(&state).contains("running"),
        "still stopping: {}",
        runc_list(&state)
    );
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a short grace at shutdown"
    );
    assert!(
        !runc_list(&state).contains("running"),
        "no container outlives the server: {}",
        runc_list(&state)
    );
    let data = server.data_dir.path().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(&data)),
        "no mount outlives the server: {mounts}"
    );
}
