//! The S3 API driven by the real AWS SDK (aws-sdk-s3): every operation,
//! presigned URLs, multipart, errors and hostile input.

use crate::support::{AppDir, Server, guest, runtime, wait_until};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, EncodingType, MetadataDirective,
    ObjectIdentifier,
};
use std::io::Write;
use std::time::Duration;

/// The S3 error code and HTTP status of a failed SDK call.
pub fn code_of<E: ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> (Option<String>, Option<u16>) {
    (
        e.code().map(str::to_string),
        e.raw_response().map(|r| r.status().as_u16()),
    )
}

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

pub fn md5_b64(data: &[u8]) -> String {
    // A tiny MD5 via the server itself would be circular; use the CLI's
    // dependency-free route: `md5sum` from coreutils.
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum (coreutils)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    base64_encode(&bytes)
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn every_s3_operation_works_with_the_aws_sdk() {
    let server = Server::start();
    let s3 = server.s3_client();
    runtime().block_on(async {
        // Buckets.
        s3.create_bucket().bucket("photos").send().await.unwrap();
        let again = s3
            .create_bucket()
            .bucket("photos")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code_of(&again).0.as_deref(),
            Some("BucketAlreadyOwnedByYou")
        );
        s3.head_bucket().bucket("photos").send().await.unwrap();
        let missing = s3
            .head_bucket()
            .bucket("nope-nope")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&missing).1, Some(404));
        let location = s3
            .get_bucket_location()
            .bucket("photos")
            .send()
            .await
            .unwrap();
        assert!(
            location
                .location_constraint()
                .is_none_or(|c| c.as_str().is_empty())
        );
        let names: Vec<_> = s3
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect();
        assert_eq!(names, ["photos"]);

        // Put with headers, metadata and a correct Content-MD5; get back.
        let data = b"0123456789abcdef".to_vec();
        let put = s3
            .put_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .body(ByteStream::from(data.clone()))
            .content_type("text/plain")
            .cache_control("max-age=60")
            .expires(DateTime::from_secs(2_000_000_000))
            .metadata("colour", "grey")
            .content_md5(md5_b64(&data))
            .send()
            .await
            .unwrap();
        let etag = put.e_tag().unwrap().to_string();
        assert_eq!(
            etag, "\"4032af8d61035123906e58e067140cc5\"",
            "ETag is the MD5"
        );
        let got = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_type(), Some("text/plain"));
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.e_tag(), Some(etag.as_str()));
        assert_eq!(got.metadata().unwrap()["colour"], "grey");
        assert_eq!(got.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
        assert_eq!(body_of(got).await, data);

        // Range and conditional reads.
        let part = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .range("bytes=2-5")
            .send()
            .await
            .unwrap();
        assert_eq!(part.content_range(), Some("bytes 2-5/16"));
        assert_eq!(body_of(part).await, b"2345");
        let tail = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .range("bytes=-3")
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(tail).await, b"def");
        let unsatisfiable = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .range("bytes=100-200")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&unsatisfiable).0.as_deref(), Some("InvalidRange"));
        let not_modified = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .if_none_match(&etag)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&not_modified).1, Some(304));
        let failed = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .if_match("\"0000\"")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&failed).1, Some(412));
        let since = s3
            .get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .if_modified_since(DateTime::from_secs(4_000_000_000))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&since).1, Some(304));
        s3.get_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .if_match(&etag)
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket("photos")
            .key("cats/tom.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(16));
        let no_key = s3
            .get_object()
            .bucket("photos")
            .key("cats/none")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&no_key).0.as_deref(), Some("NoSuchKey"));

        // Copy, keeping and replacing metadata.
        s3.copy_object()
            .bucket("photos")
            .key("cats/copy.txt")
            .copy_source("photos/cats/tom.txt")
            .send()
            .await
            .unwrap();
        let copy = s3
            .head_object()
            .bucket("photos")
            .key("cats/copy.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(copy.metadata().unwrap()["colour"], "grey");
        assert_eq!(copy.e_tag(), Some(etag.as_str()));
        s3.copy_object()
            .bucket("photos")
            .key("cats/copy.txt")
            .copy_source("photos/cats/tom.txt")
            .metadata_directive(MetadataDirective::Replace)
            .metadata("colour", "black")
            .content_type("text/x-cat")
            .send()
            .await
            .unwrap();
        let copy = s3
            .head_object()
            .bucket("photos")
            .key("cats/copy.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(copy.metadata().unwrap()["colour"], "black");
        assert_eq!(copy.content_type(), Some("text/x-cat"));

        // Listing: prefixes, delimiter, pagination, start-after, encoding.
        for key in [
            "dogs/rex.txt",
            "dogs/fido.txt",
            "a b+c.txt",
            "top.txt",
            "cats/deep/x.txt",
        ] {
            s3.put_object()
                .bucket("photos")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
        let root = s3
            .list_objects_v2()
            .bucket("photos")
            .delimiter("/")
            .send()
            .await
            .unwrap();
        let keys: Vec<_> = root.contents().iter().filter_map(|o| o.key()).collect();
        let prefixes: Vec<_> = root
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(keys, ["a b+c.txt", "top.txt"]);
        assert_eq!(prefixes, ["cats/", "dogs/"]);
        let cats = s3
            .list_objects_v2()
            .bucket("photos")
            .prefix("cats/")
            .delimiter("/")
            .send()
            .await
            .unwrap();
        assert_eq!(
            cats.contents()
                .iter()
                .filter_map(|o| o.key())
                .collect::<Vec<_>>(),
            ["cats/copy.txt", "cats/tom.txt"]
        );
        assert_eq!(
            cats.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .collect::<Vec<_>>(),
            ["cats/deep/"]
        );
        // Two keys per page, following continuation tokens.
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket("photos")
                .max_keys(2)
                .set_continuation_token(token.clone())
                .send()
                .await
                .unwrap();
            pages += 1;
            all.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            token = page.next_continuation_token().map(str::to_string);
        }
        assert_eq!(all.len(), 7);
        assert_eq!(pages, 4);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted, "keys list in byte order");
        let after = s3
            .list_objects_v2()
            .bucket("photos")
            .start_after("dogs/fido.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(
            after
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .collect::<Vec<_>>(),
            ["dogs/rex.txt", "top.txt"]
        );
        // With encoding-type=url, keys come back URL-encoded (the Rust SDK
        // leaves decoding to the caller; boto3 decodes).
        let encoded = s3
            .list_objects_v2()
            .bucket("photos")
            .prefix("a ")
            .encoding_type(EncodingType::Url)
            .send()
            .await
            .unwrap();
        assert_eq!(
            encoded
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .collect::<Vec<_>>(),
            ["a%20b%2Bc.txt"]
        );
        let v1 = s3
            .list_objects()
            .bucket("photos")
            .marker("dogs/rex.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(
            v1.contents()
                .iter()
                .filter_map(|o| o.key())
                .collect::<Vec<_>>(),
            ["top.txt"]
        );
        let v1_page = s3
            .list_objects()
            .bucket("photos")
            .delimiter("/")
            .max_keys(3)
            .send()
            .await
            .unwrap();
        assert_eq!(v1_page.is_truncated(), Some(true));
        assert_eq!(v1_page.next_marker(), Some("dogs/"));
        let v1_rest = s3
            .list_objects()
            .bucket("photos")
            .delimiter("/")
            .marker("dogs/")
            .send()
            .await
            .unwrap();
        assert_eq!(
            v1_rest
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .collect::<Vec<_>>(),
            ["top.txt"]
        );
        assert!(
            v1_rest.common_prefixes().is_empty(),
            "resuming after a prefix skips it"
        );
        let versions = s3
            .list_object_versions()
            .bucket("photos")
            .prefix("dogs/")
            .send()
            .await
            .unwrap();
        assert_eq!(versions.versions().len(), 2);
        assert!(
            versions
                .versions()
                .iter()
                .all(|v| v.version_id() == Some("null") && v.is_latest() == Some(true))
        );

        // Delete one, then several at once.
        s3.delete_object()
            .bucket("photos")
            .key("top.txt")
            .send()
            .await
            .unwrap();
        s3.delete_object()
            .bucket("photos")
            .key("never-was")
            .send()
            .await
            .unwrap();
        let batch = Delete::builder()
            .objects(
                ObjectIdentifier::builder()
                    .key("dogs/rex.txt")
                    .build()
                    .unwrap(),
            )
            .objects(
                ObjectIdentifier::builder()
                    .key("dogs/fido.txt")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let deleted = s3
            .delete_objects()
            .bucket("photos")
            .delete(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.deleted().len(), 2);
        assert!(deleted.errors().is_empty());
        let left = s3
            .list_objects_v2()
            .bucket("photos")
            .prefix("dogs/")
            .send()
            .await
            .unwrap();
        assert_eq!(left.key_count(), Some(0));

        // Multipart: three parts (5 MiB, 5 MiB, 1 KiB), listed, completed.
        let upload = s3
            .create_multipart_upload()
            .bucket("photos")
            .key("big.bin")
            .content_type("application/x-big")
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap().to_string();
        let parts: Vec<Vec<u8>> = vec![vec![b'a'; 5 << 20], vec![b'b'; 5 << 20], vec![b'c'; 1024]];
        let mut completed = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let out = s3
                .upload_part()
                .bucket("photos")
                .key("big.bin")
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .unwrap();
            completed.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(out.e_tag().unwrap())
                    .build(),
            );
        }
        let listed = s3
            .list_parts()
            .bucket("photos")
            .key("big.bin")
            .upload_id(&id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            listed
                .parts()
                .iter()
                .map(|p| p.size().unwrap())
                .collect::<Vec<_>>(),
            [5 << 20, 5 << 20, 1024]
        );
        let uploads = s3
            .list_multipart_uploads()
            .bucket("photos")
            .send()
            .await
            .unwrap();
        assert_eq!(
            uploads
                .uploads()
                .iter()
                .filter_map(|u| u.upload_id())
                .collect::<Vec<_>>(),
            [id.as_str()]
        );
        // Parts out of order are refused.
        let mut reversed = completed.clone();
        reversed.reverse();
        let bad = s3
            .complete_multipart_upload()
            .bucket("photos")
            .key("big.bin")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(reversed))
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&bad).0.as_deref(), Some("InvalidPartOrder"));
        let done = s3
            .complete_multipart_upload()
            .bucket("photos")
            .key("big.bin")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert!(
            done.e_tag().unwrap().ends_with("-3\""),
            "multipart ETag: {:?}",
            done.e_tag()
        );
        let big = s3
            .get_object()
            .bucket("photos")
            .key("big.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(big.content_type(), Some("application/x-big"));
        let bytes = body_of(big).await;
        assert_eq!(bytes, parts.concat());
        let gone = s3
            .list_parts()
            .bucket("photos")
            .key("big.bin")
            .upload_id(&id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&gone).0.as_deref(), Some("NoSuchUpload"));
        // Abort leaves nothing behind.
        let aborted = s3
            .create_multipart_upload()
            .bucket("photos")
            .key("never.bin")
            .send()
            .await
            .unwrap();
        let aid = aborted.upload_id().unwrap();
        s3.upload_part()
            .bucket("photos")
            .key("never.bin")
            .upload_id(aid)
            .part_number(1)
            .body(ByteStream::from_static(b"zz"))
            .send()
            .await
            .unwrap();
        s3.abort_multipart_upload()
            .bucket("photos")
            .key("never.bin")
            .upload_id(aid)
            .send()
            .await
            .unwrap();
        assert!(
            s3.list_multipart_uploads()
                .bucket("photos")
                .send()
                .await
                .unwrap()
                .uploads()
                .is_empty()
        );

        // Presigned GET and PUT with a plain HTTP client.
        let presign = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
        let put_url = s3
            .put_object()
            .bucket("photos")
            .key("signed.txt")
            .presigned(presign.clone())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let status = http
            .put(put_url.uri())
            .body("via presigned url")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        let get_url = s3
            .get_object()
            .bucket("photos")
            .key("signed.txt")
            .presigned(presign)
            .await
            .unwrap();
        let text = http
            .get(get_url.uri())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "via presigned url");
        let tampered = get_url.uri().replace("signed.txt", "cats/tom.txt");
        let refused = http.get(tampered).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("SignatureDoesNotMatch")
        );

        // A non-empty bucket is not deleted; an empty one is.
        let busy = s3
            .delete_bucket()
            .bucket("photos")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&busy).0.as_deref(), Some("BucketNotEmpty"));
        s3.create_bucket().bucket("scratch").send().await.unwrap();
        s3.delete_bucket().bucket("scratch").send().await.unwrap();
        // An unfinished upload does not keep a bucket: S3 aborts it with
        // the bucket, and its parts' bytes go too.
        let blobs = server.data_dir.path().join("blobs");
        let blobs_before = walk(&blobs).len();
        s3.create_bucket().bucket("scratch").send().await.unwrap();
        let pending = s3
            .create_multipart_upload()
            .bucket("scratch")
            .key("half.bin")
            .send()
            .await
            .unwrap();
        s3.upload_part()
            .bucket("scratch")
            .key("half.bin")
            .upload_id(pending.upload_id().unwrap())
            .part_number(1)
            .body(ByteStream::from(vec![7u8; 64 << 10]))
            .send()
            .await
            .unwrap();
        assert_eq!(walk(&blobs).len(), blobs_before + 1);
        s3.delete_bucket().bucket("scratch").send().await.unwrap();
        assert_eq!(walk(&blobs).len(), blobs_before, "the part's blob is gone");
        s3.create_bucket().bucket("scratch").send().await.unwrap();
        let uploads = s3
            .list_multipart_uploads()
            .bucket("scratch")
            .send()
            .await
            .unwrap();
        assert!(uploads.uploads().is_empty(), "{uploads:?}");
    });
}

pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn manifest_buckets_are_created_and_destroy_needs_force() {
    let server = Server::start();
    let app = AppDir::new(&format!(
        "[app]\nname = \"media\"\n\n[buckets.media-files]\n\n[functions.f]\ncomponent = \"{}\"\n",
        guest("kitchen")
    ));
    server.cli_ok(&["deploy", app.path()]);
    let s3 = server.s3_client();
    runtime().block_on(async {
        s3.put_object()
            .bucket("media-files")
            .key("a.txt")
            .body(ByteStream::from_static(b"a"))
            .send()
            .await
            .unwrap();
    });
    let err = server.cli_err(&["destroy", "media"]);
    assert!(err.contains("bucket `media-files` is not empty"), "{err}");
    assert!(
        server.cli_ok(&["apps"]).contains("media"),
        "nothing destroyed"
    );
    // A second app may not claim the bucket.
    let other = AppDir::new(&format!(
        "[app]\nname = \"thief\"\n\n[buckets.media-files]\n\n[functions.g]\ncomponent = \"{}\"\n",
        guest("kitchen")
    ));
    let err = server.cli_err(&["deploy", other.path()]);
    assert!(err.contains("belongs to another app"), "{err}");
    server.cli_ok(&["destroy", "media", "--force"]);
    runtime().block_on(async {
        let e = s3
            .head_bucket()
            .bucket("media-files")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code_of(&e).1, Some(404));
    });
    wait_until("blobs deleted", Duration::from_secs(5), || {
        walk(&server.data_dir.path().join("blobs")).is_empty()
    });
}
