//! The seed example, exactly as a user runs it: `examples/thumbnailer/run.sh`
//! (image built with mmdebstrap, cached in ~/.cache/strato-thumbnailer
//! between runs) against this build's `strato`, on ports of its own.

use crate::oci_images::require_containers;
use crate::support::{strato_bin, workspace_root};
use std::process::Command;

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn thumbnailer_example_runs_end_to_end() {
    require_containers();
    let out = Command::new(workspace_root().join("examples/thumbnailer/run.sh"))
        .env("STRATO_BIN", strato_bin())
        .env("STRATO_HTTP", free_addr())
        .env("STRATO_API_ADDR", free_addr())
        .env("STRATO_S3", free_addr())
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
    assert!(
        stdout.contains("clip.mp4.jpg"),
        "the thumbnail is in the bucket: {stdout}"
    );
}
