//! Encryption at rest as boto3 asks for it: SSE-S3 (per request and as a
//! bucket's default) and SSE-C (the customer's key with every request),
//! single PUTs, multipart uploads, copies and ranges; SSE-KMS answers
//! NotImplemented. The bytes under the data dir are read to check that
//! they are not the plaintext.

use crate::buckets::walk;
use crate::support::{Server, client};

const BOTO3_SCRIPT: &str = r#"
import os
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

secret = b"SECRET-MARKER-" * 1200          # 16.4 KiB: kept in the store itself
big = (b"SECRET-MARKER-" + os.urandom(50)) * 50000   # 3.2 MiB: a blob file
s3.create_bucket(Bucket="enc")
s3.put_object(Bucket="enc", Key="control", Body=b"CLEARTEXT-CONTROL-" * 100)

# SSE-S3.
for key, data in [("small", secret), ("big", big)]:
    r = s3.put_object(Bucket="enc", Key=key, Body=data, ServerSideEncryption="AES256")
    assert r["ServerSideEncryption"] == "AES256", r
    g = s3.get_object(Bucket="enc", Key=key)
    assert g["Body"].read() == data and g["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket="enc", Key=key)["ServerSideEncryption"] == "AES256"
    n = len(data)
    for start, end in [(0, 9), (n // 2, n // 2 + 20), (n - 5, n - 1), (min(65530, n - 20), min(65545, n - 1))]:
        got = s3.get_object(Bucket="enc", Key=key, Range=f"bytes={start}-{end}")["Body"].read()
        assert got == data[start:end + 1], (key, start, end)
assert "ServerSideEncryption" not in s3.head_object(Bucket="enc", Key="control")

# SSE-C: the key with every read; none, or another, is refused.
key = os.urandom(32)
c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
r = s3.put_object(Bucket="enc", Key="customer", Body=big, **c)
assert r["SSECustomerAlgorithm"] == "AES256" and r["SSECustomerKeyMD5"], r
assert s3.get_object(Bucket="enc", Key="customer", **c)["Body"].read() == big
assert s3.get_object(Bucket="enc", Key="customer", Range="bytes=100000-100009", **c)["Body"].read() == big[100000:100010]
assert s3.head_object(Bucket="enc", Key="customer", **c)["SSECustomerKeyMD5"] == r["SSECustomerKeyMD5"]
refused("InvalidRequest", s3.get_object, Bucket="enc", Key="customer")
refused("AccessDenied", s3.get_object, Bucket="enc", Key="customer",
        SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
refused("400", s3.head_object, Bucket="enc", Key="customer")
refused("InvalidRequest", s3.get_object, Bucket="enc", Key="small", **c)
# SSE-KMS is not offered.
refused("NotImplemented", s3.put_object, Bucket="enc", Key="kms", Body=b"x", ServerSideEncryption="aws:kms")

# A copy opens its source with the source's key and seals as it asks.
r = s3.copy_object(Bucket="enc", Key="copied", CopySource={"Bucket": "enc", "Key": "customer"},
                   CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key,
                   ServerSideEncryption="AES256")
assert r["ServerSideEncryption"] == "AES256", r
assert s3.get_object(Bucket="enc", Key="copied")["Body"].read() == big
refused("InvalidRequest", s3.copy_object, Bucket="enc", Key="copied2",
        CopySource={"Bucket": "enc", "Key": "customer"})

# Multipart, SSE-S3 and SSE-C (the key on every part and on completion).
part1, part2 = big + big, b"TAIL-" * 1000
for extra, reads in [({"ServerSideEncryption": "AES256"}, {}), (c, c)]:
    name = "mp-" + ("c" if reads else "s3")
    mpu = s3.create_multipart_upload(Bucket="enc", Key=name, **extra)
    per_part = reads
    p1 = s3.upload_part(Bucket="enc", Key=name, UploadId=mpu["UploadId"], PartNumber=1, Body=part1, **per_part)
    p2 = s3.upload_part(Bucket="enc", Key=name, UploadId=mpu["UploadId"], PartNumber=2, Body=part2, **per_part)
    s3.complete_multipart_upload(Bucket="enc", Key=name, UploadId=mpu["UploadId"], **reads,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    g = s3.get_object(Bucket="enc", Key=name, **reads)
    assert g["Body"].read() == part1 + part2, name
    tail = s3.get_object(Bucket="enc", Key=name, Range=f"bytes={len(part1) - 3}-{len(part1) + 2}", **reads)
    assert tail["Body"].read() == (part1 + part2)[len(part1) - 3:len(part1) + 3], name

# A bucket's default encryption.
refused("ServerSideEncryptionConfigurationNotFoundError", s3.get_bucket_encryption, Bucket="enc")
s3.put_bucket_encryption(Bucket="enc", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
rules = s3.get_bucket_encryption(Bucket="enc")["ServerSideEncryptionConfiguration"]["Rules"]
assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", rules
r = s3.put_object(Bucket="enc", Key="by-default", Body=secret)
assert r["ServerSideEncryption"] == "AES256", r
refused("NotImplemented", s3.put_bucket_encryption, Bucket="enc", ServerSideEncryptionConfiguration={"Rules": [
    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
s3.delete_bucket_encryption(Bucket="enc")
refused("ServerSideEncryptionConfigurationNotFoundError", s3.get_bucket_encryption, Bucket="enc")
print("boto3 encryption ok")
"#;

#[test]
fn encrypted_objects_are_not_plaintext_on_disk_and_read_back_whole() {
    let server = Server::start();
    server.boto3("boto3 encryption", BOTO3_SCRIPT);

    // A function reads objects through the control API: SSE-S3 ones come
    // back as plaintext; SSE-C ones need a key it does not have.
    let get = |key: &str| {
        client()
            .get(format!("{}/api/v1/buckets/enc/objects/{key}", server.api))
            .bearer_auth(&server.token)
            .send()
            .unwrap()
    };
    let small = get("small");
    assert_eq!(small.status(), 200);
    assert_eq!(
        small.bytes().unwrap(),
        "SECRET-MARKER-".repeat(1200).as_bytes()
    );
    assert_eq!(get("customer").status(), 400);

    // On disk (the database, its WAL, the blob files), the plaintext of
    // every encrypted object is absent; the unencrypted control object is
    // found, which shows the search can find what is there.
    let mut found_control = false;
    for file in walk(server.data_dir.path()) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            !has(b"SECRET-MARKER-"),
            "plaintext of an encrypted object in {}",
            file.display()
        );
        assert!(
            !has(b"TAIL-TAIL-"),
            "plaintext of a part in {}",
            file.display()
        );
        found_control |= has(b"CLEARTEXT-CONTROL-");
    }
    assert!(
        found_control,
        "the unencrypted object was not found on disk"
    );
    assert!(server.data_dir.path().join("sse.key").exists());
}
