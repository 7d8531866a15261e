//! Test images built by the test setup: layers around Debian's static
//! busybox, packed as `docker save` archives or OCI image layouts.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Container tests need root, runc and a static busybox; fail loudly
/// (not skip) naming what to install when one is missing.
pub fn require_containers() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "container task tests need root (runc drives namespaces and cgroups); run the suite as root"
    );
    let runc = std::process::Command::new("runc").arg("--version").output();
    assert!(
        runc.map(|o| o.status.success()).unwrap_or(false),
        "container task tests need runc: apt-get install runc"
    );
    assert!(
        Path::new("/bin/busybox").exists(),
        "container task tests need a static busybox: apt-get install busybox-static"
    );
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One entry of a test layer.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    /// A name the tar builder would refuse (`../x`, `/abs`), written raw.
    RawFile(&'a str, &'a [u8]),
}

pub fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = tar::Header::new_gnu();
        match entry {
            Entry::File(path, body) => {
                h.set_size(body.len() as u64);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, path, *body).unwrap();
            }
            Entry::Dir(path) => {
                h.set_size(0);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Entry::Symlink(path, target) => {
                h.set_size(0);
                h.set_mode(0o777);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, path, target).unwrap();
            }
            Entry::RawFile(name, body) => {
                let mut h = tar::Header::new_old();
                h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_size(body.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                b.append(&h, *body).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// busybox and the applets the tests use, plus /tmp.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("reading /bin/busybox");
    let applets = [
        "sh", "echo", "true", "false", "sleep", "cat", "env", "wget", "ls", "tail", "head", "id",
        "grep", "seq", "wc", "test", "[", "printf", "mkdir", "rm", "touch", "nc", "hostname",
    ];
    let mut entries = vec![
        Entry::Dir("bin"),
        Entry::Dir("tmp"),
        Entry::Dir("etc"),
        Entry::File("bin/busybox", &busybox),
        Entry::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nworker:x:1000:1000::/tmp:/bin/sh\n",
        ),
        Entry::File("etc/group", b"root:x:0:\nworker:x:1000:\n"),
    ];
    let links: Vec<String> = applets.iter().map(|a| format!("bin/{a}")).collect();
    for l in &links {
        entries.push(Entry::Symlink(l, "busybox"));
    }
    let mut t = layer(&entries);
    // /tmp must be world-writable like a real image's.
    let mut b = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(&t[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        if e.path().unwrap().to_str() == Some("tmp") {
            h.set_mode(0o1777);
            h.set_cksum();
        }
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut body).unwrap();
        b.append(&h, &body[..]).unwrap();
    }
    t = b.into_inner().unwrap();
    t
}

pub fn config(diff_ids: &[String], cmd: &[&str], env: &[&str]) -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": cmd,
            "Env": env,
            "WorkingDir": "/tmp",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
}

pub fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &body[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A `docker save` archive (uncompressed layers, config named by digest).
/// `diff_ids` default to the layers' real digests.
pub fn docker_archive(tag: &str, layers: &[Vec<u8>], diff_ids: Option<Vec<String>>) -> Vec<u8> {
    let ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| sha256(l)).collect());
    let cfg = serde_json::to_vec(&config(
        &ids,
        &["sh", "-c", "echo image-cmd"],
        &["PATH=/bin", "FROM_IMAGE=yes"],
    ))
    .unwrap();
    let cfg_name = format!("{}.json", &sha256(&cfg)["sha256:".len()..]);
    let mut files = vec![(cfg_name.clone(), cfg)];
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        files.push((name.clone(), l.clone()));
        names.push(name);
    }
    let manifest = json!([{ "Config": cfg_name, "RepoTags": [tag], "Layers": names }]);
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    tar_of(&files)
}

/// An OCI image layout archive with `blobs` as the compressed layers
/// (their uncompressed tars in `diff_tars`).
pub fn oci_archive(ref_name: &str, blobs: &[Vec<u8>], diff_tars: &[Vec<u8>]) -> Vec<u8> {
    let ids: Vec<String> = diff_tars.iter().map(|l| sha256(l)).collect();
    let cfg =
        serde_json::to_vec(&config(&ids, &["sh", "-c", "echo oci-cmd"], &["PATH=/bin"])).unwrap();
    let layer_descs: Vec<Value> = blobs
        .iter()
        .map(|b| {
            json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha256(b),
                "size": b.len(),
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&cfg), "size": cfg.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&manifest),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": ref_name},
        }],
    });
    let blob = |b: &[u8]| {
        (
            format!("blobs/sha256/{}", &sha256(b)["sha256:".len()..]),
            b.to_vec(),
        )
    };
    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".to_string(),
            serde_json::to_vec(&index).unwrap(),
        ),
        blob(&cfg),
        blob(&manifest),
    ];
    for b in blobs {
        files.push(blob(b));
    }
    tar_of(&files)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, bytes).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// Writes `bytes` to a file in `dir` and returns its path as a string.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}
