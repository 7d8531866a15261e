//! A bucket's configuration through the S3 API, as boto3 sends it: bucket
//! and object tags, CORS rules (with preflights answered as S3 does) and
//! lifecycle rules that expire objects, older versions and unfinished
//! uploads (on a server whose lifecycle day is two seconds).

use crate::support::Server;

const BOTO3_SCRIPT: &str = r#"
import os, time, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

endpoint = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                  config=Config(s3={"addressing_style": "path"}))
def refused(code, call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, (code, e.response)
        return e.response
    raise SystemExit(f"{call.__name__} {kw} was not refused with {code}")
def tags(tag_set):
    return {t["Key"]: t["Value"] for t in tag_set}

s3.create_bucket(Bucket="conf")
# Bucket tags.
refused("NoSuchTagSet", s3.get_bucket_tagging, Bucket="conf")
s3.put_bucket_tagging(Bucket="conf", Tagging={"TagSet": [{"Key": "team", "Value": "media"}]})
assert tags(s3.get_bucket_tagging(Bucket="conf")["TagSet"]) == {"team": "media"}
s3.delete_bucket_tagging(Bucket="conf")
refused("NoSuchTagSet", s3.get_bucket_tagging, Bucket="conf")

# Object tags: on upload, read back, counted on GET, replaced, removed.
s3.put_object(Bucket="conf", Key="t", Body=b"x", Tagging="a=1&b=two%20words")
assert tags(s3.get_object_tagging(Bucket="conf", Key="t")["TagSet"]) == {"a": "1", "b": "two words"}
assert s3.get_object(Bucket="conf", Key="t")["TagCount"] == 2
s3.put_object_tagging(Bucket="conf", Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
assert tags(s3.get_object_tagging(Bucket="conf", Key="t")["TagSet"]) == {"c": "3"}
# A copy keeps the tags unless told to replace them.
s3.copy_object(Bucket="conf", Key="t2", CopySource={"Bucket": "conf", "Key": "t"})
assert tags(s3.get_object_tagging(Bucket="conf", Key="t2")["TagSet"]) == {"c": "3"}
s3.copy_object(Bucket="conf", Key="t3", CopySource={"Bucket": "conf", "Key": "t"},
               TaggingDirective="REPLACE", Tagging="d=4")
assert tags(s3.get_object_tagging(Bucket="conf", Key="t3")["TagSet"]) == {"d": "4"}
s3.delete_object_tagging(Bucket="conf", Key="t")
assert s3.get_object_tagging(Bucket="conf", Key="t")["TagSet"] == []
assert "TagCount" not in s3.get_object(Bucket="conf", Key="t")
refused("InvalidTag", s3.put_object_tagging, Bucket="conf", Key="t",
        Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
refused("NoSuchKey", s3.put_object_tagging, Bucket="conf", Key="missing",
        Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})

# CORS: rules stored and answered; preflights and simple requests.
refused("NoSuchCORSConfiguration", s3.get_bucket_cors, Bucket="conf")
def preflight(origin, method, headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    req = urllib.request.Request(f"{endpoint}/conf/t", method="OPTIONS", headers=h)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers
assert preflight("https://app.example.com", "GET")[0] == 403
s3.put_bucket_cors(Bucket="conf", CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
rules = s3.get_bucket_cors(Bucket="conf")["CORSRules"]
assert rules[0]["AllowedOrigins"] == ["https://*.example.com"] and rules[0]["MaxAgeSeconds"] == 600, rules
status, h = preflight("https://app.example.com", "PUT", "Content-Type, x-amz-date")
assert status == 200, (status, h)
assert h["Access-Control-Allow-Origin"] == "https://app.example.com", h
assert "PUT" in h["Access-Control-Allow-Methods"] and h["Access-Control-Max-Age"] == "600", h
assert h["Access-Control-Allow-Headers"] == "Content-Type, x-amz-date", h
assert preflight("https://evil.org", "GET")[0] == 403
assert preflight("https://app.example.com", "DELETE")[0] == 403
assert preflight("https://app.example.com", "PUT", "x-other")[0] == 403
refused("InvalidRequest", s3.put_bucket_cors, Bucket="conf", CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
# A presigned GET from an allowed origin carries the rule's headers.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "conf", "Key": "t"})
with urllib.request.urlopen(urllib.request.Request(url, headers={"Origin": "https://app.example.com"})) as r:
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com", dict(r.headers)
    assert r.headers["Access-Control-Expose-Headers"] == "ETag", dict(r.headers)
with urllib.request.urlopen(urllib.request.Request(url, headers={"Origin": "https://evil.org"})) as r:
    assert "Access-Control-Allow-Origin" not in r.headers, dict(r.headers)
s3.delete_bucket_cors(Bucket="conf")
refused("NoSuchCORSConfiguration", s3.get_bucket_cors, Bucket="conf")

# Lifecycle: a day is two seconds on this server.
refused("NoSuchLifecycleConfiguration", s3.get_bucket_lifecycle_configuration, Bucket="conf")
s3.create_bucket(Bucket="life")
s3.put_bucket_versioning(Bucket="life", VersioningConfiguration={"Status": "Enabled"})
s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [
    {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Days": 1}}]})
got = s3.get_bucket_lifecycle_configuration(Bucket="life")["Rules"]
assert [(r["ID"], r["Status"], r["Filter"]["Prefix"]) for r in got] == [
    ("tmp", "Enabled", "tmp/"), ("off", "Disabled", "keep/")], got
assert got[0]["Expiration"]["Days"] == 1 and got[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
refused("NotImplemented", s3.put_bucket_lifecycle_configuration, Bucket="life", LifecycleConfiguration={"Rules": [
    {"ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""},
     "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]})
s3.put_object(Bucket="life", Key="tmp/a", Body=b"1")
s3.put_object(Bucket="life", Key="tmp/a", Body=b"2")
s3.put_object(Bucket="life", Key="keep/b", Body=b"3")
upload = s3.create_multipart_upload(Bucket="life", Key="tmp/big")["UploadId"]
deadline = time.time() + 30
while time.time() < deadline:
    versions = s3.list_object_versions(Bucket="life", Prefix="tmp/")
    uploads = s3.list_multipart_uploads(Bucket="life").get("Uploads", [])
    # Expired into a delete marker; the older versions removed; the upload aborted.
    if ("Versions" not in versions and len(versions.get("DeleteMarkers", [])) == 1 and not uploads):
        break
    time.sleep(0.5)
else:
    raise SystemExit(f"lifecycle did not act: {versions} {uploads}")
refused("NoSuchKey", s3.get_object, Bucket="life", Key="tmp/a")
assert s3.get_object(Bucket="life", Key="keep/b")["Body"].read() == b"3"
s3.delete_bucket_lifecycle(Bucket="life")
refused("NoSuchLifecycleConfiguration", s3.get_bucket_lifecycle_configuration, Bucket="life")

# Virtual-host-style addressing: BUCKET.s3.localhost names the bucket
# (resolved here to the server, as a wildcard DNS entry would).
import socket
real_getaddrinfo = socket.getaddrinfo
def resolve(host, *args, **kw):
    return real_getaddrinfo("127.0.0.1" if host.endswith(".localhost") else host, *args, **kw)
socket.getaddrinfo = resolve
port = endpoint.rsplit(":", 1)[1]
vh = boto3.client("s3", endpoint_url=f"http://s3.localhost:{port}", region_name="us-east-1",
                  aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                  config=Config(s3={"addressing_style": "virtual"}))
vh.put_object(Bucket="conf", Key="dir/vh.txt", Body=b"virtual")
assert s3.get_object(Bucket="conf", Key="dir/vh.txt")["Body"].read() == b"virtual"
assert [o["Key"] for o in vh.list_objects_v2(Bucket="conf", Prefix="dir/")["Contents"]] == ["dir/vh.txt"]
assert vh.get_object(Bucket="conf", Key="dir/vh.txt")["Body"].read() == b"virtual"

# A SigV4 presigned URL valid for more than a week is refused, as S3 does.
s3v4 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                    aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
url = s3v4.generate_presigned_url("get_object", Params={"Bucket": "conf", "Key": "t"}, ExpiresIn=604801)
try:
    urllib.request.urlopen(url)
    raise SystemExit("a presigned URL valid for more than a week was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 400 and b"AuthorizationQueryParametersError" in e.read(), e
assert "X-Amz-Expires=604801" in url, url
url = s3v4.generate_presigned_url("get_object", Params={"Bucket": "conf", "Key": "t"}, ExpiresIn=604800)
assert urllib.request.urlopen(url).status == 200

# A browser form upload (presigned POST): the policy is checked and
# ${filename} becomes the file's name.
import uuid, subprocess
post = s3v4.generate_presigned_post("conf", "forms/${filename}", Fields={"Content-Type": "text/plain"},
    Conditions=[{"Content-Type": "text/plain"}, ["starts-with", "$key", "forms/"], ["content-length-range", 1, 1000]],
    ExpiresIn=600)
def submit(fields, data, filename="hello.txt"):
    boundary = uuid.uuid4().hex
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             f'Content-Type: text/plain\r\n\r\n').encode() + data + f'\r\n--{boundary}--\r\n'.encode()
    req = urllib.request.Request(post["url"], data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
assert submit(post["fields"], b"hello from a form") == 204
assert s3.get_object(Bucket="conf", Key="forms/hello.txt")["Body"].read() == b"hello from a form"
assert submit(post["fields"], b"x" * 2000) == 400, "content-length-range is enforced"
tampered = dict(post["fields"], key="elsewhere/${filename}")
code = submit(tampered, b"sneaky")
assert code == 403, f"the key must start with forms/: {code}"

# Raw HTTP as curl sends it: a chunked body of unknown length with
# Expect: 100-continue, and user metadata in UTF-8, answered RFC 2047
# encoded as S3 does.
url = s3v4.generate_presigned_url("put_object", Params={"Bucket": "conf", "Key": "raw"}, ExpiresIn=600)
r = subprocess.run(["curl", "-sS", "-f", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue",
                    "-H", "x-amz-meta-name: ünïcode ☃", "-T", "-", url], input=b"r" * 3_000_000, capture_output=True)
assert r.returncode == 0, r.stderr
h = s3.head_object(Bucket="conf", Key="raw")
assert h["ContentLength"] == 3_000_000, h
assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-name"] == "=?UTF-8?B?w7xuw69jb2RlIOKYgw==?=", h

# ListBuckets pages with MaxBuckets and a continuation token.
for name in ["page-a", "page-b", "page-c"]:
    s3.create_bucket(Bucket=name)
first = s3.list_buckets(MaxBuckets=2, Prefix="page-")
assert [b["Name"] for b in first["Buckets"]] == ["page-a", "page-b"], first
rest = s3.list_buckets(MaxBuckets=2, Prefix="page-", ContinuationToken=first["ContinuationToken"])
assert [b["Name"] for b in rest["Buckets"]] == ["page-c"] and "ContinuationToken" not in rest, rest
print("boto3 bucket configuration ok")
"#;

#[test]
fn tags_cors_and_lifecycle_rules_are_kept_and_applied() {
    let server = Server::start_with(&["--lifecycle-day", "2s"]);
    server.boto3("boto3 bucket configuration", BOTO3_SCRIPT);
    // The aws CLI sets what `strato buckets` shows.
    server.aws_ok(&[
        "s3api",
        "put-bucket-lifecycle-configuration",
        "--bucket",
        "life",
        "--lifecycle-configuration",
        r#"{"Rules": [{"ID": "old-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
            "Expiration": {"Days": 30}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}"#,
    ]);
    let table = server.cli_ok(&["buckets", "lifecycle", "life"]);
    for want in [
        "old-logs",
        "enabled",
        "logs/",
        "after 30 days",
        "after 7 days",
    ] {
        assert!(table.contains(want), "{want} missing from:\n{table}");
    }
    let policy = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::conf/public/*"}]}"#;
    server.aws_ok(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        "conf",
        "--policy",
        policy,
    ]);
    let shown: serde_json::Value =
        serde_json::from_str(&server.cli_ok(&["buckets", "policy", "conf"])).unwrap();
    assert_eq!(
        shown,
        serde_json::from_str::<serde_json::Value>(policy).unwrap()
    );
    assert!(
        server
            .cli_ok(&["buckets", "policy", "life"])
            .contains("has no policy")
    );
    server.aws_ok(&[
        "s3api",
        "put-bucket-encryption",
        "--bucket",
        "conf",
        "--server-side-encryption-configuration",
        r#"{"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}"#,
    ]);
    let table = server.cli_ok(&["buckets"]);
    let conf = table
        .lines()
        .find(|l| l.starts_with("conf "))
        .unwrap_or_default();
    assert!(conf.contains("AES256 by default"), "{table}");
    assert!(
        server
            .cli_err(&["buckets", "policy", "nope"])
            .contains("no bucket `nope`")
    );

    // The expirations were the lifecycle's, as the server says.
    assert!(
        server.log().contains("lifecycle rules applied"),
        "{}",
        server.log()
    );
}
