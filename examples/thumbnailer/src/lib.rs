//! What both functions share: reading the S3 event notification Strato
//! POSTs to them.

/// (bucket, key, size) of each record of an S3 event notification.
pub fn records(body: &[u8]) -> Result<Vec<(String, String, u64)>, String> {
    let event: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not an S3 event: {e}"))?;
    Ok(event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let s3 = &r["s3"];
            (
                s3["bucket"]["name"].as_str().unwrap_or_default().to_string(),
                form_decode(s3["object"]["key"].as_str().unwrap_or_default()),
                s3["object"]["size"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

/// S3 events carry keys form-encoded (`+` for space, `%XX`).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
