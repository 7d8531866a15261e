//! S3's additional checksums as current clients send them: boto3 and the
//! aws CLI from PyPI (which checksum uploads by default) and the Rust SDK.

use crate::support::{Server, runtime};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};

const BOTO3_SCRIPT: &str = r#"
import base64, hashlib, io, os, zlib
import boto3, botocore, botocore.httpchecksum
from botocore.config import Config

s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                  config=Config(s3={"addressing_style": "path"}))
b64 = lambda b: base64.b64encode(b).decode()
crc32 = lambda data: b64(zlib.crc32(data).to_bytes(4, "big"))
s3.create_bucket(Bucket="sums")
body = b"hello world"

# By default boto3 checksums uploads with CRC32 and gets it back.
r = s3.put_object(Bucket="sums", Key="default", Body=body)
assert r["ChecksumCRC32"] == crc32(body) == "DUoRhQ==", r
assert r["ChecksumType"] == "FULL_OBJECT", r

# (CRC32C and CRC64NVME need botocore[crt]; the Rust SDK checks those.)
want = {"CRC32": "DUoRhQ==",
        "SHA1": b64(hashlib.sha1(body).digest()), "SHA256": b64(hashlib.sha256(body).digest())}
for alg, value in want.items():
    r = s3.put_object(Bucket="sums", Key=alg, Body=body, ChecksumAlgorithm=alg)
    assert r["Checksum" + alg] == value, (alg, r)
    h = s3.head_object(Bucket="sums", Key=alg, ChecksumMode="ENABLED")
    assert h["Checksum" + alg] == value and h["ChecksumType"] == "FULL_OBJECT", (alg, h)
    # botocore validates the body against the checksum it is given.
    g = s3.get_object(Bucket="sums", Key=alg, ChecksumMode="ENABLED")
    assert g["Checksum" + alg] == value and g["Body"].read() == body, (alg, g)
# Without the mode, no checksum; nor on a range (it is the whole object's).
assert "ChecksumSHA1" not in s3.head_object(Bucket="sums", Key="SHA1")
assert "ChecksumSHA1" not in s3.get_object(Bucket="sums", Key="SHA1", Range="bytes=0-3", ChecksumMode="ENABLED")

# A large streamed body (stored as a blob, not inline).
big = os.urandom(3 << 20)
r = s3.put_object(Bucket="sums", Key="big", Body=io.BytesIO(big))
assert r["ChecksumCRC32"] == crc32(big), r

# A value that does not match is refused, and nothing is stored.
for key, data in [("bad-small", body), ("bad-big", big)]:
    try:
        s3.put_object(Bucket="sums", Key=key, Body=data, ChecksumCRC32="AAAAAA==")
        raise SystemExit("a wrong checksum was accepted")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "BadDigest", e.response
        assert "CRC32 you specified did not match" in e.response["Error"]["Message"], e.response
    try:
        s3.head_object(Bucket="sums", Key=key)
        raise SystemExit("a refused upload is visible")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "404", e.response
# Two checksums at once are refused.
try:
    s3.put_object(Bucket="sums", Key="two", Body=body, ChecksumCRC32=crc32(body),
                  ChecksumSHA1=want["SHA1"])
    raise SystemExit("two checksums were accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidRequest", e.response

# A part's checksum is verified and answered.
mpu = s3.create_multipart_upload(Bucket="sums", Key="mp", ChecksumAlgorithm="SHA256")
part = os.urandom(5 << 20)
p = s3.upload_part(Bucket="sums", Key="mp", UploadId=mpu["UploadId"], PartNumber=1, Body=part,
                   ChecksumAlgorithm="SHA256")
assert p["ChecksumSHA256"] == b64(hashlib.sha256(part).digest()), p
try:
    s3.upload_part(Bucket="sums", Key="mp", UploadId=mpu["UploadId"], PartNumber=2, Body=part,
                   ChecksumSHA256=b64(hashlib.sha256(b"other").digest()))
    raise SystemExit("a wrong part checksum was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "BadDigest", e.response
def refused(code, call, **kw):
    try:
        call(**kw)
        raise SystemExit("accepted: %s" % kw)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
# A part in another algorithm than its upload's is refused.
refused("InvalidRequest", s3.upload_part, Bucket="sums", Key="mp", UploadId=mpu["UploadId"],
        PartNumber=2, Body=b"x", ChecksumCRC32=crc32(b"x"))
# Completing with a part checksum that is not the part's is refused.
refused("InvalidPart", s3.complete_multipart_upload, Bucket="sums", Key="mp", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumSHA256": b64(hashlib.sha256(b"no").digest())}]})
# S3's COMPOSITE checksum: of the parts' checksums, then -N.
r = s3.complete_multipart_upload(Bucket="sums", Key="mp", UploadId=mpu["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}]})
composite = b64(hashlib.sha256(hashlib.sha256(part).digest()).digest()) + "-1"
assert r["ChecksumSHA256"] == composite and r["ChecksumType"] == "COMPOSITE", r
h = s3.head_object(Bucket="sums", Key="mp", ChecksumMode="ENABLED")
assert h["ChecksumSHA256"] == composite and h["ChecksumType"] == "COMPOSITE", h
g = s3.get_object(Bucket="sums", Key="mp", ChecksumMode="ENABLED")
assert g["Body"].read() == part

# FULL_OBJECT: one CRC of the whole object, whatever the parts.
refused("InvalidRequest", s3.create_multipart_upload, Bucket="sums", Key="no",
        ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
mpu = s3.create_multipart_upload(Bucket="sums", Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
assert mpu["ChecksumAlgorithm"] == "CRC32" and mpu["ChecksumType"] == "FULL_OBJECT", mpu
tail = os.urandom(1000)
parts = []
for n, data in [(1, part), (2, tail)]:
    q = s3.upload_part(Bucket="sums", Key="full", UploadId=mpu["UploadId"], PartNumber=n, Body=data,
                       ChecksumAlgorithm="CRC32")
    assert q["ChecksumCRC32"] == crc32(data), q
    parts.append({"PartNumber": n, "ETag": q["ETag"], "ChecksumCRC32": q["ChecksumCRC32"]})
listed = s3.list_parts(Bucket="sums", Key="full", UploadId=mpu["UploadId"])
assert [p.get("ChecksumCRC32") for p in listed["Parts"]] == [crc32(part), crc32(tail)], listed
assert listed["ChecksumAlgorithm"] == "CRC32" and listed["ChecksumType"] == "FULL_OBJECT", listed
r = s3.complete_multipart_upload(Bucket="sums", Key="full", UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": parts})
assert r["ChecksumCRC32"] == crc32(part + tail) and r["ChecksumType"] == "FULL_OBJECT", r
g = s3.get_object(Bucket="sums", Key="full", ChecksumMode="ENABLED")
assert g["ChecksumCRC32"] == crc32(part + tail) and g["Body"].read() == part + tail

# GetObjectAttributes answers what it is asked for.
everything = ["ETag", "Checksum", "ObjectParts", "ObjectSize", "StorageClass"]
a = s3.get_object_attributes(Bucket="sums", Key="mp", ObjectAttributes=everything)
assert a["Checksum"] == {"ChecksumSHA256": composite, "ChecksumType": "COMPOSITE"}, a
assert a["ObjectParts"]["TotalPartsCount"] == 1 and a["ObjectSize"] == len(part), a
assert a["StorageClass"] == "STANDARD", a
assert a["ETag"].strip('"') == s3.head_object(Bucket="sums", Key="mp")["ETag"].strip('"'), a
a = s3.get_object_attributes(Bucket="sums", Key="SHA1", ObjectAttributes=["ObjectSize"])
assert a["ObjectSize"] == len(body) and "Checksum" not in a and "ETag" not in a, a
a = s3.get_object_attributes(Bucket="sums", Key="SHA1", ObjectAttributes=["Checksum"])
assert a["Checksum"]["ChecksumSHA1"] == want["SHA1"], a
print("boto3 checksums ok")
"#;

#[test]
fn uploads_checksums_are_verified_kept_and_answered() {
    let server = Server::start();
    server.boto3("boto3 checksum checks", BOTO3_SCRIPT);

    // The aws CLI: an upload with its default checksum, a multipart copy
    // of a file past its 8 MiB threshold, and the checksum asked for back.
    let work = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| server.aws_ok(args);
    let file = work.path().join("note.txt");
    std::fs::write(&file, "hello world").unwrap();
    let sha256 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";
    let put = aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "sums",
        "--key",
        "cli.txt",
        "--body",
        file.to_str().unwrap(),
        "--checksum-algorithm",
        "SHA256",
    ]);
    assert!(
        put.contains(&format!("\"ChecksumSHA256\": \"{sha256}\"")),
        "{put}"
    );
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "sums",
        "--key",
        "cli.txt",
        "--checksum-mode",
        "ENABLED",
    ]);
    assert!(
        head.contains(&format!("\"ChecksumSHA256\": \"{sha256}\"")),
        "{head}"
    );
    let big = work.path().join("big.bin");
    let bytes: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&big, &bytes).unwrap();
    aws(&["s3", "cp", big.to_str().unwrap(), "s3://sums/cli-big.bin"]);
    let back = work.path().join("back.bin");
    aws(&["s3", "cp", "s3://sums/cli-big.bin", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == bytes);

    // The Rust SDK: it checksums the upload with CRC32C and CRC64NVME, and
    // validates each download against the checksum it gets back.
    let s3 = server.s3_client();
    runtime().block_on(async {
        // Uploads that name no checksum (the SDK told to send none) get
        // S3's default CRC64NVME; the SDK validates it on the way back.
        let bare = aws_sdk_s3::Client::from_conf(
            s3.config()
                .to_builder()
                .request_checksum_calculation(
                    aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                )
                .build(),
        );
        let big: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 241) as u8).collect();
        for (key, data) in [
            ("bare-small", b"no checksum sent".to_vec()),
            ("bare-big", big),
        ] {
            bare.put_object()
                .bucket("sums")
                .key(key)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .unwrap();
            let got = s3
                .get_object()
                .bucket("sums")
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .unwrap();
            assert!(got.checksum_crc64_nvme().is_some(), "{key}: {got:?}");
            assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);
        }
        for (algorithm, small) in [
            (ChecksumAlgorithm::Crc32C, "yZRlqg=="),
            (ChecksumAlgorithm::Crc64Nvme, "jSnVw/bqjr4="),
        ] {
            for (key, data) in [
                ("sdk-small", b"hello world".to_vec()),
                ("sdk-big", bytes[..(1 << 20)].to_vec()),
            ] {
                let put = s3
                    .put_object()
                    .bucket("sums")
                    .key(key)
                    .checksum_algorithm(algorithm.clone())
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await
                    .unwrap();
                let sent = put
                    .checksum_crc32_c()
                    .or(put.checksum_crc64_nvme())
                    .unwrap()
                    .to_string();
                if key == "sdk-small" {
                    assert_eq!(sent, small, "{algorithm:?}");
                }
                let got = s3
                    .get_object()
                    .bucket("sums")
                    .key(key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .unwrap();
                let back = got.checksum_crc32_c().or(got.checksum_crc64_nvme());
                assert_eq!(back, Some(sent.as_str()), "{algorithm:?}");
                let body = got.body.collect().await.unwrap().into_bytes();
                assert_eq!(&body[..], &data[..]);
            }
        }
    });
}
