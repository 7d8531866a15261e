//! A real browser against the S3 API: headless Chromium, driven by
//! Selenium, loads a page from another origin that uploads with a
//! presigned PUT (a CORS preflight first), reads the object back with an
//! exposed ETag, uploads through a presigned POST form, and is blocked by
//! a bucket without CORS rules.

use crate::support::{CHROME_PY, Server};

const SCRIPT: &str = r#"
import json, os, time
import boto3
from botocore.config import Config
from selenium import webdriver

endpoint = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

# The page is served from another origin: a port of its own.
page = {"html": ""}
origin = f"http://127.0.0.1:{serve_page(page)}"

s3.create_bucket(Bucket="web")
s3.create_bucket(Bucket="closed")
s3.put_bucket_cors(Bucket="web", CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": [origin], "AllowedMethods": ["GET", "PUT", "POST"],
    "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "web", "Key": "from-fetch.txt"}, ExpiresIn=600)
get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "web", "Key": "from-fetch.txt"}, ExpiresIn=600)
closed_url = s3.generate_presigned_url("put_object", Params={"Bucket": "closed", "Key": "x.txt"}, ExpiresIn=600)
post = s3.generate_presigned_post("web", "forms/${filename}", Conditions=[["content-length-range", 1, 10000]], ExpiresIn=600)

page["html"] = """<!doctype html><html><body><pre id="out">running</pre><script>
const cfg = %s;
const results = {};
async function run() {
  // A PUT with a custom header: the browser sends a preflight first.
  const put = await fetch(cfg.put, {method: "PUT", headers: {"Content-Type": "text/plain", "x-amz-meta-from": "browser"}, body: "sent by a browser"});
  results.put = put.status;
  const got = await fetch(cfg.get);
  results.get = got.status;
  results.body = await got.text();
  results.etag = got.headers.get("ETag");
  const form = new FormData();
  for (const [k, v] of Object.entries(cfg.post.fields)) form.append(k, v);
  form.append("file", new Blob(["a form upload"], {type: "text/plain"}), "form.txt");
  const posted = await fetch(cfg.post.url, {method: "POST", body: form});
  results.post = posted.status;
  try {
    await fetch(cfg.closed, {method: "PUT", headers: {"x-amz-meta-from": "browser"}, body: "nope"});
    results.closed = "allowed";
  } catch (e) {
    results.closed = "blocked";
  }
}
run().catch(e => { results.error = String(e); }).finally(() => {
  document.getElementById("out").textContent = JSON.stringify(results);
  document.title = "done";
});
</script></body></html>""" % json.dumps({"put": put_url, "get": get_url, "post": post, "closed": closed_url})

driver = chrome()
try:
    driver.get(origin + "/")
    deadline = time.time() + 30
    while driver.title != "done" and time.time() < deadline:
        time.sleep(0.2)
    results = json.loads(driver.find_element("id", "out").text)
finally:
    driver.quit()
print(results)
assert "error" not in results, results
assert results["put"] == 200 and results["get"] == 200, results
assert results["body"] == "sent by a browser", results
assert results["etag"] and results["etag"].startswith('"'), results
assert results["post"] == 204, results
assert results["closed"] == "blocked", results
head = s3.head_object(Bucket="web", Key="from-fetch.txt")
assert head["Metadata"] == {"from": "browser"}, head
assert s3.get_object(Bucket="web", Key="forms/form.txt")["Body"].read() == b"a form upload"
refused = True
try:
    s3.head_object(Bucket="closed", Key="x.txt")
    refused = False
except Exception:
    pass
assert refused, "the blocked upload was stored"
print("browser ok")
"#;

#[test]
fn a_browser_uploads_across_origins_with_cors_and_a_form() {
    let server = Server::start();
    let profile = tempfile::tempdir().unwrap();
    server.boto3_with(
        "headless Chromium",
        &format!("{CHROME_PY}{SCRIPT}"),
        &[("PROFILE", profile.path().to_str().unwrap())],
    );
}
