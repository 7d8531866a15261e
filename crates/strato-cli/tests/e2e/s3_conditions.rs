//! Conditional writes and deletes, as boto3, the aws CLI and the Rust SDK
//! send them; racing `If-None-Match: *` writers never both win.

use crate::support::{Server, runtime};
use aws_sdk_s3::primitives::ByteStream;

const BOTO3_SCRIPT: &str = r#"
import os, datetime
import boto3, botocore
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                  config=Config(s3={"addressing_style": "path"}))
def refused(code, call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, (code, e.response)
        return e.response
    raise SystemExit(f"{call.__name__} {kw.get('Key')} was not refused with {code}")

s3.create_bucket(Bucket="cond")
# Create only if absent: once, then refused; the object is the first one.
first = s3.put_object(Bucket="cond", Key="k", Body=b"one", IfNoneMatch="*")
r = refused("PreconditionFailed", s3.put_object, Bucket="cond", Key="k", Body=b"two", IfNoneMatch="*")
assert r["ResponseMetadata"]["HTTPStatusCode"] == 412, r
assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"one"
# A large body is refused before it is read.
refused("PreconditionFailed", s3.put_object, Bucket="cond", Key="k", Body=os.urandom(3 << 20), IfNoneMatch="*")

# Replace only if unchanged (If-Match); a missing key is NoSuchKey.
second = s3.put_object(Bucket="cond", Key="k", Body=b"two", IfMatch=first["ETag"])
refused("PreconditionFailed", s3.put_object, Bucket="cond", Key="k", Body=b"three", IfMatch=first["ETag"])
refused("NoSuchKey", s3.put_object, Bucket="cond", Key="nothing", Body=b"x", IfMatch=first["ETag"])
assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"two"

# CompleteMultipartUpload: refused leaves the upload in progress.
mpu = s3.create_multipart_upload(Bucket="cond", Key="k")
p = s3.upload_part(Bucket="cond", Key="k", UploadId=mpu["UploadId"], PartNumber=1, Body=b"parts")
parts = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}
refused("PreconditionFailed", s3.complete_multipart_upload, Bucket="cond", Key="k",
        UploadId=mpu["UploadId"], MultipartUpload=parts, IfNoneMatch="*")
assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="cond")["Uploads"]] == [mpu["UploadId"]]
s3.complete_multipart_upload(Bucket="cond", Key="k", UploadId=mpu["UploadId"], MultipartUpload=parts,
                             IfMatch=second["ETag"])
assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"parts"

# CopyObject onto an existing key with If-None-Match: * is refused.
refused("PreconditionFailed", s3.copy_object, Bucket="cond", Key="k",
        CopySource={"Bucket": "cond", "Key": "k"}, MetadataDirective="REPLACE", IfNoneMatch="*")
s3.copy_object(Bucket="cond", Key="copy", CopySource={"Bucket": "cond", "Key": "k"}, IfNoneMatch="*")

# Conditional deletes: ETag, size, last-modified time.
head = s3.head_object(Bucket="cond", Key="copy")
refused("PreconditionFailed", s3.delete_object, Bucket="cond", Key="copy", IfMatch='"0123"')
refused("PreconditionFailed", s3.delete_object, Bucket="cond", Key="copy", IfMatchSize=99)
refused("PreconditionFailed", s3.delete_object, Bucket="cond", Key="copy",
        IfMatchLastModifiedTime=head["LastModified"] - datetime.timedelta(days=1))
s3.delete_object(Bucket="cond", Key="copy", IfMatch=head["ETag"], IfMatchSize=5,
                 IfMatchLastModifiedTime=head["LastModified"])
refused("404", s3.head_object, Bucket="cond", Key="copy")
# In DeleteObjects, each entry's condition holds or that entry fails.
s3.put_object(Bucket="cond", Key="a", Body=b"a")
s3.put_object(Bucket="cond", Key="b", Body=b"b")
r = s3.delete_objects(Bucket="cond", Delete={"Objects": [
    {"Key": "a", "ETag": '"0123"'}, {"Key": "b", "Size": 1}]})
assert [e["Key"] for e in r["Errors"]] == ["a"] and r["Errors"][0]["Code"] == "PreconditionFailed", r
assert [d["Key"] for d in r["Deleted"]] == ["b"], r
print("boto3 conditions ok")
"#;

#[test]
fn conditional_writes_hold_and_racing_creators_never_both_win() {
    let server = Server::start();
    server.boto3("boto3 conditional writes", BOTO3_SCRIPT);

    // The aws CLI's s3api takes the same conditions.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("f.txt");
    std::fs::write(&file, "cli").unwrap();
    let put = |extra: &[&str]| {
        let mut args = vec![
            "s3api",
            "put-object",
            "--bucket",
            "cond",
            "--key",
            "cli",
            "--body",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        server.aws(&args)
    };
    let (ok, _, _) = put(&["--if-none-match", "*"]);
    assert!(ok, "the first create succeeds");
    let (ok, _, err) = put(&["--if-none-match", "*"]);
    assert!(!ok && err.contains("PreconditionFailed"), "{err}");

    // The Rust SDK: two writers race to create each key; exactly one wins
    // every round, for small (inline) and large (blob) bodies alike.
    let s3 = server.s3_client();
    runtime().block_on(async {
        for round in 0..60 {
            let key = format!("race-{round}");
            let size = if round % 3 == 0 { 2 << 20 } else { 100 };
            let racer = |who: u8| {
                let s3 = s3.clone();
                let key = key.clone();
                async move {
                    s3.put_object()
                        .bucket("cond")
                        .key(&key)
                        .if_none_match("*")
                        .body(ByteStream::from(vec![who; size]))
                        .send()
                        .await
                }
            };
            let (a, b) = tokio::join!(racer(1), racer(2));
            let winners: Vec<u8> = [(1u8, &a), (2u8, &b)]
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(who, _)| *who)
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {a:?} / {b:?}");
            for loser in [&a, &b].into_iter().filter_map(|r| r.as_ref().err()) {
                let status = loser.raw_response().map(|r| r.status().as_u16());
                // 412 (the write's transaction saw the winner) or 409 (S3's
                // ConditionalRequestConflict) are the answers S3 gives.
                assert!(
                    matches!(status, Some(412 | 409)),
                    "round {round}: {loser:?}"
                );
            }
            let got = s3
                .get_object()
                .bucket("cond")
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            assert_eq!(got.len(), size);
            assert!(
                got.iter().all(|b| *b == winners[0]),
                "round {round}: the winner's bytes"
            );
        }
    });
}
