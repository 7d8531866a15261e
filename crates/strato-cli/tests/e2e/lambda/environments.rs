//! Execution environments: kept warm, reaped when idle, one per concurrent
//! invocation, never left behind by a crash.

use crate::support::*;
use std::time::Duration;

#[test]
fn min_warm_environments_wait_ready_and_idle_ones_are_reaped() {
    let server = Server::start();
    let manifest = |extra: &str| {
        format!(
            "[app]\nname = \"pw\"\n[functions.api]\nruntime = \"python3.11\"\nhandler = \"app.handler\"\ncode = \"src\"\nroutes = [\"/w\"]\n{extra}"
        )
    };
    let app = AppDir::new(&manifest("min_warm = 2\n"));
    app.write(
        "src/app.py",
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": \"ok\"}\n",
    );
    server.cli_ok(&["deploy", app.path()]);
    let state = server.data_dir.path().join("runc");
    let running = || {
        runc_list(&state)
            .lines()
            .filter(|l| l.contains("running"))
            .count()
    };
    wait_until("two warm environments", Duration::from_secs(30), || {
        running() == 2
    });
    // A request finds one ready: not a cold start.
    assert_eq!(client().get(server.url("/w")).send().unwrap().status(), 200);
    let runs = server.runs_eventually("app=pw", 1);
    assert_eq!(runs[0]["cold_start"], false, "{runs:?}");
    assert_eq!(running(), 2);

    // Redeployed without min_warm and with a short idle: the old
    // environments go with the old revision, the one a request starts is
    // reaped once idle.
    app.rewrite(&manifest("idle = \"1s\"\n"));
    server.cli_ok(&["deploy", app.path()]);
    wait_until(
        "the old environments to stop",
        Duration::from_secs(20),
        || running() == 0,
    );
    assert_eq!(client().get(server.url("/w")).send().unwrap().status(), 200);
    assert_eq!(running(), 1);
    wait_until(
        "the idle environment to be reaped",
        Duration::from_secs(20),
        || running() == 0,
    );
}

const CONCURRENCY_APP: &str = r#"[app]
name = "pc"

[functions.nap]
runtime = "python3.11"
handler = "app.nap"
code = "src"
routes = ["/nap"]
concurrency = 2
"#;

const NAP_HANDLER: &str = r#"import time, uuid

BOOT = str(uuid.uuid4())

def nap(event, context):
    started = time.time()
    time.sleep(1.5)
    return {"boot": BOOT, "started": started, "ended": time.time()}
"#;

/// `concurrency = 2`: two requests at once get two environments; a third
/// waits for one of them (the server's queue wait is longer than a nap)
/// and runs warm on it.
#[test]
fn n_parallel_requests_get_n_environments_and_the_next_one_waits() {
    let server = Server::start_with(&["--queue-wait", "10s"]);
    let app = AppDir::new(CONCURRENCY_APP);
    app.write("src/app.py", NAP_HANDLER);
    server.cli_ok(&["deploy", app.path()]);
    let url = server.url("/nap");
    let answers: Vec<serde_json::Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|i| {
                let url = url.clone();
                s.spawn(move || {
                    // The third leaves last, so it is the one that waits.
                    std::thread::sleep(std::time::Duration::from_millis(300 * (i / 2)));
                    client().get(url).send().unwrap().json().unwrap()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let boots: std::collections::HashSet<&str> = answers
        .iter()
        .map(|a| a["boot"].as_str().unwrap())
        .collect();
    assert_eq!(boots.len(), 2, "two environments: {answers:?}");
    let first_end = answers[..2]
        .iter()
        .map(|a| a["ended"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    assert!(
        answers[2]["started"].as_f64().unwrap() >= first_end,
        "the third started only once a slot was free: {answers:?}"
    );
    let runs = server.runs_eventually("app=pc&function=nap", 3);
    let cold = runs.iter().filter(|r| r["cold_start"] == true).count();
    assert_eq!(cold, 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");

    // A client that hangs up mid-invocation does not cancel the run: it
    // completes, is recorded, and its environment stays warm.
    let hung_up = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .get(&url)
        .send();
    assert!(hung_up.is_err(), "the client gave up before the answer");
    let runs = server.runs_eventually("app=pc&function=nap", 4);
    assert!(
        runs.len() == 4 && runs.iter().all(|r| r["status"] == "succeeded"),
        "the abandoned run completed: {runs:?}"
    );
    let next: serde_json::Value = client().get(&url).send().unwrap().json().unwrap();
    assert!(
        boots.contains(next["boot"].as_str().unwrap()),
        "still the same two environments: {next} {answers:?}"
    );
    let runs = server.runs_eventually("app=pc&function=nap", 5);
    assert_eq!(runs.iter().filter(|r| r["cold_start"] == true).count(), 2);
}

const CRASH_APP: &str = r#"[app]
name = "pk"

[functions.api]
runtime = "python3.11"
handler = "app.api"
code = "src"
routes = ["/api"]

[functions.slow]
runtime = "python3.11"
handler = "app.slow"
code = "src"
routes = ["/slow"]
"#;

const CRASH_HANDLERS: &str = r#"import time

def api(event, context):
    return "warm"

def slow(event, context):
    time.sleep(2)
    print("slow done", event.get("body"))
"#;

/// kill -9 with a warm environment and an async invocation running: the
/// next server removes the dead one's containers and finishes the work.
#[test]
fn kill_9_with_warm_environments_leaves_no_container_and_loses_no_invocation() {
    let mut server = Server::start();
    let app = AppDir::new(CRASH_APP);
    app.write("src/app.py", CRASH_HANDLERS);
    server.cli_ok(&["deploy", app.path()]);
    assert_eq!(
        client().get(server.url("/api")).send().unwrap().status(),
        200
    );
    let accepted = client()
        .post(server.url("/slow"))
        .header("X-Strato-Invocation-Type", "Event")
        .body("job-7")
        .send()
        .unwrap();
    assert_eq!(accepted.status(), 202);
    wait_until("the slow run to start", Duration::from_secs(30), || {
        server.metric("strato_runs_in_flight") >= 1.0
    });
    std::thread::sleep(Duration::from_millis(300));
    let state = server.data_dir.path().join("runc");
    let ids = |listing: &str| -> Vec<String> {
        listing
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    let before = ids(&runc_list(&state));
    assert!(
        before.len() >= 2,
        "a warm and a busy environment: {before:?}"
    );

    server.kill9();
    server.restart_after_exit();
    // Removed in the background as the server starts.
    wait_until(
        "the dead server's containers to be removed",
        Duration::from_secs(20),
        || {
            let after = ids(&runc_list(&state));
            before.iter().all(|id| !after.contains(id))
        },
    );
    wait_until(
        "the interrupted invocation to complete",
        Duration::from_secs(120),
        || {
            server
                .log_texts("pk")
                .iter()
                .any(|l| l == "slow done job-7")
        },
    );
    let runs = server.runs_eventually("app=pk&function=slow&status=succeeded", 1);
    assert_eq!(runs[0]["trigger"], "async", "{runs:?}");
}
