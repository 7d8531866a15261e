//! The dashboard in a real browser: headless Chromium driven by Selenium
//! logs in, sees an app's runs, reads a failed run's error and log, watches
//! a task's live tail receive new lines and cancels it, follows a chain on one trace
//! waterfall, redrives a dead-letter queue, uploads, downloads and deletes
//! an object, sees a workflow's graph; an app token sees only its app; a
//! forged cross-site POST is refused. Screenshots of the screens go to
//! `$CARGO_TARGET_DIR/dashboard-screenshots` (or a temp dir) for review.

use crate::support::{AppDir, CHROME_PY, client, guest, wait_until};
use crate::tasks::server_with_busybox;
use serde_json::{Value, json};
use std::time::Duration;

const SCRIPT: &str = r##"
import json, os, time
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

dash = os.environ["DASH"]
shots = os.environ["SHOTS"]
env = json.loads(os.environ["FIXTURES"])

# Another site: a page that posts to the dashboard on its own.
forged = {"html": """<!doctype html><form id=f method=post action="%s/queues/shop/dead/redrive"></form>
<script>document.getElementById('f').submit()</script>""" % dash}
# "localhost" is another site than 127.0.0.1 to the browser.
evil = f"http://localhost:{serve_page(forged)}/"

driver = chrome()
wait = WebDriverWait(driver, 20)

def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))

def text(css):
    return driver.find_element(By.CSS_SELECTOR, css).text

def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        shot("failed")
        raise SystemExit(1)

def login(token):
    driver.get(dash + "/")
    if "/login" not in driver.current_url:
        driver.find_element(By.CSS_SELECTOR, "header form button").click()
        wait.until(lambda d: "/login" in d.current_url)
        driver.get(dash + "/")
    check("an anonymous visit goes to the login page", "/login" in driver.current_url)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login").click()
    wait.until(lambda d: "/login" not in d.current_url)

try:
    login(env["admin_token"])
    check("the admin lands on the overview", driver.find_element(By.ID, "who").text == "admin")
    check("the overview counts runs", int(text("#total-runs")) >= 3)
    shot("overview")

    driver.get(dash + "/runs?app=shop")
    check("the app's runs are listed", "shop / web" in text("#runs"))
    shot("runs")

    driver.get(dash + "/runs/" + env["failed_run"])
    check("a failed run shows its status", text("#run-status") == "failed")
    check("and its error", len(text("#run-error")) > 0)
    wait.until(lambda d: "panicked on purpose" in d.find_element(By.ID, "log").text)
    check("and its log", True)
    shot("failed-run")

    driver.get(dash + "/runs/" + env["task_run"])
    wait.until(lambda d: "tick 2" in d.find_element(By.ID, "log").text)
    first = text("#log").count("tick")
    wait.until(lambda d: d.find_element(By.ID, "log").text.count("tick") >= first + 3)
    check("the live tail receives new lines (%d, then more)" % first, True)
    shot("live-tail")
    driver.find_element(By.ID, "cancel").click()
    def cancelled(d):
        d.get(dash + "/runs/" + env["task_run"])
        return d.find_element(By.ID, "run-status").text == "failed"
    wait.until(cancelled)
    check("a running task is cancelled from its page", text("#run-error").startswith("cancelled"))
    check("and its page shows how long it was queued", len(text("#queued")) > 0)

    driver.get(dash + "/traces/" + env["trace_id"])
    rows = driver.find_elements(By.CSS_SELECTOR, "#waterfall .row")
    names = [r.find_element(By.CSS_SELECTOR, "a.run").text for r in rows]
    check("the chain is one waterfall: %s" % names, names[:2] == ["shop/web", "shop/on-put"])
    rows[1].find_element(By.CSS_SELECTOR, "a.run").click()
    wait.until(lambda d: "/runs/" in d.current_url)
    check("a waterfall row links to its run", "on-put" in driver.page_source)
    driver.back()
    shot("trace")

    # The forged post first: the browser sends no session cookie across
    # sites, and the dashboard refuses it.
    driver.get(evil)
    wait.until(lambda d: "refused" in d.find_element(By.TAG_NAME, "body").text)
    check("a forged cross-site POST is refused", True)
    driver.get(dash + "/queues")
    dead = driver.find_element(By.CSS_SELECTOR, "tr[data-queue='shop/dead'] td.visible").text
    check("and changed nothing (dead letters: %s)" % dead, dead == "2")
    shot("queues-before")
    driver.find_element(By.CSS_SELECTOR, "tr[data-queue='shop/dead'] button.redrive").click()
    wait.until(lambda d: "Moved 2 messages" in d.find_element(By.ID, "notice").text)
    jobs = text("tr[data-queue='shop/jobs'] td.visible")
    check("a redrive moves the dead letters back (jobs: %s)" % jobs, jobs == "2")
    shot("queues-after")

    driver.get(dash + "/buckets/media")
    upload = os.path.join(os.environ["PROFILE"], "upload.txt")
    with open(upload, "w") as f:
        f.write("uploaded from a browser")
    driver.find_element(By.ID, "upload-file").send_keys(upload)
    driver.find_element(By.ID, "upload").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-key='upload.txt']"))
    check("an upload shows in the bucket", True)
    href = driver.find_element(By.CSS_SELECTOR, "tr[data-key='upload.txt'] a.download").get_attribute("href")
    body = driver.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done)", href)
    check("the download has the bytes", body == "uploaded from a browser")
    shot("bucket")
    driver.find_element(By.CSS_SELECTOR, "tr[data-key='upload.txt'] button.delete").click()
    driver.switch_to.alert.accept()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "tr[data-key='upload.txt']"))
    check("a delete removes it", True)

    driver.get(dash + "/workflows/executions/" + env["execution"])
    done = driver.find_elements(By.CSS_SELECTOR, "#graph .state.done")
    check("the workflow's graph shows both states done", len(done) == 2)
    check("the execution succeeded", text("#execution-status") == "SUCCEEDED")
    shot("workflow")

    for page in ["schedules", "services", "apps", "images", "keys"]:
        driver.get(dash + "/" + page)
        check("the %s screen answers" % page, page.capitalize()[:4] in driver.title or "Keys" in driver.title)
    driver.set_window_size(390, 844)
    driver.get(dash + "/runs")
    shot("runs-phone")
    driver.set_window_size(1280, 900)

    login(env["app_token"])
    check("an app token is its app", text("#who") == "app shop")
    driver.get(dash + "/runs")
    listed = text("#runs")
    check("an app session lists only its app", "shop / web" in listed and "other / " not in listed)
    driver.get(dash + "/runs/" + env["other_run"])
    check("and cannot open another app's run", "no run" in driver.page_source)
    driver.get(dash + "/runs?app=other")
    check("or list another app", "only see its own app" in driver.page_source)
    print("dashboard checks passed")
finally:
    driver.quit()
"##;

/// A run's id from a response's `x-strato-run-id`.
fn run_id(response: &reqwest::blocking::Response) -> String {
    response.headers()["x-strato-run-id"]
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_dashboard_in_a_browser() {
    let server = server_with_busybox(&[]);
    let app = AppDir::new(&format!(
        r#"[app]
name = "shop"

[buckets.media]

[functions.web]
component = "{kitchen}"
routes = ["/k/*"]

[functions.on-put]
component = "{kitchen}"
[[functions.on-put.on_bucket]]
bucket = "media"
events = ["put"]

[tasks.ticker]
image = "bb:1"
command = ["sh", "-c", "for i in $(seq 1 60); do echo tick $i; sleep 0.25; done"]
stop_timeout = "1s"

[queues.jobs]
visibility_timeout = "1s"
max_receives = 1
dead_letter = "dead"

[queues.dead]

[workflows.flow]
definition = "flow.asl.json"
"#,
        kitchen = guest("kitchen")
    ));
    app.write(
        "flow.asl.json",
        r#"{"StartAt": "First", "States": {"First": {"Type": "Pass", "Next": "Second"}, "Second": {"Type": "Pass", "End": true}}}"#,
    );
    server.cli_ok(&["deploy", app.path()]);
    let other = AppDir::new(&format!(
        "[app]\nname = \"other\"\n[functions.secret]\ncomponent = \"{}\"\nroutes = [\"/o/*\"]\n",
        guest("kitchen")
    ));
    server.cli_ok(&["deploy", other.path()]);

    let http = client();
    assert_eq!(
        http.get(server.url("/k/echo")).send().unwrap().status(),
        200
    );
    let failed = http.get(server.url("/k/panic")).send().unwrap();
    assert_eq!(failed.status(), 500);
    let failed_run = run_id(&failed);
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let chained = http
        .get(server.url("/k/put?bucket=media&key=chain.txt"))
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .send()
        .unwrap();
    assert_eq!(chained.status(), 200);
    let other_run = run_id(&http.get(server.url("/o/x")).send().unwrap());
    let app_token = http
        .get(server.url("/k/env?name=STRATO_TOKEN"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    server.runs_eventually(&format!("trace_id={trace}"), 2);

    // Two messages into the dead-letter queue: received once, then over
    // their limit on the next receive.
    let queue = |op: &str, body: Value| {
        http.post(format!("{}/api/v1/apps/shop/queues/jobs/{op}", server.api))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .unwrap()
    };
    let sent = queue(
        "messages",
        json!({"messages": [{"body": "a"}, {"body": "b"}]}),
    );
    assert_eq!(sent.status(), 200);
    assert_eq!(queue("receive", json!({"max": 10})).status(), 200);
    std::thread::sleep(Duration::from_millis(1200));
    queue("receive", json!({"max": 10}));
    wait_until("two dead letters", Duration::from_secs(10), || {
        let stats: Value = http
            .get(format!("{}/api/v1/apps/shop/queues/dead", server.api))
            .bearer_auth(&server.token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        stats["stats"]["visible"] == 2
    });

    let execution: Value = http
        .post(format!(
            "{}/api/v1/apps/shop/workflows/flow/executions?wait=10s",
            server.api
        ))
        .bearer_auth(&server.token)
        .json(&json!({"input": {}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let task: Value = http
        .post(format!("{}/api/v1/apps/shop/tasks/ticker/runs", server.api))
        .bearer_auth(&server.token)
        .json(&json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();

    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let fixtures = json!({
        "admin_token": server.token,
        "app_token": app_token,
        "failed_run": failed_run,
        "other_run": other_run,
        "task_run": task["id"],
        "trace_id": trace,
        "execution": execution["id"],
    });
    let out = server.boto3_with(
        "the dashboard's browser test",
        &format!("{CHROME_PY}{SCRIPT}"),
        &[
            ("DASH", &server.api),
            ("SHOTS", shots.to_str().unwrap()),
            ("PROFILE", profile.path().to_str().unwrap()),
            ("FIXTURES", &fixtures.to_string()),
        ],
    );
    assert!(out.contains("dashboard checks passed"), "{out}");
    eprintln!("dashboard screenshots in {}", shots.display());
}
