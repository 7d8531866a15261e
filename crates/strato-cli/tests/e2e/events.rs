//! Bucket events: delivery to subscribed functions, filters, retries, and
//! no event lost across kill -9.

use crate::buckets::code_of;
use crate::support::{AppDir, Server, guest, runtime, wait_until};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn manifest(extra: &str) -> String {
    format!(
        "[app]\nname = \"watch\"\n\n[buckets.inbox]\n\n[functions.on-txt]\ncomponent = \"{}\"\n{extra}\n[[functions.on-txt.on_bucket]]\nbucket = \"inbox\"\nevents = [\"put\", \"delete\"]\nsuffix = \".txt\"\n",
        guest("kitchen")
    )
}

/// Every bucket-triggered run of `on-txt`, with the key its log names.
fn event_runs(server: &Server) -> Vec<(String, String, String, u64)> {
    let http = reqwest::blocking::Client::new();
    let runs: Vec<serde_json::Value> = http
        .get(format!(
            "{}/api/v1/runs?function=on-txt&limit=10000",
            server.api
        ))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let logs: Vec<serde_json::Value> = http
        .get(format!(
            "{}/api/v1/logs?function=on-txt&limit=100000",
            server.api
        ))
        .bearer_auth(&server.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let keys: BTreeMap<String, String> = logs
        .iter()
        .filter_map(|l| {
            let rest = l["text"].as_str()?.strip_prefix("event ")?;
            let key = rest.split(' ').next()?;
            Some((l["run_id"].as_str()?.to_string(), key.to_string()))
        })
        .collect();
    runs.iter()
        .filter(|r| r["trigger"] == "bucket")
        .map(|r| {
            let id = r["id"].as_str().unwrap();
            (
                keys.get(id).cloned().unwrap_or_default(),
                r["event_id"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["attempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn events_reach_matching_functions_and_failures_are_retried() {
    let server = Server::start();
    let app = AppDir::new(&manifest("[functions.on-txt.async]\nretries = 2\n"));
    server.cli_ok(&["deploy", app.path()]);
    let s3 = server.s3_client();
    runtime().block_on(async {
        for key in ["hello.txt", "image.png", "must-fail.txt"] {
            s3.put_object()
                .bucket("inbox")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
        s3.delete_object()
            .bucket("inbox")
            .key("hello.txt")
            .send()
            .await
            .unwrap();
    });
    // hello.txt: put + delete succeed; must-fail.txt: 3 attempts (1 + 2
    // retries at 1 s and 2 s backoff), then given up; image.png: nothing.
    wait_until("deliveries and retries", Duration::from_secs(20), || {
        event_runs(&server).len() >= 5
    });
    std::thread::sleep(Duration::from_millis(1500));
    let runs = event_runs(&server);
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(
        runs.iter().all(|(key, ..)| key.ends_with(".txt")),
        "{runs:?}"
    );
    let hello: Vec<_> = runs.iter().filter(|r| r.0 == "hello.txt").collect();
    assert_eq!(hello.len(), 2);
    assert!(hello.iter().all(|r| r.2 == "succeeded" && r.3 == 1));
    assert_ne!(hello[0].1, hello[1].1, "put and delete are two events");
    let mut failing: Vec<_> = runs.iter().filter(|r| r.0 == "must-fail.txt").collect();
    failing.sort_by_key(|r| r.3);
    assert_eq!(failing.iter().map(|r| r.3).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        failing
            .iter()
            .all(|r| r.2 == "failed" && r.1 == failing[0].1 && !r.1.is_empty())
    );
}

/// In a versioned bucket, events name the version: the one a PUT made,
/// and the delete marker a DELETE made (`ObjectRemoved:DeleteMarkerCreated`).
#[test]
fn events_of_a_versioned_bucket_carry_the_version() {
    let server = Server::start();
    let app = AppDir::new(&manifest(""));
    server.cli_ok(&["deploy", app.path()]);
    let s3 = server.s3_client();
    let (put, deleted) = runtime().block_on(async {
        s3.put_bucket_versioning()
            .bucket("inbox")
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let put = s3
            .put_object()
            .bucket("inbox")
            .key("v.txt")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        let deleted = s3
            .delete_object()
            .bucket("inbox")
            .key("v.txt")
            .send()
            .await
            .unwrap();
        (
            put.version_id().unwrap().to_string(),
            deleted.version_id().unwrap().to_string(),
        )
    });
    let lines = || -> Vec<String> {
        server
            .log_texts("watch")
            .into_iter()
            .filter(|l| l.starts_with("version "))
            .collect()
    };
    wait_until("both events", Duration::from_secs(20), || {
        lines().len() >= 2
    });
    let mut got = lines();
    got.sort();
    let mut want = vec![
        format!("version v.txt {put} ObjectCreated:Put"),
        format!("version v.txt {deleted} ObjectRemoved:DeleteMarkerCreated"),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn no_event_is_lost_across_kill_9() {
    let mut server = Server::start();
    let app = AppDir::new(&manifest("concurrency = 4\n"));
    server.cli_ok(&["deploy", app.path()]);
    let keys: Vec<String> = (0..1000)
        .map(|i| format!("obj-{i:04}.{}", if i % 3 == 0 { "bin" } else { "txt" }))
        .collect();

    // Put from 8 writers; after 500 acknowledged puts, kill -9.
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut unsure: Vec<String> = Vec::new();
    let s3 = server.s3_client();
    let pid = server.pid();
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s3 = s3.clone();
            let acked = acked.clone();
            let mine: Vec<String> = keys.iter().skip(w).step_by(8).cloned().collect();
            tasks.push(tokio::spawn(async move {
                let mut failed = Vec::new();
                for key in mine {
                    let put = s3
                        .put_object()
                        .bucket("inbox")
                        .key(&key)
                        .body(ByteStream::from_static(b"payload"))
                        .send()
                        .await;
                    match put {
                        Ok(_) => {
                            if acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 500 {
                                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                            }
                        }
                        Err(_) => failed.push(key),
                    }
                }
                failed
            }));
        }
        for t in tasks {
            unsure.extend(t.await.unwrap());
        }
    });
    server.kill9();
    assert!(acked.load(std::sync::atomic::Ordering::SeqCst) >= 500);
    server.restart_after_exit();

    // Puts that got no answer: put again only what did not land.
    let s3 = server.s3_client();
    runtime().block_on(async {
        for key in &unsure {
            match s3.head_object().bucket("inbox").key(key).send().await {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(code_of(&e).1, Some(404));
                    s3.put_object()
                        .bucket("inbox")
                        .key(key)
                        .body(ByteStream::from_static(b"payload"))
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
        let mut listed = 0;
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket("inbox")
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            listed += page.contents().len();
            if page.is_truncated() != Some(true) {
                break;
            }
            token = page.next_continuation_token().map(str::to_string);
        }
        assert_eq!(listed, 1000, "every object is stored");
    });

    let want: BTreeSet<&String> = keys.iter().filter(|k| k.ends_with(".txt")).collect();
    wait_until(
        "every .txt object delivered",
        Duration::from_secs(60),
        || {
            let done: BTreeSet<String> = event_runs(&server)
                .into_iter()
                .filter(|r| r.2 == "succeeded")
                .map(|r| r.0)
                .collect();
            let missing: Vec<_> = want.iter().filter(|k| !done.contains(**k)).collect();
            if !missing.is_empty() {
                eprintln!(
                    "waiting for {} deliveries, e.g. {:?}; pending {}",
                    missing.len(),
                    &missing[..missing.len().min(3)],
                    server.pending_events()
                );
            }
            missing.is_empty()
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let runs = event_runs(&server);
    let mut events_by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, event, status, _) in &runs {
        assert!(key.ends_with(".txt"), "a run for a non-matching key: {key}");
        if status == "succeeded" {
            events_by_key
                .entry(key.clone())
                .or_default()
                .insert(event.clone());
        }
    }
    assert_eq!(events_by_key.len(), want.len());
    for (key, events) in &events_by_key {
        assert_eq!(
            events.len(),
            1,
            "{key}: successful runs of different events {events:?}"
        );
    }
    assert_eq!(server.pending_events(), 0, "the outbox drains");
}

#[test]
fn uppercase_example_reads_and_writes_objects_from_a_function() {
    let server = Server::start();
    let example = crate::support::workspace_root().join("examples/uppercase");
    server.cli_ok(&["deploy", example.to_str().unwrap()]);
    let s3 = server.s3_client();
    runtime().block_on(async {
        s3.put_object()
            .bucket("docs")
            .key("incoming/a note.txt")
            .body(ByteStream::from_static(b"quiet words"))
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("docs")
            .key("incoming/skip.md")
            .body(ByteStream::from_static(b"no"))
            .send()
            .await
            .unwrap();
        let mut upper = None;
        for _ in 0..200 {
            if let Ok(o) = s3
                .get_object()
                .bucket("docs")
                .key("upper/a note.txt")
                .send()
                .await
            {
                upper = Some(o.body.collect().await.unwrap().into_bytes().to_vec());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(upper.as_deref(), Some(&b"QUIET WORDS"[..]));
        let e = s3
            .head_object()
            .bucket("docs")
            .key("upper/skip.md")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code_of(&e).1,
            Some(404),
            "the .md file matched no subscription"
        );
    });
    let runs = server.runs_eventually("app=uppercase", 1);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "bucket");
    assert_eq!(runs[0]["status"], "succeeded");
    assert!(runs[0]["event_id"].as_str().unwrap().starts_with("be"));
}

#[test]
fn runs_get_aws_credentials_scoped_to_their_app() {
    let server = Server::start();
    let app = AppDir::new(&format!(
        "[app]\nname = \"creds\"\n\n[buckets.creds-data]\n\n[functions.f]\ncomponent = \"{}\"\nroutes = [\"/creds/*\"]\n",
        guest("kitchen")
    ));
    server.cli_ok(&["deploy", app.path()]);
    let env = |name: &str| {
        reqwest::blocking::get(server.url(&format!("/creds/env?name={name}")))
            .unwrap()
            .text()
            .unwrap()
    };
    assert_eq!(env("AWS_ENDPOINT_URL"), server.s3);
    assert_eq!(env("AWS_REGION"), "us-east-1");
    let (id, secret) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"));
    assert!(id.starts_with("STRATO"), "{id}");
    assert_ne!(id, server.admin_key().0, "not the admin key");
    // The run's key works for its app's bucket and nothing else.
    let scoped = server.s3_client_with(&id, &secret);
    let admin = server.s3_client();
    runtime().block_on(async {
        admin
            .create_bucket()
            .bucket("not-theirs")
            .send()
            .await
            .unwrap();
        scoped
            .put_object()
            .bucket("creds-data")
            .key("k")
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .unwrap();
        let e = scoped
            .list_objects_v2()
            .bucket("not-theirs")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&e).0.as_deref(), Some("AccessDenied"));
    });
}
