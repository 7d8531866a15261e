//! The web-service example, exactly as a user runs it:
//! `examples/web-service/run.sh` against this build's `strato`, on ports of
//! its own: a Python web app built with buildah, pushed to Strato's
//! registry, run as a service from zero beside a Lambda function, and
//! scaled back to zero.

use crate::oci_images::require_containers;
use crate::support::{runtime_cache, strato_bin, workspace_root};
use std::process::Command;

#[test]
fn web_service_example_runs_end_to_end() {
    require_containers();
    let out = Command::new(workspace_root().join("examples/web-service/run.sh"))
        .env("STRATO_BIN", strato_bin())
        .env("STRATO_HTTP", "127.0.0.1:0")
        .env("STRATO_API_ADDR", "127.0.0.1:0")
        .env("STRATO_S3", "127.0.0.1:0")
        .env("STRATO_REGISTRY", "127.0.0.1:0")
        .env("STRATO_RUNTIME_CACHE", runtime_cache())
        .env("STRATO_TRUST_HOST_CAS", "true")
        .output()
        .expect("running examples/web-service/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    for expected in [
        "pushed 127.0.0.1:",
        "web-service/web:1",
        "first response after",
        "\"count\": 2",
        "a lambda function",
        "web-service example: ok",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
}
