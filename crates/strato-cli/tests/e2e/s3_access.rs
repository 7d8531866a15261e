//! Access beyond a key's scope, as S3 users set it: canned ACLs on buckets
//! and objects (anonymous reads of public objects), Get/Put of ACLs, and
//! bucket policies (public read of a prefix; a key denied writes).

use crate::support::Server;

const BOTO3_SCRIPT: &str = r#"
import json, os
import boto3, botocore
from botocore import UNSIGNED
from botocore.config import Config

def client(key=None, secret=None):
    cfg = {"s3": {"addressing_style": "path"}}
    if key is None:
        cfg["signature_version"] = UNSIGNED
    return boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=Config(**cfg))
s3 = client(os.environ["KEY"], os.environ["SECRET"])
anon = client()
reader = client(os.environ["READER_KEY"], os.environ["READER_SECRET"])
def refused(code, call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, (code, e.response)
        return e.response
    raise SystemExit(f"{call.__name__} {kw} was not refused with {code}")
def read(c, key, bucket="site"):
    return c.get_object(Bucket=bucket, Key=key)["Body"].read()

s3.create_bucket(Bucket="site")
s3.put_object(Bucket="site", Key="public/a.txt", Body=b"a")
s3.put_object(Bucket="site", Key="private/b.txt", Body=b"b")
s3.put_object(Bucket="site", Key="open.txt", Body=b"open", ACL="public-read")

# Object ACLs: a public-read object reads anonymously; the rest do not.
assert read(anon, "open.txt") == b"open"
assert anon.head_object(Bucket="site", Key="open.txt")["ContentLength"] == 4
refused("AccessDenied", anon.get_object, Bucket="site", Key="private/b.txt")
refused("AccessDenied", anon.list_objects_v2, Bucket="site")
refused("AccessDenied", anon.put_object, Bucket="site", Key="x", Body=b"x")
grants = s3.get_object_acl(Bucket="site", Key="open.txt")["Grants"]
assert {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"} in [g["Grantee"] for g in grants], grants
s3.put_object_acl(Bucket="site", Key="open.txt", ACL="private")
refused("AccessDenied", anon.get_object, Bucket="site", Key="open.txt")
assert len(s3.get_object_acl(Bucket="site", Key="open.txt")["Grants"]) == 1

# A public-read bucket lists to anyone; its objects keep their own ACLs.
s3.put_bucket_acl(Bucket="site", ACL="public-read")
assert [g["Permission"] for g in s3.get_bucket_acl(Bucket="site")["Grants"]] == ["FULL_CONTROL", "READ"]
assert len(anon.list_objects_v2(Bucket="site")["Contents"]) == 3
refused("AccessDenied", anon.get_object, Bucket="site", Key="private/b.txt")
refused("AccessDenied", anon.get_bucket_acl, Bucket="site")
s3.put_bucket_acl(Bucket="site", ACL="private")
refused("AccessDenied", anon.list_objects_v2, Bucket="site")

# A bucket policy: public read of a prefix, and a key denied writes.
refused("NoSuchBucketPolicy", s3.get_bucket_policy, Bucket="site")
policy = {"Version": "2012-10-17", "Statement": [
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::site/public/*"},
    {"Sid": "ReadOnly", "Effect": "Deny", "Principal": {"AWS": [os.environ["READER_KEY"]]},
     "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::site/*"}]}
s3.put_bucket_policy(Bucket="site", Policy=json.dumps(policy))
assert json.loads(s3.get_bucket_policy(Bucket="site")["Policy"]) == policy
assert read(anon, "public/a.txt") == b"a"
refused("AccessDenied", anon.get_object, Bucket="site", Key="private/b.txt")
assert read(reader, "private/b.txt") == b"b"
refused("AccessDenied", reader.put_object, Bucket="site", Key="private/b.txt", Body=b"changed")
refused("AccessDenied", reader.delete_object, Bucket="site", Key="private/b.txt")
assert read(s3, "private/b.txt") == b"b"
refused("MalformedPolicy", s3.put_bucket_policy, Bucket="site", Policy="{not json")
refused("MalformedPolicy", s3.put_bucket_policy, Bucket="site", Policy=json.dumps({"Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}]}))
refused("NotImplemented", s3.put_bucket_policy, Bucket="site", Policy=json.dumps({"Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*",
     "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}]}))
s3.delete_bucket_policy(Bucket="site")
refused("NoSuchBucketPolicy", s3.get_bucket_policy, Bucket="site")
refused("AccessDenied", anon.get_object, Bucket="site", Key="public/a.txt")

# A public-read-write bucket takes anonymous writes, but a copy into it
# cannot read a private source.
s3.create_bucket(Bucket="dropbox", ACL="public-read-write")
anon.put_object(Bucket="dropbox", Key="drop.txt", Body=b"dropped")
assert read(s3, "drop.txt", "dropbox") == b"dropped"
refused("AccessDenied", anon.copy_object, Bucket="dropbox", Key="stolen",
        CopySource={"Bucket": "site", "Key": "private/b.txt"})
refused("AccessDenied", anon.list_buckets)
print("boto3 access ok")
"#;

#[test]
fn acls_and_bucket_policies_grant_and_deny_as_s3() {
    let server = Server::start();
    let created = server.cli_ok(&["keys", "create", "--output", "json"]);
    let key: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (id, secret) = (
        key["id"].as_str().unwrap().to_string(),
        key["secret"].as_str().unwrap().to_string(),
    );
    server.boto3_with(
        "boto3 access",
        BOTO3_SCRIPT,
        &[("READER_KEY", &id), ("READER_SECRET", &secret)],
    );
}
