//! Container tasks through the real binary and real runc: images in,
//! runs out, limits, networks, crashes.

use crate::oci_images::{
    Entry, busybox_layer, docker_archive, gzip, layer, oci_archive, require_containers, write, zstd,
};
use crate::support::{AppDir, Server, client, runc_list, wait_until};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A server with `bb:1` (busybox) imported from a docker archive.
pub(crate) fn server_with_busybox(extra: &[&str]) -> Server {
    require_containers();
    let server = Server::start_with(extra);
    let archive = docker_archive("bb:1", &[busybox_layer()], None);
    let path = write(server.data_dir.path(), "bb.tar", &archive);
    let out = server.cli_ok(&["image", "import", &path]);
    assert!(out.contains("imported bb:1"), "{out}");
    server
}

pub(crate) fn deploy(server: &Server, manifest: &str) -> AppDir {
    let app = AppDir::new(manifest);
    server.cli_ok(&["deploy", app.path()]);
    app
}

/// `strato task run --wait`: (exit code, stdout, stderr).
fn run_wait(server: &Server, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["task", "run", "--wait"];
    full.extend_from_slice(args);
    let out = server.cli(&full);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn get_run(server: &Server, id: &str) -> Value {
    client()
        .get(format!("{}/api/v1/runs/{id}", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

pub(crate) fn start(server: &Server, app: &str, task: &str, body: Value) -> String {
    let resp = client()
        .post(format!(
            "{}/api/v1/apps/{app}/tasks/{task}/runs",
            server.api
        ))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let run: Value = resp.json().unwrap();
    assert_eq!(run["status"], "queued");
    run["id"].as_str().unwrap().to_string()
}

pub(crate) fn wait_final(server: &Server, id: &str, limit: Duration) -> Value {
    let mut last = Value::Null;
    wait_until(&format!("run {id} to end"), limit, || {
        last = get_run(server, id);
        !matches!(last["status"].as_str(), Some("queued" | "running"))
    });
    last
}

pub(crate) fn run_logs(server: &Server, id: &str) -> String {
    let lines: Vec<Value> = client()
        .get(format!("{}/api/v1/logs?run={id}&limit=1000", server.api))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    lines
        .iter()
        .map(|l| l["text"].as_str().unwrap_or("").to_string() + "\n")
        .collect()
}

#[test]
fn images_import_from_docker_and_oci_archives_with_whiteouts() {
    let server = server_with_busybox(&[]);
    let dir = server.data_dir.path();
    // Two layers: the second removes one file and hides a directory's
    // old contents.
    let base = busybox_layer();
    let lower = layer(&[
        Entry::Dir("data"),
        Entry::File("data/old", b"old"),
        Entry::File("data/kept", b"kept"),
        Entry::Dir("cache"),
        Entry::File("cache/stale", b"x"),
    ]);
    let upper = layer(&[
        Entry::File("data/.wh.old", b""),
        Entry::File("data/new", b"new"),
        Entry::File("cache/.wh..wh..opq", b""),
        Entry::File("cache/fresh", b"y"),
    ]);
    let archive = docker_archive(
        "layers:1",
        &[base.clone(), lower.clone(), upper.clone()],
        None,
    );
    server.cli_ok(&["image", "import", &write(dir, "layers.tar", &archive)]);
    // The same content as an OCI layout with gzip and zstd layers.
    let oci = oci_archive(
        "oci/layers:2",
        &[gzip(&base), zstd(&lower), gzip(&upper)],
        &[base.clone(), lower.clone(), upper.clone()],
    );
    let out = server.cli_ok(&["image", "import", &write(dir, "oci.tar", &oci)]);
    assert!(out.contains("imported oci/layers:2"), "{out}");
    let listed = server.cli_ok(&["image", "ls", "--output", "json"]);
    let names: Vec<String> = serde_json::from_str::<Vec<Value>>(&listed)
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["bb:1", "layers:1", "oci/layers:2"]);
    // The busybox layer bb:1 and layers:1 share is stored once.
    let blobs = std::fs::read_dir(dir.join("images/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 2 + 3 + 4, "configs and unique layers only");

    deploy(
        &server,
        r#"
[app]
name = "wh"
[tasks.docker]
image = "layers:1"
command = ["sh", "-c", "ls /data /cache; echo $FROM_IMAGE"]
[tasks.oci]
image = "oci/layers:2"
command = ["sh", "-c", "ls /data /cache"]
"#,
    );
    for task in ["wh/docker", "wh/oci"] {
        let (code, out, err) = run_wait(&server, &[task]);
        assert_eq!(code, 0, "{task}: {err}");
        assert!(
            out.contains("kept") && out.contains("new") && out.contains("fresh"),
            "{task}: {out}"
        );
        assert!(
            !out.contains("old") && !out.contains("stale"),
            "{task}: {out}"
        );
        if task == "wh/docker" {
            assert!(out.contains("yes"), "image env reaches the task: {out}");
        }
    }
}

#[test]
fn hostile_and_corrupt_images_are_refused() {
    require_containers();
    let server = Server::start();
    let dir = server.data_dir.path();
    let outside = tempfile::tempdir().unwrap();
    let escape_target = outside.path().join("escaped");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            docker_archive(
                "evil:1",
                &[layer(&[Entry::RawFile(
                    "../../../../../../tmp/strato-escape",
                    b"x",
                )])],
                None,
            ),
            "`..` in path",
        ),
        (
            "absolute",
            docker_archive(
                "evil:2",
                &[layer(&[Entry::RawFile("/etc/strato-evil", b"x")])],
                None,
            ),
            "absolute path",
        ),
        (
            "symlink",
            docker_archive(
                "evil:3",
                &[layer(&[
                    Entry::Symlink("link", outside.path().to_str().unwrap()),
                    Entry::File("link/escaped", b"x"),
                ])],
                None,
            ),
            "points out of the rootfs",
        ),
        (
            "diff_id",
            docker_archive(
                "bad:1",
                &[busybox_layer()],
                Some(vec![format!("sha256:{}", "0".repeat(64))]),
            ),
            "digest mismatch",
        ),
    ];
    for (name, archive, needle) in cases {
        let err = server.cli_err(&[
            "image",
            "import",
            &write(dir, &format!("{name}.tar"), &archive),
        ]);
        assert!(err.contains(needle), "{name}: {err}");
    }
    // An OCI blob whose bytes do not match the digest it is stored under.
    let good = busybox_layer();
    let mut oci = oci_archive("tampered:1", &[gzip(&good)], std::slice::from_ref(&good));
    let mut archive = tar::Archive::new(&oci[..]);
    let mut files = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        if body.len() > 100_000 {
            let last = body.len() - 20;
            body[last] ^= 0xff;
        }
        files.push((path, body));
    }
    oci = crate::oci_images::tar_of(&files);
    let err = server.cli_err(&["image", "import", &write(dir, "tampered.tar", &oci)]);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(!escape_target.exists());
    assert!(!std::path::Path::new("/tmp/strato-escape").exists());
    assert!(!std::path::Path::new("/etc/strato-evil").exists());
    let listed = server.cli_ok(&["image", "ls", "--output", "json"]);
    assert_eq!(listed.trim(), "[]", "nothing refused is named");
    let err = server.cli_err(&[
        "image",
        "import",
        &write(dir, "junk.tar", b"not a tar at all"),
    ]);
    assert!(
        err.contains("bad image") || err.contains("archive"),
        "{err}"
    );
}

#[test]
fn overrides_exit_codes_user_and_image_defaults() {
    let server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "ov"
[tasks.default]
image = "bb:1"
[tasks.cmd]
image = "bb:1"
command = ["sh", "-c", "echo greeting=$GREETING; exit 3"]
env = { GREETING = "manifest" }
[tasks.who]
image = "bb:1"
user = "worker"
command = ["sh", "-c", "id -u; id -g; pwd; touch /tmp/ok && echo wrote"]
"#,
    );
    let (code, out, _) = run_wait(&server, &["ov/default"]);
    assert_eq!((code, out.trim()), (0, "image-cmd"), "the image's CMD runs");
    let (code, out, err) = run_wait(&server, &["ov/cmd"]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(out.trim(), "greeting=manifest");
    assert!(err.contains("exited with code 3"), "{err}");
    let (code, out, _) = run_wait(&server, &["ov/cmd", "--env", "GREETING=override"]);
    assert_eq!((code, out.trim()), (3, "greeting=override"));
    let (code, out, _) = run_wait(
        &server,
        &["ov/cmd", "--", "sh", "-c", "echo replaced $GREETING"],
    );
    assert_eq!((code, out.trim()), (0, "replaced manifest"));
    let (code, out, _) = run_wait(
        &server,
        &[
            "ov/default",
            "--entrypoint",
            "/bin/echo",
            "--",
            "via",
            "entrypoint",
        ],
    );
    assert_eq!((code, out.trim()), (0, "via entrypoint"));
    let (code, out, err) = run_wait(&server, &["ov/who"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["1000", "1000", "/tmp", "wrote"]
    );
    // Reserved and unknown things are refused before anything runs.
    let err = server.cli_err(&["task", "run", "ov/cmd", "--env", "STRATO_TOKEN=x"]);
    assert!(err.contains("reserved"), "{err}");
    let err = server.cli_err(&["task", "run", "ov/nope"]);
    assert!(err.contains("no deployed task"), "{err}");
    // Every run is in `strato runs` with its exit code.
    let runs = server.runs_eventually("app=ov&function=cmd", 3);
    assert!(runs.iter().all(|r| r["exit_code"].is_i64()), "{runs:?}");
}

#[test]
fn timeout_oom_and_pids_limits_end_runs() {
    let server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "lim"
[tasks.slow]
image = "bb:1"
command = ["sleep", "60"]
timeout = "1s"
stop_timeout = "1s"
[tasks.hog]
image = "bb:1"
memory = "16MiB"
command = ["sh", "-c", "exec tail /dev/zero"]
[tasks.forky]
image = "bb:1"
pids = 8
command = ["sh", "-c", "for i in $(seq 20); do sleep 3 & done; wait; echo done"]
"#,
    );
    let t0 = Instant::now();
    let slow = start(&server, "lim", "slow", Value::Null);
    let hog = start(&server, "lim", "hog", Value::Null);
    let forky = start(&server, "lim", "forky", Value::Null);
    let slow = wait_final(&server, &slow, Duration::from_secs(20));
    assert_eq!(slow["status"], "timed_out", "{slow}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "SIGKILL after the grace period"
    );
    let hog = wait_final(&server, &hog, Duration::from_secs(20));
    assert_eq!(hog["status"], "oom_killed", "{hog}");
    assert_eq!(hog["exit_code"], 137);
    let forky_run = wait_final(&server, &forky, Duration::from_secs(20));
    let logs = run_logs(&server, &forky);
    assert!(
        logs.contains("can't fork"),
        "pids limit reached: {logs} {forky_run}"
    );
    // Nothing is left behind: bundles, overlays, runc state, cgroups. A
    // run's outcome is recorded before its bundle is removed (the removal
    // is off the run's path), so the last one may take a moment.
    let runs_dir = server.data_dir.path().join("task-runs");
    let cgroups: Vec<String> = [&slow, &hog, &forky_run]
        .iter()
        .flat_map(|run| {
            let id = run["id"].as_str().unwrap();
            [
                format!("/sys/fs/cgroup/memory/strato/{id}"),
                format!("/sys/fs/cgroup/strato/{id}"),
            ]
        })
        .collect();
    wait_until(
        "every run's bundle and cgroups are removed",
        Duration::from_secs(10),
        || {
            std::fs::read_dir(&runs_dir).unwrap().count() == 0
                && cgroups.iter().all(|cg| !std::path::Path::new(cg).exists())
        },
    );
}

#[test]
fn network_modes_reach_the_platform_or_nothing() {
    let server = server_with_busybox(&[]);
    // A listener of the test's own on the host's loopback.
    let host_only = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host_only.local_addr().unwrap().port();
    // (no `wget -T`: Debian's static busybox 1.35 crashes with it; and
    // its wget has been seen refused under heavy load while S3's forward
    // answered, so the API probe gets three tries, each failure shown with
    // the namespace's sockets, to find out why)
    let probe = format!(
        "for i in 1 2 3; do wget -O - $STRATO_API/api/v1/health 2>&1 && echo && echo api-ok && break; cat /proc/net/tcp; sleep 0.3; done; \
         wget -S -O /dev/null $AWS_ENDPOINT_URL/ 2>&1 | grep -q 'HTTP/1.1 403' && echo s3-ok; \
         wget -q -O - http://127.0.0.1:{port}/ >/dev/null 2>&1; echo other=$?"
    );
    deploy(
        &server,
        &format!(
            r#"
[app]
name = "net"
[tasks.platform]
image = "bb:1"
command = ["sh", "-c", "{probe}"]
[tasks.none]
image = "bb:1"
network = "none"
command = ["sh", "-c", "{probe}"]
[tasks.host]
image = "bb:1"
network = "host"
command = ["sh", "-c", "wget -q -O - $STRATO_API/api/v1/health && echo api-ok"]
"#
        ),
    );
    let (_, out, err) = run_wait(&server, &["net/platform"]);
    assert!(
        out.contains("api-ok") && out.contains("s3-ok"),
        "{out} {err}"
    );
    assert!(
        !out.contains("other=0"),
        "only Strato's endpoints are reachable: {out}"
    );
    let (_, out, _) = run_wait(&server, &["net/none"]);
    assert!(
        !out.contains("api-ok") && !out.contains("s3-ok") && !out.contains("other=0"),
        "{out}"
    );
    let (code, out, err) = run_wait(&server, &["net/host"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("api-ok"), "{out}");
}

#[test]
fn twenty_concurrent_runs_each_get_their_own_writable_layer() {
    let server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "many"
[tasks.w]
image = "bb:1"
command = ["sh", "-c", "echo $STRATO_RUN_ID > /tmp/mine; sleep 1; cat /tmp/mine; ls /tmp | wc -l"]
"#,
    );
    let ids: Vec<String> = (0..20)
        .map(|_| start(&server, "many", "w", Value::Null))
        .collect();
    for id in &ids {
        let run = wait_final(&server, id, Duration::from_secs(60));
        assert_eq!(run["status"], "succeeded", "{run}");
        let logs = run_logs(&server, id);
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(
            lines,
            [id.as_str(), "1"],
            "each run sees only its own write"
        );
    }
    // The image's rootfs was never written to.
    let rootfs = std::fs::read_dir(server.data_dir.path().join("images/rootfs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(!rootfs.join("tmp/mine").exists());
}

/// `runc list` of a server's runc state dir.

#[test]
fn a_crash_mid_run_kills_the_container_and_retries_the_task() {
    let mut server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "crash"
[tasks.job]
image = "bb:1"
retries = 1
command = ["sh", "-c", "if [ $STRATO_ATTEMPT = 1 ]; then echo first; sleep 600; else echo second-attempt; fi"]
"#,
    );
    let id = start(&server, "crash", "job", Value::Null);
    wait_until(
        "the first attempt to print",
        Duration::from_secs(20),
        || run_logs(&server, &id).contains("first"),
    );
    let state_dir = server.data_dir.path().join("runc");
    server.kill9();
    // The container outlived the server.
    assert!(
        runc_list(&state_dir).contains(&id),
        "container still running"
    );
    server.restart();
    let first = wait_final(&server, &id, Duration::from_secs(20));
    assert_eq!(first["status"], "failed");
    assert!(
        first["error"].as_str().unwrap().contains("server stopped"),
        "{first}"
    );
    let runs = server.runs_eventually("app=crash", 2);
    let retry = runs
        .iter()
        .find(|r| r["attempt"] == 2)
        .expect("a second attempt");
    let retry = wait_final(
        &server,
        retry["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(retry["status"], "succeeded", "{retry}");
    assert!(run_logs(&server, retry["id"].as_str().unwrap()).contains("second-attempt"));
    // The first attempt's container is gone.
    assert!(!runc_list(&state_dir).contains(&id));
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "sleep 600"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "no sleeping container process survives"
    );
}

#[test]
fn bucket_events_start_subscribed_tasks() {
    let server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "bev"
[buckets.inbox]
[tasks.handle]
image = "bb:1"
command = ["sh", "-c", "echo got $BUCKET/$KEY $EVENT_NAME; echo $S3_EVENT | grep -q ObjectCreated && echo json-ok"]
[[tasks.handle.on_bucket]]
bucket = "inbox"
events = ["put"]
suffix = ".txt"
"#,
    );
    let s3 = server.s3_client();
    crate::support::runtime().block_on(async {
        for key in ["a.txt", "skip.bin"] {
            s3.put_object()
                .bucket("inbox")
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hi"))
                .send()
                .await
                .unwrap();
        }
    });
    let runs = server.runs_eventually("app=bev", 1);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "bucket");
    let run = wait_final(
        &server,
        runs[0]["id"].as_str().unwrap(),
        Duration::from_secs(20),
    );
    let logs = run_logs(&server, run["id"].as_str().unwrap());
    assert!(
        logs.contains("got inbox/a.txt ObjectCreated:Put") && logs.contains("json-ok"),
        "{logs}"
    );
    wait_until("the event to be settled", Duration::from_secs(5), || {
        server.pending_events() == 0
    });
}

#[test]
fn runs_fail_with_advice_when_the_runtime_is_missing_and_deploys_need_the_image() {
    let server = server_with_busybox(&["--runtime", "/nonexistent/runc"]);
    let app = AppDir::new(
        "[app]\nname = \"rt\"\n[tasks.t]\nimage = \"missing:1\"\ncommand = [\"true\"]\n",
    );
    let err = server.cli_err(&["deploy", app.path()]);
    assert!(
        err.contains("image `missing:1` is not in the image store"),
        "{err}"
    );
    app.rewrite("[app]\nname = \"rt\"\n[tasks.t]\nimage = \"bb:1\"\ncommand = [\"true\"]\n");
    server.cli_ok(&["deploy", app.path()]);
    let (code, _, err) = run_wait(&server, &["rt/t"]);
    assert_ne!(code, 0);
    assert!(err.contains("apt-get install runc"), "{err}");
}

#[test]
fn queues_and_schedules_start_tasks_whose_outcomes_reach_destinations() {
    let server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "tq"
[tasks.consume]
image = "bb:1"
command = ["/bin/sh", "-c", "echo got $SQS_EVENT; case \"$SQS_EVENT\" in *bad*) exit 3;; esac"]
[tasks.consume.async]
on_failure = "queue:outcomes"
[tasks.tick]
image = "bb:1"
command = ["/bin/sh", "-c", "echo tick $SCHEDULE_EVENT $STRATO_PAYLOAD"]
[tasks.tick.async]
on_success = "queue:outcomes"
[queues.in]
visibility_timeout = "30s"
consumer = { task = "consume", batch_size = 2 }
[queues.outcomes]
[schedules.tick]
rate = "2s"
task = "tick"
payload = { n = 7 }
"#,
    );
    let queue = |name: &str, op: &str, body: Value| -> Value {
        client()
            .post(format!("{}/api/v1/apps/tq/queues/{name}/{op}", server.api))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let runs_of = |task: &str| server.runs(&format!("app=tq&function={task}&limit=100"));
    // A batch of two: one task run with both in SQS_EVENT; exit 0 deletes
    // them.
    queue(
        "in",
        "messages",
        serde_json::json!({ "messages": [{ "body": "good-1" }, { "body": "good-2" }] }),
    );
    let mut run = Value::Null;
    wait_until(
        "the consumer task to succeed",
        Duration::from_secs(20),
        || {
            run = runs_of("consume")
                .into_iter()
                .find(|r| r["status"] == "succeeded")
                .unwrap_or(Value::Null);
            !run.is_null()
        },
    );
    assert_eq!(run["trigger"], "queue");
    let logs = run_logs(&server, run["id"].as_str().unwrap());
    assert!(logs.contains("good-1") && logs.contains("good-2"), "{logs}");
    assert!(logs.contains("\"eventSource\":\"aws:sqs\""), "{logs}");
    wait_until("the batch to be deleted", Duration::from_secs(10), || {
        let stats: Value = client()
            .get(format!("{}/api/v1/apps/tq/queues/in", server.api))
            .bearer_auth(&server.token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        stats["stats"]["visible"] == 0 && stats["stats"]["in_flight"] == 0
    });

    // A failing batch stays in the queue (in flight until its visibility
    // timeout), and the failed task run's record goes to its destination.
    queue(
        "in",
        "messages",
        serde_json::json!({ "messages": [{ "body": "bad" }] }),
    );
    // The schedule's task runs too; its successes are recorded there.
    let mut records: Vec<Value> = Vec::new();
    wait_until("both destination records", Duration::from_secs(30), || {
        let got = queue("outcomes", "receive", serde_json::json!({ "max": 10 }));
        for m in got["messages"].as_array().unwrap() {
            records.push(serde_json::from_str(m["body"].as_str().unwrap()).unwrap());
        }
        let failed = records.iter().any(|r| {
            r["requestContext"]["condition"] == "RetriesExhausted"
                && r["responseContext"]["exitCode"] == 3
                && r["requestContext"]["functionArn"] == "strato:tq:consume"
        });
        let ticked = records.iter().any(|r| {
            r["requestContext"]["condition"] == "Success"
                && r["requestContext"]["functionArn"] == "strato:tq:tick"
        });
        failed && ticked
    });
    let tick = runs_of("tick")
        .into_iter()
        .find(|r| r["status"] == "succeeded")
        .unwrap();
    assert_eq!(tick["trigger"], "schedule");
    let logs = run_logs(&server, tick["id"].as_str().unwrap());
    assert!(
        logs.contains("Scheduled Event") && logs.contains("\"n\":7"),
        "{logs}"
    );

    // `strato invoke --async APP/TASK` queues a run with the payload.
    let id = server.cli_ok(&["invoke", "tq/tick", "--async", "-d", "by hand"]);
    let run = wait_final(&server, id.trim(), Duration::from_secs(20));
    assert_eq!(
        (run["status"].as_str(), run["trigger"].as_str()),
        (Some("succeeded"), Some("async"))
    );
    let logs = run_logs(&server, id.trim());
    assert!(logs.contains("tick by hand"), "{logs}");
    let err = server.cli_err(&["invoke", "tq/nothing", "--async"]);
    assert!(err.contains("nothing"), "{err}");
}

/// Tasks get Docker's default seccomp profile: `unshare` of a user
/// namespace (which needs no capability, so only the filter stops it) and
/// `mount` fail with EPERM, while ordinary work runs.
#[test]
fn syscalls_dockers_default_profile_blocks_fail_with_eperm_in_tasks() {
    let server = server_with_busybox(&[]);
    deploy(
        &server,
        r#"
[app]
name = "sc"
[tasks.probe]
image = "bb:1"
command = ["sh", "-c", "unshare -U true; echo unshare=$?; mount -t tmpfs none /mnt; echo mount=$?; echo still running"]
"#,
    );
    let (code, out, err) = run_wait(&server, &["sc/probe"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("unshare=1"), "{out}\n{err}");
    assert!(
        out.contains("mount=1") || out.contains("mount=255"),
        "{out}\n{err}"
    );
    assert!(out.contains("still running"), "{out}");
    assert!(
        err.contains("unshare(0x10000000): Operation not permitted"),
        "{err}"
    );
    // And mount's EPERM, as busybox words it.
    assert!(err.contains("mount: permission denied"), "{err}");
}
