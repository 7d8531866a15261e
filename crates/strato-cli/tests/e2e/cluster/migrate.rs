//! A single-machine deployment moved into a cluster.

use super::*;

#[test]
fn a_single_machine_deployment_moves_into_a_cluster_with_nothing_lost() {
    // A deployment on the embedded defaults: an app, a bucket with a
    // plain and an encrypted object (one large enough for blob storage),
    // runs with logs, a queued message.
    let mut solo = Server::start();
    let app = AppDir::new(&format!(
        r#"
[app]
name = "moved"
[buckets.files]
[queues.later]
[functions.k]
component = "{}"
routes = ["/k/*"]
"#,
        guest("kitchen")
    ));
    solo.cli_ok(&["deploy", app.path()]);
    let resp = client().post(solo.url("/k/log?n=3")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let big = vec![42u8; 300 << 10];
    let solo_s3 = solo.s3_client();
    runtime().block_on(async {
        solo_s3
            .put_object()
            .bucket("files")
            .key("big.bin")
            .body(aws_sdk_s3::primitives::ByteStream::from(big.clone()))
            .send()
            .await
            .unwrap();
        solo_s3
            .put_object()
            .bucket("files")
            .key("secret.txt")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"sealed"))
            .send()
            .await
            .unwrap();
    });
    solo.cli_ok(&["queue", "send", "moved/later", "kept"]);
    let archive =
        crate::oci_images::docker_archive("bb:1", &[crate::oci_images::busybox_layer()], None);
    let image = crate::oci_images::write(solo.data_dir.path(), "bb.tar", &archive);
    solo.cli_ok(&["image", "import", &image]);
    let old_token = solo.token.clone();
    let runs_before = solo.runs_eventually("app=moved", 1).len();
    assert_eq!(runs_before, 1);
    // Refused while its server runs.
    let backing = Backing::fresh();
    let data_dir = solo.data_dir.path().to_str().unwrap().to_string();
    let mut migrate = vec![
        "admin".to_string(),
        "migrate".into(),
        "--data-dir".into(),
        data_dir,
    ];
    migrate.extend(backing.node_args());
    let migrate: Vec<&str> = migrate.iter().map(String::as_str).collect();
    let err = solo.cli_err(&migrate);
    assert!(err.contains("stop it first"), "{err}");
    solo.stop();
    let said = solo.cli_ok(&migrate);
    assert!(said.contains("objects") && said.contains("blobs"), "{said}");
    assert!(
        said.lines()
            .any(|l| l.split_whitespace().take(2).eq(["images", "1"])),
        "{said}"
    );

    // A node of the new cluster, on a fresh data dir, serves it all.
    let node_args = backing.node_args();
    let node = Server::start_with(&node_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(node.token, old_token, "the admin token moved");
    let resp = client()
        .post(node.url("/k/echo"))
        .body("after")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "after");
    // The S3 keys moved too: the old admin key reads the objects.
    let s3 = node.s3_client_with(&solo.admin_key().0, &solo.admin_key().1);
    runtime().block_on(async {
        let got = s3
            .get_object()
            .bucket("files")
            .key("big.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), big);
        let got = s3
            .get_object()
            .bucket("files")
            .key("secret.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(
            &got.body.collect().await.unwrap().into_bytes()[..],
            b"sealed"
        );
    });
    assert_eq!(
        node.runs_eventually("app=moved", 2).len(),
        2,
        "the old run and the new one"
    );
    wait_until("the old run's log lines", Duration::from_secs(5), || {
        node.log_texts("moved").iter().any(|l| l == "stdout line 2")
    });
    let received = node.cli_ok(&["queue", "receive", "moved/later"]);
    assert!(received.contains("kept"), "{received}");
    // The image moved: listed, and a task of it deploys (found and
    // fetched from the shared blobs by a node that never imported it).
    let listed = node.cli_ok(&["image", "ls"]);
    assert!(listed.contains("bb:1"), "{listed}");
    let with_task = AppDir::new("[app]\nname = \"later\"\n[tasks.t]\nimage = \"bb:1\"\n");
    node.cli_ok(&["deploy", with_task.path()]);
}
