//! Versioned buckets as boto3, the aws CLI and the Rust SDK use them:
//! versions with ids, delete markers, reads and deletes by id, version
//! listings page by page, copies of old versions, suspended versioning.

use crate::support::{Server, runtime};

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
    raise SystemExit(f"{call.__name__} {kw} was not refused with {code}")
def body(**kw):
    return s3.get_object(**kw)["Body"].read()

s3.create_bucket(Bucket="ver")
s3.put_object(Bucket="ver", Key="k", Body=b"before")
assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
r = s3.put_object(Bucket="ver", Key="plain", Body=b"x")
assert "VersionId" not in r, r
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
refused("MalformedXML", s3.put_bucket_versioning, Bucket="ver", VersioningConfiguration={"Status": "Off"})

# 100 overwrites and deletes; every 10th is a delete (a marker).
history = [("null", False, b"before")]  # oldest first
for i in range(100):
    if i % 10 == 9:
        r = s3.delete_object(Bucket="ver", Key="k")
        assert r["DeleteMarker"] is True and r["VersionId"], r
        history.append((r["VersionId"], True, None))
    else:
        data = f"v{i}".encode()
        r = s3.put_object(Bucket="ver", Key="k", Body=data)
        history.append((r["VersionId"], False, data))
ids = [h[0] for h in history]
assert len(set(ids)) == len(ids) == 101, "every version has its own id"

# The listing, 7 entries a page, has every version and marker, newest
# first, and only the newest is latest.
versions, markers, pages = [], [], 0
kw = {"Bucket": "ver", "Prefix": "k", "MaxKeys": 7}
while True:
    page = s3.list_object_versions(**kw)
    pages += 1
    got = page.get("Versions", []) + page.get("DeleteMarkers", [])
    assert 0 < len(got) <= 7, page
    versions += page.get("Versions", [])
    markers += page.get("DeleteMarkers", [])
    if not page["IsTruncated"]:
        break
    kw["KeyMarker"], kw["VersionIdMarker"] = page["NextKeyMarker"], page["NextVersionIdMarker"]
assert pages == 15, pages
newest_first = list(reversed(history))
assert [v["VersionId"] for v in versions] == [h[0] for h in newest_first if not h[1]]
assert [m["VersionId"] for m in markers] == [h[0] for h in newest_first if h[1]]
latest = [x["VersionId"] for x in versions + markers if x["IsLatest"]]
assert latest == [history[-1][0]], latest
assert all(v["Key"] == "k" for v in versions + markers)
assert all(v["Size"] == len(h[2]) for v, h in zip(versions, [h for h in newest_first if not h[1]]))

# The key is hidden; old versions read by id; a marker by id is 405.
r = refused("NoSuchKey", s3.get_object, Bucket="ver", Key="k")
headers = r["ResponseMetadata"]["HTTPHeaders"]
assert headers.get("x-amz-delete-marker") == "true" and headers.get("x-amz-version-id") == history[-1][0], r
r = refused("MethodNotAllowed", s3.get_object, Bucket="ver", Key="k", VersionId=history[-1][0])
assert r["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true", r
assert body(Bucket="ver", Key="k", VersionId="null") == b"before"
assert body(Bucket="ver", Key="k", VersionId=history[5][0]) == b"v4"
h = s3.head_object(Bucket="ver", Key="k", VersionId=history[5][0])
assert h["VersionId"] == history[5][0] and h["ContentLength"] == 2, h
refused("MethodNotAllowed", s3.get_object, Bucket="ver", Key="k", VersionId=history[-1][0])
refused("NoSuchVersion", s3.get_object, Bucket="ver", Key="k", VersionId="nope")
# The visible objects' listing leaves hidden keys out.
assert [o["Key"] for o in s3.list_objects_v2(Bucket="ver")["Contents"]] == ["plain"]

# Deleting the newest marker by id brings the key back.
r = s3.delete_object(Bucket="ver", Key="k", VersionId=history[-1][0])
assert r["DeleteMarker"] is True and r["VersionId"] == history[-1][0], r
g = s3.get_object(Bucket="ver", Key="k")
assert g["Body"].read() == b"v98" and g["VersionId"] == history[-2][0], g
# Deleting an old version for good.
s3.delete_object(Bucket="ver", Key="k", VersionId=history[5][0])
refused("NoSuchVersion", s3.get_object, Bucket="ver", Key="k", VersionId=history[5][0])
# DeleteObjects with versions.
r = s3.delete_objects(Bucket="ver", Delete={"Objects": [
    {"Key": "k", "VersionId": history[6][0]}, {"Key": "plain"}]})
d = {x["Key"]: x for x in r["Deleted"]}
assert d["k"]["VersionId"] == history[6][0], r
assert d["plain"]["DeleteMarker"] is True and d["plain"]["DeleteMarkerVersionId"], r

# Copying an old version over its key restores it (as a new version);
# copying the object onto itself unchanged is refused.
r = s3.copy_object(Bucket="ver", Key="k", CopySource={"Bucket": "ver", "Key": "k", "VersionId": history[8][0]})
assert r["CopySourceVersionId"] == history[8][0] and body(Bucket="ver", Key="k") == b"v7", r
refused("InvalidRequest", s3.copy_object, Bucket="ver", Key="k", CopySource={"Bucket": "ver", "Key": "k"})

# A copy of an old version, under an odd key name, and a part copied
# from a range of an old version.
odd = "dir/ä b+c&d.txt"
r = s3.copy_object(Bucket="ver", Key=odd, CopySource={"Bucket": "ver", "Key": "k", "VersionId": "null"})
assert r["CopySourceVersionId"] == "null" and r["VersionId"], r
assert body(Bucket="ver", Key=odd) == b"before"
big = os.urandom(6 << 20)
old = s3.put_object(Bucket="ver", Key=odd, Body=big)["VersionId"]
s3.put_object(Bucket="ver", Key=odd, Body=b"newer")
mpu = s3.create_multipart_upload(Bucket="ver", Key="assembled")
p1 = s3.upload_part_copy(Bucket="ver", Key="assembled", UploadId=mpu["UploadId"], PartNumber=1,
                         CopySource={"Bucket": "ver", "Key": odd, "VersionId": old},
                         CopySourceRange=f"bytes=0-{(5 << 20) - 1}")
assert p1["CopySourceVersionId"] == old, p1
p2 = s3.upload_part_copy(Bucket="ver", Key="assembled", UploadId=mpu["UploadId"], PartNumber=2,
                         CopySource={"Bucket": "ver", "Key": odd, "VersionId": old},
                         CopySourceRange=f"bytes={5 << 20}-{len(big) - 1}")
refused("InvalidRange", s3.upload_part_copy, Bucket="ver", Key="assembled", UploadId=mpu["UploadId"],
        PartNumber=3, CopySource={"Bucket": "ver", "Key": odd, "VersionId": old},
        CopySourceRange=f"bytes=0-{len(big)}")
r = s3.complete_multipart_upload(Bucket="ver", Key="assembled", UploadId=mpu["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
                               {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
assert r["VersionId"], r
assert body(Bucket="ver", Key="assembled") == big
# GET and HEAD of one part by its number.
g = s3.get_object(Bucket="ver", Key="assembled", PartNumber=2)
assert g["PartsCount"] == 2 and g["Body"].read() == big[5 << 20:], g
h = s3.head_object(Bucket="ver", Key="assembled", PartNumber=1)
assert h["ContentLength"] == 5 << 20 and h["PartsCount"] == 2, h
refused("InvalidPartNumber", s3.get_object, Bucket="ver", Key="assembled", PartNumber=3)
assert s3.get_object(Bucket="ver", Key=odd, PartNumber=1)["Body"].read() == b"newer"

# Suspended: writes replace the null version and keep the others.
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Suspended"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Suspended"
assert s3.put_object(Bucket="ver", Key="s", Body=b"1")["VersionId"] == "null"
s3.put_object(Bucket="ver", Key="s", Body=b"2")
v = s3.list_object_versions(Bucket="ver", Prefix="s")
assert [(x["VersionId"], x["IsLatest"]) for x in v["Versions"]] == [("null", True)], v
assert body(Bucket="ver", Key="s") == b"2"
r = s3.delete_object(Bucket="ver", Key="s")
assert r["DeleteMarker"] is True and r["VersionId"] == "null", r
v = s3.list_object_versions(Bucket="ver", Prefix="s")
assert "Versions" not in v and [m["VersionId"] for m in v["DeleteMarkers"]] == ["null"], v
# A bucket with versions left is not empty.
refused("BucketNotEmpty", s3.delete_bucket, Bucket="ver")
print("boto3 versions ok")
"#;

#[test]
fn versioned_buckets_keep_list_and_restore_every_version() {
    let server = Server::start();
    server.boto3("boto3 versioning", BOTO3_SCRIPT);

    // The aws CLI sees the same history.
    let out = server.aws_ok(&["s3api", "get-bucket-versioning", "--bucket", "ver"]);
    assert!(out.contains("Suspended"), "{out}");
    let out = server.aws_ok(&[
        "s3api",
        "list-object-versions",
        "--bucket",
        "ver",
        "--prefix",
        "k",
    ]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    // 101 writes and deletes, less the marker and two versions deleted by
    // id, plus the restoring copy: 90 versions (the null one among them)
    // and 9 markers.
    assert_eq!(listed["Versions"].as_array().unwrap().len(), 90, "{out}");
    assert_eq!(
        listed["DeleteMarkers"].as_array().unwrap().len(),
        9,
        "{out}"
    );

    // The Rust SDK pages through the same listing.
    let s3 = server.s3_client();
    let (versions, markers) = runtime().block_on(async {
        let (mut versions, mut markers) = (0, 0);
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = s3
                .list_object_versions()
                .bucket("ver")
                .prefix("k")
                .max_keys(10)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .unwrap();
            versions += page.versions().len();
            markers += page.delete_markers().len();
            if page.is_truncated() != Some(true) {
                break (versions, markers);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    });
    assert_eq!((versions, markers), (90, 9));

    // `strato buckets` shows the state and what it holds.
    let out = server.cli_ok(&["buckets", "--output", "json"]);
    let buckets: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ver = buckets
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "ver")
        .unwrap_or_else(|| panic!("no bucket ver in {out}"));
    assert_eq!(ver["versioning"], "suspended", "{out}");
    assert!(ver["usage"]["versions"].as_u64().unwrap() >= 98, "{out}");
    let table = server.cli_ok(&["buckets"]);
    assert!(
        table.contains("ver") && table.contains("suspended"),
        "{table}"
    );
}
