//! The workflows example, exactly as a user runs it:
//! `examples/order-pipeline/run.sh` against this build's `strato`, on
//! ports of its own: three uploaded orders through four functions, a Map,
//! a retried payment and a caught decline, a human approval answered with
//! the aws CLI, and a Parallel packing in a runc container.

use crate::oci_images::require_containers;
use crate::support::{strato_bin, workspace_root};
use std::process::Command;

#[test]
fn order_pipeline_example_runs_end_to_end() {
    require_containers();
    let out = Command::new(workspace_root().join("examples/order-pipeline/run.sh"))
        .env("STRATO_BIN", strato_bin())
        .env("STRATO_HTTP", "127.0.0.1:0")
        .env("STRATO_API_ADDR", "127.0.0.1:0")
        .env("STRATO_S3", "127.0.0.1:0")
        .output()
        .expect("running examples/order-pipeline/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    for expected in [
        "ends: o-1001:SUCCEEDED o-1002:SUCCEEDED o-1003:FAILED",
        "approval requested: order o-1002, 30700 cents",
        "packed o-1002",
        "order o-1002 shipped to grace",
        "CardDeclined: 198000 cents is over the card's limit",
        "MapIterationStarted",
        "ParallelStateSucceeded",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
}
