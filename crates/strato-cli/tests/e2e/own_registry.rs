//! Strato's own registry (`--registry`), driven by the tools people push
//! with: skopeo, buildah and podman (Debian's) push and pull through
//! Docker's token flow over Strato's access keys; a pushed image runs as a
//! task and as a service by its registry name. Then the protocol's corners
//! over raw HTTP: chunked uploads, cross-repository mounts, tag pagination,
//! referrers, deletes and garbage collection.

use crate::oci_images::{
    Entry, busybox_layer, docker_archive, layer, require_containers, sha256, write,
};
use crate::support::{AppDir, Server, client, wait_until};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// An access key pair, `--app APP` or admin.
fn key(server: &Server, app: Option<&str>) -> (String, String) {
    let mut args = vec!["keys", "create", "--output", "json"];
    if let Some(app) = app {
        args.extend(["--app", app]);
    }
    let key: Value = serde_json::from_str(&server.cli_ok(&args)).unwrap();
    (
        key["id"].as_str().unwrap().to_string(),
        key["secret"].as_str().unwrap().to_string(),
    )
}

fn creds((id, secret): &(String, String)) -> String {
    format!("{id}:{secret}")
}

/// Runs a tool, returning (success, stdout + stderr).
fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (apt-get install {program})"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let (ok, text) = run(program, args);
    assert!(ok, "{program} {args:?} failed:\n{text}");
    text
}

/// Container storage of the test's own (buildah and podman share it).
fn storage_flags(dir: &Path) -> Vec<String> {
    vec![
        "--root".into(),
        dir.join("root").display().to_string(),
        "--runroot".into(),
        dir.join("runroot").display().to_string(),
        "--storage-driver".into(),
        "vfs".into(),
    ]
}

fn web_image(server: &Server) -> String {
    let archive = docker_archive(
        "web:1",
        &[busybox_layer(), crate::services::web_layer()],
        None,
    );
    write(server.data_dir.path(), "web.tar", &archive)
}

#[test]
fn skopeo_buildah_and_podman_push_and_pull_with_keys_and_pushed_images_run() {
    require_containers();
    let server = Server::start();
    let reg = server.registry.clone();
    let archive = web_image(&server);
    let shop = key(&server, Some("shop"));
    let other = key(&server, Some("other"));
    let source = format!("docker-archive:{archive}");
    let dest = |repo: &str| format!("docker://{reg}/{repo}");

    // Without a key, and with another app's key, nothing is pushed.
    let (ok, text) = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &source,
            &dest("shop/web:1"),
        ],
    );
    assert!(
        !ok && text.to_lowercase().contains("authentication required"),
        "{text}"
    );
    let (ok, text) = run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds(&other),
            &source,
            &dest("shop/web:1"),
        ],
    );
    assert!(!ok, "another app's key pushed:\n{text}");
    assert!(!server.cli_ok(&["image", "ls"]).contains("shop/web"));

    // The app's key pushes into its repositories.
    run_ok(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds(&shop),
            &source,
            &dest("shop/web:1"),
        ],
    );
    let listed = server.cli_ok(&["image", "ls"]);
    assert!(listed.contains("shop/web:1"), "{listed}");
    let tags = run_ok(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            "--creds",
            &creds(&shop),
            &dest("shop/web"),
        ],
    );
    assert!(tags.contains("\"1\""), "{tags}");
    let (ok, text) = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds(&other),
            &dest("shop/web:1"),
        ],
    );
    assert!(!ok, "another app's key read the image:\n{text}");

    // Pulled back by skopeo, by `strato image pull` and by podman.
    let pulled = server.data_dir.path().join("pulled");
    run_ok(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &creds(&shop),
            &dest("shop/web:1"),
            &format!("oci:{}:web", pulled.display()),
        ],
    );
    assert!(pulled.join("index.json").is_file());
    let out = server.cli_ok(&[
        "image",
        "pull",
        &format!("{reg}/shop/web:1"),
        "--username",
        &shop.0,
        "--password",
        &shop.1,
    ]);
    assert!(out.contains("shop/web:1"), "{out}");

    let storage = tempfile::tempdir().unwrap();
    let flags = storage_flags(storage.path());
    let with = |args: &[&str]| -> Vec<String> {
        flags
            .iter()
            .cloned()
            .chain(args.iter().map(|s| s.to_string()))
            .collect()
    };
    let podman = |args: &[&str]| {
        let args = with(args);
        run_ok(
            "podman",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    podman(&[
        "pull",
        "--tls-verify=false",
        "--creds",
        &creds(&shop),
        &format!("{reg}/shop/web:1"),
    ]);
    podman(&[
        "tag",
        &format!("{reg}/shop/web:1"),
        &format!("{reg}/shop/podman:1"),
    ]);
    podman(&[
        "push",
        "--tls-verify=false",
        "--creds",
        &creds(&shop),
        &format!("{reg}/shop/podman:1"),
    ]);

    // buildah builds from scratch and pushes.
    let buildah = |args: &[&str]| {
        let args = with(args);
        run_ok(
            "buildah",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let container = buildah(&["from", "scratch"])
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_string();
    buildah(&["copy", &container, "/bin/busybox", "/bin/busybox"]);
    buildah(&[
        "config",
        "--cmd",
        r#"["/bin/busybox","echo","built by buildah"]"#,
        &container,
    ]);
    buildah(&["commit", &container, "localhost/built:1"]);
    buildah(&[
        "push",
        "--tls-verify=false",
        "--creds",
        &creds(&shop),
        "localhost/built:1",
        &format!("docker://{reg}/shop/built:1"),
    ]);
    let listed = server.cli_ok(&["image", "ls"]);
    for name in ["shop/podman:1", "shop/built:1"] {
        assert!(listed.contains(name), "{name} in {listed}");
    }

    // Pushed images run by the name they were pushed under.
    let app = AppDir::new(&format!(
        r#"[app]
name = "shop"

[tasks.hello]
image = "{reg}/shop/built:1"

[services.web]
image = "shop/web:1"
{command}
routes = ["/index.html"]
"#,
        command = crate::services::COMMAND,
    ));
    server.cli_ok(&["deploy", app.path()]);
    let out = server.cli_ok(&["task", "run", "shop/hello", "--wait"]);
    assert!(out.contains("built by buildah"), "{out}");
    let body = client()
        .get(server.url("/index.html"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "hello from web\n");
}

/// Uploads `bytes` in one request; the blob's digest.
fn upload(http: &Http, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let resp = http.post(
        &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
        bytes.to_vec(),
    );
    assert_eq!(resp.status(), 201, "{:?}", resp.text());
    digest
}

/// Raw distribution API calls with Basic credentials.
struct Http {
    base: String,
    key: (String, String),
}

impl Http {
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = client()
            .request(method, url)
            .basic_auth(&self.key.0, Some(&self.key.1))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().unwrap()
    }
    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.send(reqwest::Method::GET, path, Vec::new(), &[])
    }
    fn post(&self, path: &str, body: Vec<u8>) -> reqwest::blocking::Response {
        self.send(reqwest::Method::POST, path, body, &[])
    }
}

fn manifest(
    config: &str,
    config_size: usize,
    config_type: &str,
    layers: &[(&str, usize)],
) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(d, s)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}))
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config_type, "digest": config, "size": config_size},
        "layers": layers,
    }))
    .unwrap()
}

#[test]
fn chunked_uploads_mounts_tag_pages_referrers_deletes_and_garbage_collection() {
    let server = Server::start();
    let shop = Http {
        base: format!("http://{}", server.registry),
        key: key(&server, Some("shop")),
    };
    let other = Http {
        base: shop.base.clone(),
        key: key(&server, Some("other")),
    };

    // A layer in three chunks; a chunk out of place is refused with where
    // the upload stands.
    let tar = layer(&[Entry::File("hello.txt", b"hello from a chunked upload\n")]);
    let started = shop.post("/v2/shop/app/blobs/uploads/", Vec::new());
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_string();
    let (a, rest) = tar.split_at(1000);
    let (b, c) = rest.split_at(1000);
    let r = shop.send(
        reqwest::Method::PATCH,
        &location,
        a.to_vec(),
        &[("content-range", "0-999")],
    );
    assert_eq!(
        (r.status().as_u16(), r.headers()["range"].to_str().unwrap()),
        (202, "0-999")
    );
    let r = shop.send(
        reqwest::Method::PATCH,
        &location,
        b.to_vec(),
        &[("content-range", "5-1004")],
    );
    assert_eq!(
        (r.status().as_u16(), r.headers()["range"].to_str().unwrap()),
        (416, "0-999")
    );
    let r = shop.send(
        reqwest::Method::PATCH,
        &location,
        b.to_vec(),
        &[("content-range", "1000-1999")],
    );
    assert_eq!(r.status(), 202);
    let layer_digest = sha256(&tar);
    let r = shop.send(
        reqwest::Method::PUT,
        &format!("{location}?digest={layer_digest}"),
        c.to_vec(),
        &[],
    );
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        layer_digest
    );
    let got = shop.get(&format!("/v2/shop/app/blobs/{layer_digest}"));
    assert_eq!(got.bytes().unwrap().as_ref(), &tar[..]);
    let ranged = shop.send(
        reqwest::Method::GET,
        &format!("/v2/shop/app/blobs/{layer_digest}"),
        Vec::new(),
        &[("range", "bytes=0-9")],
    );
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().unwrap().as_ref(), &tar[..10]);

    // A wrong digest stores nothing.
    let r = shop.post(
        &format!("/v2/shop/app/blobs/uploads/?digest={}", sha256(b"other")),
        b"not it".to_vec(),
    );
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("DIGEST_INVALID"));

    // An image: config + the layer, tagged v1..v3.
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["cat", "/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = upload(&shop, "shop/app", &config);
    let image = manifest(
        &config_digest,
        config.len(),
        "application/vnd.oci.image.config.v1+json",
        &[(&layer_digest, tar.len())],
    );
    let image_digest = sha256(&image);
    for tag in ["v1", "v2", "v3"] {
        let r = shop.send(
            reqwest::Method::PUT,
            &format!("/v2/shop/app/manifests/{tag}"),
            image.clone(),
            &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
        );
        assert_eq!(r.status(), 201, "{:?}", r.text());
        assert_eq!(
            r.headers()["docker-content-digest"].to_str().unwrap(),
            image_digest
        );
    }
    // A manifest whose layer the repository lacks is refused.
    let missing = manifest(
        &config_digest,
        config.len(),
        "application/vnd.oci.image.config.v1+json",
        &[(&sha256(b"nope"), 4)],
    );
    let r = shop.send(
        reqwest::Method::PUT,
        "/v2/shop/app/manifests/bad",
        missing,
        &[],
    );
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("MANIFEST_BLOB_UNKNOWN"));
    // Nor a config whose diff_ids the layers do not unpack to: a push
    // must not put other bytes under an image id runs trust.
    let lying = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(b"other content")]},
    }))
    .unwrap();
    let lying_digest = upload(&shop, "shop/app", &lying);
    let r = shop.send(
        reqwest::Method::PUT,
        "/v2/shop/app/manifests/lying",
        manifest(
            &lying_digest,
            lying.len(),
            "application/vnd.oci.image.config.v1+json",
            &[(&layer_digest, tar.len())],
        ),
        &[],
    );
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("MANIFEST_INVALID"));
    // Nor may another repository's blobs be claimed without a mount.
    let r = shop.send(
        reqwest::Method::PUT,
        "/v2/shop/elsewhere/manifests/1",
        image.clone(),
        &[],
    );
    assert!(r.text().unwrap().contains("MANIFEST_BLOB_UNKNOWN"));

    // Tags come in pages.
    let first = shop.get("/v2/shop/app/tags/list?n=2");
    let link = first.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(first.json::<Value>().unwrap()["tags"], json!(["v1", "v2"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    assert_eq!(
        shop.get(next).json::<Value>().unwrap()["tags"],
        json!(["v3"])
    );

    // A mount needs read access to the source repository.
    let mount = format!("/v2/shop/copy/blobs/uploads/?mount={layer_digest}&from=shop/app");
    let r = shop.post(&mount, Vec::new());
    assert_eq!(r.status(), 201);
    assert_eq!(
        shop.send(
            reqwest::Method::HEAD,
            &format!("/v2/shop/copy/blobs/{layer_digest}"),
            Vec::new(),
            &[]
        )
        .status(),
        200
    );
    let r = other.post(
        &format!("/v2/other/copy/blobs/uploads/?mount={layer_digest}&from=shop/app"),
        Vec::new(),
    );
    assert_eq!(
        r.status(),
        202,
        "a mount from a repository the key cannot read must become an upload"
    );
    assert_eq!(
        other
            .get(&format!("/v2/other/copy/blobs/{layer_digest}"))
            .status(),
        404
    );
    let r = other.get("/v2/shop/app/manifests/v1");
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("DENIED"));

    // Referrers: an artifact about the image, found by its subject.
    let empty = upload(&shop, "shop/app", b"{}");
    let sbom = upload(&shop, "shop/app", b"{\"sbom\": true}");
    let mut artifact: Value = serde_json::from_slice(&manifest(
        &empty,
        2,
        "application/vnd.oci.empty.v1+json",
        &[(&sbom, 14)],
    ))
    .unwrap();
    artifact["artifactType"] = json!("application/vnd.example.sbom");
    artifact["subject"] = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image_digest, "size": image.len()});
    let artifact = serde_json::to_vec(&artifact).unwrap();
    let artifact_digest = sha256(&artifact);
    let r = shop.send(
        reqwest::Method::PUT,
        &format!("/v2/shop/app/manifests/{artifact_digest}"),
        artifact,
        &[],
    );
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["oci-subject"].to_str().unwrap(), image_digest);
    let referrers: Value = shop
        .get(&format!("/v2/shop/app/referrers/{image_digest}"))
        .json()
        .unwrap();
    assert_eq!(referrers["manifests"][0]["digest"], json!(artifact_digest));
    assert_eq!(
        referrers["manifests"][0]["artifactType"],
        json!("application/vnd.example.sbom")
    );
    let filtered: Value = shop
        .get(&format!(
            "/v2/shop/app/referrers/{image_digest}?artifactType=x/y"
        ))
        .json()
        .unwrap();
    assert_eq!(filtered["manifests"], json!([]));

    // Deleting tags, then the manifest; garbage collection frees the
    // layer only once nothing uses it.
    let blob_file = server
        .data_dir
        .path()
        .join("images/blobs/sha256")
        .join(&layer_digest["sha256:".len()..]);
    for tag in ["v1", "v2"] {
        assert_eq!(
            shop.send(
                reqwest::Method::DELETE,
                &format!("/v2/shop/app/manifests/{tag}"),
                Vec::new(),
                &[]
            )
            .status(),
            202
        );
    }
    assert_eq!(
        shop.get("/v2/shop/app/tags/list").json::<Value>().unwrap()["tags"],
        json!(["v3"])
    );
    server.cli_ok(&["image", "gc", "--grace", "0s"]);
    assert!(blob_file.is_file(), "v3 still uses the layer");
    assert_eq!(
        shop.get(&format!("/v2/shop/app/manifests/{image_digest}"))
            .status(),
        200
    );
    let r = shop.send(
        reqwest::Method::DELETE,
        &format!("/v2/shop/app/manifests/{image_digest}"),
        Vec::new(),
        &[],
    );
    assert_eq!(r.status(), 202);
    assert_eq!(shop.get("/v2/shop/app/manifests/v3").status(), 404);
    assert!(!server.cli_ok(&["image", "ls"]).contains("shop/app"));
    // shop/copy's mount is pending in memory until the server restarts.
    assert!(
        shop.send(
            reqwest::Method::DELETE,
            &format!("/v2/shop/copy/blobs/{layer_digest}"),
            Vec::new(),
            &[]
        )
        .status()
            == 202
    );
    let out = server.cli_ok(&["image", "gc", "--grace", "0s"]);
    assert!(out.contains("blobs"), "{out}");
    wait_until("the layer's bytes to go", Duration::from_secs(5), || {
        !blob_file.exists()
    });
}
