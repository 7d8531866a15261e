//! The seed example, exactly as a user runs it: `examples/thumbnailer/run.sh`
//! (image built with mmdebstrap, cached in ~/.cache/strato-thumbnailer
//! between runs) against this build's `strato`, on ports of its own, with
//! its handlers as wasm components and as JavaScript Lambda handlers.

use crate::oci_images::require_containers;
use crate::support::{strato_bin, workspace_root};
use std::process::Command;

#[test]
fn thumbnailer_example_runs_end_to_end() {
    run_thumbnailer("wasm");
}

/// The same, with the seed's handlers in JavaScript (Lambda handlers on
/// Node): `THUMBNAILER_APP=js run.sh`.
#[test]
fn thumbnailer_example_with_javascript_handlers_runs_end_to_end() {
    run_thumbnailer("js");
}

fn run_thumbnailer(variant: &str) {
    require_containers();
    let out = Command::new(workspace_root().join("examples/thumbnailer/run.sh"))
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
}
