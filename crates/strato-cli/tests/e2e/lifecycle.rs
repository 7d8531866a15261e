//! Deploy, redeploy under load, restart without recompiling, destroy,
//! graceful shutdown, auth, and refusal of components that are not
//! `wasi:http/proxy` components.

use crate::support::{AppDir, Server, client, guest};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn manifest(greeting: &str) -> String {
    format!(
        "[app]\nname = \"life\"\n\n[functions.web]\ncomponent = \"{}\"\nroutes = [\"/life/*\"]\nenv = {{ GREETING = \"{greeting}\" }}\n",
        guest("kitchen")
    )
}

#[test]
fn deploy_redeploy_under_load_restart_and_destroy() {
    let mut server = Server::start();
    let app = AppDir::new(&manifest("v1"));
    let plan = server.cli_ok(&["plan", app.path()]);
    assert!(plan.contains("+ create function web"), "{plan}");
    let out = server.cli_ok(&["deploy", app.path()]);
    assert!(out.contains("revision 1"), "{out}");
    let url = server.url("/life/env?name=GREETING");
    assert_eq!(client().get(&url).send().unwrap().text().unwrap(), "v1");

    // Hammer the route from 4 threads while redeploying three times.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let seen_last = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, seen_last, url) =
                (stop.clone(), ok.clone(), seen_last.clone(), url.clone());
            std::thread::spawn(move || {
                let http = client();
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).send() {
                        Ok(r) if r.status() == 200 => {
                            let text = r.text().unwrap_or_default();
                            if text == "v4" {
                                seen_last.store(true, Ordering::Relaxed);
                            }
                            if !["v1", "v2", "v3", "v4"].contains(&text.as_str()) {
                                failures.push(format!("unexpected body {text:?}"));
                            }
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.push(format!("status {}", r.status())),
                        Err(e) => failures.push(format!("error {e}")),
                    }
                }
                failures
            })
        })
        .collect();
    for version in ["v2", "v3", "v4"] {
        std::thread::sleep(std::time::Duration::from_millis(200));
        app.rewrite(&manifest(version));
        let plan = server.cli_ok(&["plan", app.path()]);
        assert!(
            plan.contains("~ update function web") && plan.contains("env: [GREETING="),
            "{plan}"
        );
        server.cli_ok(&["deploy", app.path()]);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "requests failed during redeploys: {failures:?}"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "load was too light to mean anything"
    );
    assert!(
        seen_last.load(Ordering::Relaxed),
        "the last revision never answered"
    );
    let apps = server.cli_ok(&["apps", "--output", "json"]);
    let apps: serde_json::Value = serde_json::from_str(&apps).unwrap();
    assert_eq!(apps[0]["live_revision"], 4);

    // A restart serves the live revision again without compiling anything.
    assert!(server.metric("strato_wasm_compilations_total") >= 1.0);
    server.restart();
    assert_eq!(
        client()
            .get(server.url("/life/env?name=GREETING"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "v4"
    );
    assert_eq!(server.metric("strato_wasm_compilations_total"), 0.0);
    let plan = server.cli_ok(&["plan", app.path()]);
    assert!(plan.contains("no changes"), "{plan}");

    server.cli_ok(&["destroy", "life"]);
    assert_eq!(
        client()
            .get(server.url("/life/env?name=GREETING"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let apps = server.cli_ok(&["apps", "--output", "json"]);
    assert_eq!(apps.trim(), "[]");
    let err = server.cli_err(&["destroy", "life"]);
    assert!(err.contains("app `life` does not exist"), "{err}");
    // History stays after destroy.
    assert!(!server.runs_eventually("app=life", 1).is_empty());
}

#[test]
fn sigterm_finishes_requests_in_flight_and_keeps_their_runs() {
    let mut server = Server::start();
    let app = AppDir::new(&manifest("v1"));
    server.cli_ok(&["deploy", app.path()]);
    let url = server.url("/life/sleep?ms=1500");
    let request = std::thread::spawn(move || {
        let r = client().get(url).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    });
    std::thread::sleep(std::time::Duration::from_millis(400));
    let mut child = server.signal_stop();
    let (status, body) = request.join().unwrap();
    assert_eq!((status, body.as_str()), (200, "slept\n"));
    assert!(child.wait().unwrap().success());
    // New connections are refused once it has stopped.
    assert!(client().get(server.url("/life/")).send().is_err());
    // The run was flushed before exit: it is there after a restart.
    let mut server = server;
    server.restart_after_exit();
    let runs = server.runs_eventually("app=life", 1);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "succeeded");
}

#[test]
fn control_api_needs_a_token_and_app_tokens_are_scoped() {
    let server = Server::start();
    let app = AppDir::new(&manifest("v1"));
    server.cli_ok(&["deploy", app.path()]);
    let http = client();
    let r = http
        .get(format!("{}/api/v1/apps", server.api))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/api/v1/apps", server.api))
        .bearer_auth("wrong")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        http.get(format!("{}/api/v1/health", server.api))
            .send()
            .unwrap()
            .status(),
        200
    );

    // The token a run gets works for its own app only.
    let app_token = http
        .get(server.url("/life/env?name=STRATO_TOKEN"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(app_token.starts_with("stk_app.life."), "{app_token}");
    let r = http
        .get(format!("{}/api/v1/runs?app=life", server.api))
        .bearer_auth(&app_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/api/v1/runs?app=other", server.api))
        .bearer_auth(&app_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .delete(format!("{}/api/v1/apps/life", server.api))
        .bearer_auth(&app_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!(
            "{}/api/v1/apps/life/functions/web/invoke",
            server.api
        ))
        .bearer_auth(&app_token)
        .header("x-strato-path", "/life/env?name=GREETING")
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "v1");

    // The token file is readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_dir.path().join("admin.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn components_of_the_wrong_kind_are_refused_naming_the_function() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let core_module = dir.path().join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let text_file = dir.path().join("notes.wasm");
    std::fs::write(&text_file, b"hello, I am not wasm").unwrap();
    let cases = [
        (
            core_module.display().to_string(),
            "is a core WebAssembly module, not a component",
        ),
        (text_file.display().to_string(), "is not a WebAssembly file"),
        (
            guest("cli-only"),
            "does not target the wasi:http/proxy world",
        ),
    ];
    for (component, expected) in cases {
        let app = AppDir::new(&format!(
            "[app]\nname = \"bad\"\n\n[functions.broken]\ncomponent = \"{component}\"\nroutes = [\"/bad\"]\n"
        ));
        let err = server.cli_err(&["deploy", app.path()]);
        assert!(err.contains("function `broken`: component"), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(
            err.contains("strato.toml:5:"),
            "the error points at the component line: {err}"
        );
    }
    assert_eq!(
        server.cli_ok(&["apps", "--output", "json"]).trim(),
        "[]",
        "nothing was deployed"
    );
}

#[test]
fn up_builds_deploys_streams_logs_and_redeploys_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = |greeting: &str| {
        format!(
            "[app]\nname = \"dev\"\n\n[functions.web]\ncomponent = \"k.wasm\"\nbuild = \"cp '{}' k.wasm\"\nroutes = [\"/dev/*\"]\nenv = {{ GREETING = \"{greeting}\" }}\n",
            guest("kitchen")
        )
    };
    std::fs::write(dir.path().join("strato.toml"), manifest("first")).unwrap();
    let out_path = dir.path().join("up.out");
    let mut child = std::process::Command::new(crate::support::strato_bin())
        .args([
            "up",
            "--http",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--s3",
            "127.0.0.1:0",
            "--registry",
            "127.0.0.1:0",
        ])
        .arg(dir.path())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        crate::support::wait_until(what, std::time::Duration::from_secs(30), check)
    };
    let endpoints = dir.path().join(".strato/endpoints.json");
    wait_for("the embedded server", &|| endpoints.exists());
    let endpoints: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&endpoints).unwrap()).unwrap();
    let gateway = endpoints["gateway"].as_str().unwrap().to_string();
    let greeting = || {
        client()
            .get(format!("{gateway}/dev/env?name=GREETING"))
            .send()
            .ok()
            .filter(|r| r.status() == 200)
            .and_then(|r| r.text().ok())
    };
    wait_for("the first deploy", &|| {
        greeting().as_deref() == Some("first")
    });
    assert!(dir.path().join("k.wasm").exists(), "the build command ran");

    std::thread::sleep(std::time::Duration::from_millis(600));
    std::fs::write(dir.path().join("strato.toml"), manifest("second")).unwrap();
    wait_for("the redeploy", &|| greeting().as_deref() == Some("second"));

    client()
        .get(format!("{gateway}/dev/log?n=1"))
        .send()
        .unwrap();
    wait_for("streamed logs", &|| {
        std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .contains("stdout line 0")
    });
    let out = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        out.contains(&format!("{gateway}/dev/*")),
        "URLs are printed: {out}"
    );

    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn credentials_are_written_before_the_ports_accept_connections() {
    // A script that starts the server and reads the S3 key as soon as the
    // API answers must find it. The port is picked free here and handed
    // over; if someone takes it in between, the server exits and the test
    // tries another.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = format!("127.0.0.1:{port}");
        let mut child = std::process::Command::new(crate::support::strato_bin())
            .args([
                "server",
                "--http",
                "127.0.0.1:0",
                "--s3",
                "127.0.0.1:0",
                "--registry",
                "127.0.0.1:0",
                "--api",
                &api,
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let connected = loop {
            if std::net::TcpStream::connect(&api).is_ok() {
                break true;
            }
            if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        let credentials = std::fs::read_to_string(dir.path().join("s3.credentials"));
        let _ = child.kill();
        let _ = child.wait();
        if !connected {
            continue;
        }
        let credentials = credentials.expect("s3.credentials exists once the port accepts");
        assert!(credentials.contains("aws_access_key_id"), "{credentials}");
        return;
    }
    panic!("the server did not start on any of 5 ports");
}
