//! The seed example, exactly as a user runs it: `examples/thumbnailer/run.sh`
//! (image built with mmdebstrap, cached in ~/.cache/strato-thumbnailer
//! between runs) against this build's `strato`, on ports of its own, with
//! its handlers as wasm components and as JavaScript Lambda handlers; the
//! wasm run's chain is then followed in the dashboard in headless Chromium.

use crate::oci_images::require_containers;
use crate::support::{CHROME_PY, py_tools, strato_bin, workspace_root};
use std::process::Command;

#[test]
fn thumbnailer_example_runs_end_to_end() {
    let out = run_thumbnailer("wasm", Some(BROWSER_CHECK));
    assert!(out.contains("the dashboard follows the chain"), "{out}");
}

/// The seed's chain in the dashboard: the last run's page links to its
/// trace, whose waterfall has the three runs, each under its cause.
const BROWSER_CHECK: &str = r##"
import os, re
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

dash = "http://" + os.environ["API"]
token = open(os.path.join(os.environ["STRATO_DATA_DIR"], "admin.token")).read().strip()
driver = chrome()
try:
    wait = WebDriverWait(driver, 20)
    driver.get(dash + "/runs/" + os.environ["LAST_RUN"])
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login").click()
    wait.until(lambda d: d.find_elements(By.ID, "trace-link"))
    driver.find_element(By.ID, "trace-link").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#waterfall .row"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#waterfall .row")
    seen = []
    for row in rows:
        name = row.find_element(By.CSS_SELECTOR, "a.run").text
        indent = row.find_element(By.CSS_SELECTOR, "div").get_attribute("style")
        depth = float(re.search(r"padding-left: ([0-9.]+)rem", indent).group(1))
        seen.append((name, depth))
    print("waterfall:", seen)
    names = [n for n, _ in seen]
    depths = [d for _, d in seen]
    assert names == ["thumbnailer/on-video", "thumbnailer/ffmpeg", "thumbnailer/on-thumbnail"], names
    assert depths[0] < depths[1] < depths[2], depths
    driver.save_screenshot(os.path.join(os.environ["SHOTS"], "thumbnailer-trace.png"))
    print("the dashboard follows the chain")
finally:
    driver.quit()
"##;

/// The same, with the seed's handlers in JavaScript (Lambda handlers on
/// Node): `THUMBNAILER_APP=js run.sh`.
#[test]
fn thumbnailer_example_with_javascript_handlers_runs_end_to_end() {
    run_thumbnailer("js", None);
}

/// Runs the example (`then`: a Python browser check on the live server);
/// its stdout.
fn run_thumbnailer(variant: &str, then: Option<&str>) -> String {
    require_containers();
    let work = tempfile::tempdir().unwrap();
    let mut command = Command::new(workspace_root().join("examples/thumbnailer/run.sh"));
    if let Some(check) = then {
        let script = work.path().join("check.py");
        std::fs::write(&script, format!("{CHROME_PY}{check}")).unwrap();
        let shots = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join("dashboard-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        std::fs::create_dir_all(work.path().join("profile")).unwrap();
        command
            .env(
                "THUMBNAILER_THEN",
                format!(
                    "{} {}",
                    py_tools().join("bin/python").display(),
                    script.display()
                ),
            )
            .env("PROFILE", work.path().join("profile"))
            .env("SHOTS", shots);
    }
    let out = command
        .env("STRATO_BIN", strato_bin())
        .env("THUMBNAILER_APP", variant)
        // Port 0: the server picks free ports and the script reads them
        // back, so no other test can take them in between.
        .env("STRATO_HTTP", "127.0.0.1:0")
        .env("STRATO_API_ADDR", "127.0.0.1:0")
        .env("STRATO_S3", "127.0.0.1:0")
        .output()
        .expect("running examples/thumbnailer/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("started ffmpeg run"), "{stdout}");
    assert!(
        stdout.contains("thumbnail s3://media/clip.mp4.jpg is ready"),
        "{stdout}"
    );
    // `aws s3 ls` lists the thumbnail with a size (run.sh checks it too).
    let listed = stdout.lines().any(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        matches!(fields.as_slice(), [_, _, size, "clip.mp4.jpg"] if size.parse::<u64>().is_ok_and(|n| n > 0))
    });
    assert!(listed, "the thumbnail is in the bucket: {stdout}");
    // `strato trace` shows the chain as one tree: the upload's handler,
    // the task it started, the handler of the object the task wrote.
    let tree: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("trace "))
        .take(4)
        .collect();
    assert!(
        tree.first().is_some_and(|l| l.contains("· 3 runs")),
        "{stdout}"
    );
    assert!(
        tree[1].starts_with("thumbnailer/on-video [bucket] succeeded"),
        "{stdout}"
    );
    assert!(
        tree[2].starts_with("└─ thumbnailer/ffmpeg [invoke] succeeded"),
        "{stdout}"
    );
    assert!(
        tree[3].starts_with("   └─ thumbnailer/on-thumbnail [bucket] succeeded"),
        "{stdout}"
    );
    stdout.into_owned()
}
