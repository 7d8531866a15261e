//! Image sources beyond archives: `strato image pull` from a real
//! registry (Debian's docker-registry, CNCF distribution, on 127.0.0.1 with
//! htpasswd auth, the image pushed there by skopeo) and `strato image
//! build` through buildah.

use crate::oci_images::{busybox_layer, docker_archive, require_containers, write};
use crate::support::{AppDir, Server};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails the test (rather than skipping it) when a tool is missing.
fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "this test needs {tool}: apt-get install {package}");
}

fn start_registry(user: &str, password: &str) -> Registry {
    require_tool("docker-registry", "docker-registry");
    require_tool("skopeo", "skopeo");
    let dir = tempfile::tempdir().unwrap();
    let hash = Command::new("python3")
        .args([
            "-c",
            &format!("import crypt; print(crypt.crypt('{password}', crypt.mksalt(crypt.METHOD_BLOWFISH)))"),
        ])
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    std::fs::write(
        dir.path().join("htpasswd"),
        format!("{user}:{}", hash.trim()),
    )
    .unwrap();
    // docker-registry cannot be handed a listening socket, so a free port
    // is picked and may be taken by someone else before the registry binds
    // it: then the registry exits (or another server answers), and the
    // start is tried again on another port.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: strato-test\n    path: {root}/htpasswd\n",
            root = dir.path().display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let ours = loop {
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            // The registry's own answer: 401 with its API version header.
            let answer = crate::support::client()
                .get(format!("http://{addr}/v2/"))
                .send();
            if let Ok(r) = answer {
                break r.headers().contains_key("docker-distribution-api-version");
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if ours {
            return Registry {
                child,
                addr,
                _dir: dir,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("docker-registry did not start on any of 5 ports");
}

#[test]
fn images_are_pulled_from_a_registry_with_credentials() {
    require_containers();
    let registry = start_registry("puller", "s3cret");
    let server = Server::start();
    let archive = write(
        server.data_dir.path(),
        "push.tar",
        &docker_archive("bb:1", &[busybox_layer()], None),
    );
    let pushed = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "puller:s3cret",
        ])
        .arg(format!("docker-archive:{archive}"))
        .arg(format!("docker://{}/tools/bb:1", registry.addr))
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    let reference = format!("{}/tools/bb:1", registry.addr);
    let err = server.cli_err(&["image", "pull", &reference]);
    assert!(err.contains("401") && err.contains("--username"), "{err}");
    let err = server.cli_err(&[
        "image",
        "pull",
        &reference,
        "--username",
        "puller",
        "--password",
        "wrong",
    ]);
    assert!(err.contains("401"), "{err}");
    let out = server.cli_ok(&[
        "image",
        "pull",
        &reference,
        "--username",
        "puller",
        "--password",
        "s3cret",
    ]);
    assert!(out.contains(&format!("pulled {reference}")), "{out}");
    let app = AppDir::new(&format!(
        "[app]\nname = \"pulled\"\n[tasks.t]\nimage = \"{reference}\"\ncommand = [\"echo\", \"from-the-registry\"]\n"
    ));
    server.cli_ok(&["deploy", app.path()]);
    let out = server.cli_ok(&["task", "run", "--wait", "pulled/t"]);
    assert_eq!(out.trim(), "from-the-registry");
    // Removing the image while a task uses it needs --force.
    let err = server.cli_err(&["image", "rm", &reference]);
    assert!(err.contains("used by task `t`"), "{err}");
    server.cli_ok(&["image", "rm", &reference, "--force"]);
    assert_eq!(
        server.cli_ok(&["image", "ls", "--output", "json"]).trim(),
        "[]"
    );
    assert_eq!(
        std::fs::read_dir(server.data_dir.path().join("images/blobs/sha256"))
            .unwrap()
            .count(),
        0,
        "its blobs went with it"
    );
}

#[test]
fn images_are_built_from_a_dockerfile_with_buildah() {
    require_containers();
    require_tool("buildah", "buildah");
    let server = Server::start();
    let context = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", context.path().join("busybox")).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"echo\", \"built-with-buildah\"]\n",
    )
    .unwrap();
    let tag = format!("strato-test/built:{}", std::process::id());
    let out = server.cli_ok(&[
        "image",
        "build",
        context.path().to_str().unwrap(),
        "-t",
        &tag,
    ]);
    assert!(out.contains(&format!("imported {tag}")), "{out}");
    let app = AppDir::new(&format!(
        "[app]\nname = \"built\"\n[tasks.t]\nimage = \"{tag}\"\n"
    ));
    server.cli_ok(&["deploy", app.path()]);
    let out = server.cli_ok(&["task", "run", "--wait", "built/t"]);
    assert_eq!(out.trim(), "built-with-buildah", "the image's CMD runs");
    let _ = Command::new("buildah").args(["rmi", &tag]).output();
}
