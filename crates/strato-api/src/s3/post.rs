//! Browser form uploads (presigned POST): s3s checks the policy and the
//! signature and stores the file, but leaves a `${filename}` in the `key`
//! field as it is. S3 puts the uploaded file's name there, so this reads a
//! form's fields (they come before the file, as S3 requires; at most
//! [`MAX_FIELDS_BYTES`]) and substitutes it before s3s sees the request.
//! The file itself streams through untouched.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// How much of a form is read looking for its file part.
const MAX_FIELDS_BYTES: usize = 64 * 1024;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where the file part's name is and where its headers end, in a form's
/// first bytes.
fn file_part(prefix: &[u8]) -> Option<(String, usize)> {
    let at = find(prefix, b"filename=\"")? + b"filename=\"".len();
    let len = find(&prefix[at..], b"\"")?;
    let name = String::from_utf8_lossy(&prefix[at..at + len]).into_owned();
    let headers_end = at + find(&prefix[at..], b"\r\n\r\n")?;
    // Browsers send a base name; some send a whole path.
    let base = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_string();
    Some((base, headers_end))
}

/// The form's fields with `${filename}` in the `key` field replaced; `None`
/// when there is nothing to replace.
pub(crate) fn substitute(prefix: &[u8], boundary: &str) -> Option<Vec<u8>> {
    let (filename, fields_end) = file_part(prefix)?;
    let fields = &prefix[..fields_end];
    let lower = fields.to_ascii_lowercase();
    let name_at = find(&lower, b"name=\"key\"")?;
    let value_start = name_at + find(&fields[name_at..], b"\r\n\r\n")? + 4;
    let delimiter = format!("\r\n--{boundary}");
    let value_end = value_start + find(&fields[value_start..], delimiter.as_bytes())?;
    let value = std::str::from_utf8(&fields[value_start..value_end]).ok()?;
    if !value.contains("${filename}") {
        return None;
    }
    let mut out = prefix[..value_start].to_vec();
    out.extend_from_slice(value.replace("${filename}", &filename).as_bytes());
    out.extend_from_slice(&prefix[value_end..]);
    Some(out)
}

/// The request, with `${filename}` substituted if it is a form upload
/// that asks for it.
pub(crate) async fn with_filename(
    request: http::Request<hyper::body::Incoming>,
) -> http::Request<s3s::Body> {
    let boundary = (request.method() == http::Method::POST)
        .then(|| request.headers().get(http::header::CONTENT_TYPE))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"))
        .and_then(|t| t.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string());
    let Some(boundary) = boundary else {
        return request.map(s3s::Body::from);
    };
    let (mut parts, mut body) = request.into_parts();
    let mut prefix = BytesMut::new();
    // Read frames until the file part's headers have been seen.
    while prefix.len() < MAX_FIELDS_BYTES && file_part(&prefix).is_none() {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => prefix.extend_from_slice(&data),
                Err(_) => break,
            },
            // A broken body: s3s answers what is left of it.
            _ => break,
        }
    }
    let prefix = match substitute(&prefix, &boundary) {
        Some(rewritten) => {
            // The body changed length.
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Bytes::from(rewritten)
        }
        None => prefix.freeze(),
    };
    let head = futures::stream::once(async move { Ok(hyper::body::Frame::data(prefix)) });
    let rest = http_body_util::BodyStream::new(body);
    let stream = futures::StreamExt::chain(head, rest);
    http::Request::from_parts(
        parts,
        s3s::Body::http_body_unsync(http_body_util::StreamBody::new(stream)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(key: &str, filename: &str) -> Vec<u8> {
        format!(
            "--XYZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n{key}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\nP\r\n--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\nDATA\r\n--XYZ--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn the_file_name_replaces_the_placeholder_in_the_key_only() {
        let out = substitute(&form("up/${filename}", "photo.jpg"), "XYZ").unwrap();
        assert_eq!(out, form("up/photo.jpg", "photo.jpg"));
        let out = substitute(&form("${filename}", "C:\\Users\\me\\a.txt"), "XYZ").unwrap();
        assert_eq!(out, form("a.txt", "C:\\Users\\me\\a.txt"));
        assert_eq!(substitute(&form("up/fixed.jpg", "photo.jpg"), "XYZ"), None);
        // Without the file part's headers yet, nothing is decided.
        assert_eq!(
            substitute(
                b"--XYZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n${filename}",
                "XYZ"
            ),
            None
        );
    }
}
