//! The command-line S3 clients people script with, as Debian ships them:
//! s3cmd with its default configuration (only the endpoint and keys set;
//! also ACLs, policies, CORS, lifecycle, encryption) and rclone (copy,
//! sync, check, purge, multipart uploads, versions).

use crate::buckets::walk;
use crate::support::{Server, runtime};
use std::path::Path;
use std::process::Command;

fn require(tool: &str, package: &str) {
    let found = Command::new(tool).arg("--version").output().is_ok();
    assert!(found, "these tests need {tool}: apt-get install {package}");
}

/// Runs a tool; its stdout, stderr and whether it succeeded.
fn run(cmd: &mut Command) -> (bool, String, String) {
    // The machine's AWS_CA_BUNDLE would make rclone's SDK refuse its own
    // HTTP transport; these clients talk plain HTTP to 127.0.0.1.
    let out = cmd.env_remove("AWS_CA_BUNDLE").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn host_of(server: &Server) -> String {
    server.s3.trim_start_matches("http://").to_string()
}

/// A tree of files to copy: small ones and one big enough for multipart.
fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("docs/deep")).unwrap();
    std::fs::write(dir.join("readme.txt"), "hello from rclone and s3cmd\n").unwrap();
    std::fs::write(dir.join("docs/a.json"), r#"{"a": 1}"#).unwrap();
    std::fs::write(dir.join("docs/deep/ünïcode name.txt"), "utf-8 keys\n").unwrap();
    let big: Vec<u8> = (0..(12u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
}

/// s3cmd's default configuration signs for the region `US`: Strato
/// answers `AuthorizationHeaderMalformed` naming its region, s3cmd
/// follows it, and then makes buckets, uploads (multipart past 5 MiB),
/// lists, syncs, downloads, deletes and removes buckets.
#[test]
fn s3cmd_with_its_default_configuration_works() {
    require("s3cmd", "s3cmd");
    let server = Server::start();
    let (id, secret) = server.admin_key();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("s3cfg");
    let host = host_of(&server);
    std::fs::write(
        &config,
        format!(
            "[default]\naccess_key = {id}\nsecret_key = {secret}\nhost_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
        ),
    )
    .unwrap();
    let local = work.path().join("tree");
    tree(&local);
    let s3cmd = |args: &[&str]| {
        let (ok, out, err) = run(Command::new("s3cmd")
            .arg("-c")
            .arg(&config)
            .args(["--multipart-chunk-size-mb", "5", "-v"])
            .args(args));
        assert!(ok, "s3cmd {args:?}: {out}\n{err}");
        format!("{out}{err}")
    };
    let made = s3cmd(&["mb", "s3://tools"]);
    assert!(made.contains("Forwarding request to us-east-1"), "{made}");
    assert!(made.contains("Bucket 's3://tools/' created"), "{made}");
    let big = local.join("big.bin");
    s3cmd(&["put", big.to_str().unwrap(), "s3://tools/big.bin"]);
    let head = runtime().block_on(
        server
            .s3_client()
            .head_object()
            .bucket("tools")
            .key("big.bin")
            .send(),
    );
    let etag = head.unwrap().e_tag().unwrap_or_default().to_string();
    assert!(
        etag.ends_with("-3\""),
        "a multipart upload of 3 parts: {etag}"
    );
    let synced = s3cmd(&["sync", &format!("{}/", local.display()), "s3://tools/tree/"]);
    assert!(synced.contains("Done."), "{synced}");
    let listing = s3cmd(&["ls", "-r", "s3://tools"]);
    for key in [
        "s3://tools/big.bin",
        "s3://tools/tree/readme.txt",
        "s3://tools/tree/docs/deep/ünïcode name.txt",
    ] {
        assert!(listing.contains(key), "{key} in {listing}");
    }
    let back = work.path().join("back.bin");
    s3cmd(&["get", "s3://tools/big.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&big).unwrap());
    // A second sync finds nothing to do (sizes and MD5s match).
    let again = s3cmd(&["sync", &format!("{}/", local.display()), "s3://tools/tree/"]);
    assert!(!again.contains("upload:"), "nothing re-uploaded: {again}");
    assert!(s3cmd(&["ls"]).contains("s3://tools"));

    // ACLs: a public object reads without a signature, a private one not.
    let public_url = format!("{}/tools/tree/readme.txt", server.s3);
    let anonymous = || {
        crate::support::client()
            .get(&public_url)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(anonymous(), 403);
    s3cmd(&["setacl", "--acl-public", "s3://tools/tree/readme.txt"]);
    assert_eq!(anonymous(), 200);
    s3cmd(&["setacl", "--acl-private", "s3://tools/tree/readme.txt"]);
    assert_eq!(anonymous(), 403);
    // A policy, a CORS rule and a lifecycle rule, set and shown.
    let policy = work.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::tools/tree/*"}]}"#,
    )
    .unwrap();
    s3cmd(&["setpolicy", policy.to_str().unwrap(), "s3://tools"]);
    assert_eq!(anonymous(), 200, "the policy opens tree/");
    let cors = work.path().join("cors.xml");
    std::fs::write(
        &cors,
        "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    )
    .unwrap();
    s3cmd(&["setcors", cors.to_str().unwrap(), "s3://tools"]);
    let info = s3cmd(&["info", "s3://tools"]);
    assert!(
        info.contains("tools/tree/*") && info.contains("https://app.example.com"),
        "{info}"
    );
    s3cmd(&["delpolicy", "s3://tools"]);
    assert_eq!(anonymous(), 403);
    s3cmd(&[
        "expire",
        "s3://tools",
        "--expiry-days=30",
        "--expiry-prefix=logs/",
    ]);
    let lifecycle = s3cmd(&["getlifecycle", "s3://tools"]);
    assert!(
        lifecycle.contains("logs/") && lifecycle.contains("30"),
        "{lifecycle}"
    );
    // Server-side encryption on upload.
    s3cmd(&[
        "put",
        "--server-side-encryption",
        local.join("readme.txt").to_str().unwrap(),
        "s3://tools/enc.txt",
    ]);
    let info = s3cmd(&["info", "s3://tools/enc.txt"]);
    assert!(info.contains("AES256"), "{info}");
    let back = work.path().join("enc.txt");
    s3cmd(&["get", "s3://tools/enc.txt", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(local.join("readme.txt")).unwrap()
    );

    s3cmd(&["del", "--recursive", "--force", "s3://tools/"]);
    s3cmd(&["rb", "s3://tools"]);
    assert!(!s3cmd(&["ls"]).contains("s3://tools"));
}

/// rclone copies (multipart for the big file), syncs (deleting what the
/// source no longer has), checks and purges, with nothing logged as an
/// error; the purged bucket's bytes are gone from the data dir.
#[test]
fn rclone_copies_syncs_checks_and_purges() {
    require("rclone", "rclone");
    let server = Server::start();
    let (id, secret) = server.admin_key();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("tree");
    tree(&local);
    let rclone = |args: &[&str]| {
        let (ok, out, err) = run(Command::new("rclone")
            .args(["--config", "/dev/null", "--s3-upload-cutoff", "5M"])
            .args(["--s3-chunk-size", "5M"])
            .env("RCLONE_CONFIG_ST_TYPE", "s3")
            .env("RCLONE_CONFIG_ST_PROVIDER", "Other")
            .env("RCLONE_CONFIG_ST_ACCESS_KEY_ID", &id)
            .env("RCLONE_CONFIG_ST_SECRET_ACCESS_KEY", &secret)
            .env("RCLONE_CONFIG_ST_ENDPOINT", &server.s3)
            .env("RCLONE_CONFIG_ST_FORCE_PATH_STYLE", "true")
            .args(args));
        assert!(ok, "rclone {args:?}: {out}\n{err}");
        assert!(
            !err.contains("ERROR"),
            "rclone {args:?} logged an error: {err}"
        );
        format!("{out}{err}")
    };
    let src = local.to_str().unwrap();
    rclone(&["mkdir", "st:media"]);
    rclone(&["copy", src, "st:media/copy"]);
    rclone(&["sync", src, "st:media/sync"]);
    let checked = rclone(&["check", src, "st:media/copy"]);
    assert!(checked.contains("0 differences found"), "{checked}");
    assert!(checked.contains("4 matching files"), "{checked}");
    // The big file went up in parts: its ETag says how many.
    let listed = rclone(&["lsjson", "--hash", "st:media/copy/big.bin"]);
    assert!(
        listed.contains("\"size\":12582912") || listed.contains("\"Size\":12582912"),
        "{listed}"
    );
    // Sync removes what the source lost.
    std::fs::remove_file(local.join("docs/a.json")).unwrap();
    rclone(&["sync", src, "st:media/sync"]);
    let keys = rclone(&["ls", "st:media/sync"]);
    assert!(
        !keys.contains("docs/a.json") && keys.contains("readme.txt"),
        "{keys}"
    );
    let checked = rclone(&["check", src, "st:media/sync"]);
    assert!(checked.contains("0 differences found"), "{checked}");
    // Purge asks for the bucket's versioning, deletes everything and the
    // bucket, without an error.
    rclone(&["purge", "st:media"]);
    assert!(!rclone(&["lsd", "st:"]).contains("media"));

    // A versioned bucket: rclone lists the older versions it keeps.
    rclone(&["mkdir", "st:kept"]);
    server.aws_ok(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        "kept",
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    let note = local.join("readme.txt");
    rclone(&["copyto", note.to_str().unwrap(), "st:kept/note.txt"]);
    std::fs::write(&note, "changed\n").unwrap();
    rclone(&["copyto", note.to_str().unwrap(), "st:kept/note.txt"]);
    let versions = rclone(&["ls", "--s3-versions", "st:kept"]);
    assert_eq!(versions.lines().count(), 2, "{versions}");
    assert_eq!(rclone(&["ls", "st:kept"]).lines().count(), 1);
    // Deleting hides the file behind a delete marker; both versions stay.
    rclone(&["delete", "st:kept"]);
    assert_eq!(rclone(&["ls", "st:kept"]).lines().count(), 0);
    let versions = rclone(&["ls", "--s3-versions", "st:kept"]);
    assert_eq!(versions.lines().count(), 2, "{versions}");
    assert!(
        walk(&server.data_dir.path().join("blobs")).is_empty(),
        "no bytes left behind"
    );
}
