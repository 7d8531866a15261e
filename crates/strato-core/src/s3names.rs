//! S3 naming rules for buckets and object keys, shared by the manifest
//! (`[buckets.NAME]`) and the S3 API so both refuse the same names.

/// Why a bucket name or object key was refused; messages follow S3's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3NameError {
    #[error("bucket name `{name}` is invalid: {reason}")]
    Bucket { name: String, reason: &'static str },
    #[error("object key is invalid: {0}")]
    Key(&'static str),
    #[error("object key is invalid: it is longer than {MAX_KEY_BYTES} bytes")]
    KeyTooLong,
}

/// Checks a bucket name against S3's rules for general purpose buckets.
pub fn validate_bucket_name(name: &str) -> Result<(), S3NameError> {
    let fail = |reason| {
        Err(S3NameError::Bucket {
            name: name.to_string(),
            reason,
        })
    };
    if name.len() < 3 || name.len() > 63 {
        return fail("use 3 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return fail("use lowercase letters, digits, `.` and `-` only");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !(first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()) {
        return fail("begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return fail("do not put `.` next to `.` or `-`");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return fail("do not format it as an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return fail("do not start with `xn--`, `sthree-` or `amzn-s3-demo-` (reserved by S3)");
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return fail(
                "do not end with a suffix S3 reserves (`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`)",
            );
        }
    }
    Ok(())
}

/// Longest object key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks an object key: non-empty UTF-8 of at most 1024 bytes, without NUL
/// or other control characters, and without `.` or `..` path segments, which
/// would let a key alias another or escape a directory-backed store.
pub fn validate_object_key(key: &str) -> Result<(), S3NameError> {
    if key.is_empty() {
        return Err(S3NameError::Key("it is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3NameError::KeyTooLong);
    }
    if key
        .chars()
        .any(|c| c == '\0' || (c.is_control() && c != '\t'))
    {
        return Err(S3NameError::Key("it contains NUL or control characters"));
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(S3NameError::Key("it contains a `.` or `..` path segment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["media", "my-bucket.v2", "a1b", "x".repeat(63).as_str()] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "x".repeat(64).as_str(),
            "Media",
            "under_score",
            "-start",
            "end-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--bucket",
            "bucket-s3alias",
            "bucket--ol-s3",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys_refuse_nul_dot_segments_and_oversize() {
        for ok in [
            "a",
            "photos/2026/clip.mp4",
            "dots...in.name",
            "a/.hidden",
            "sp ace+plus",
        ] {
            assert!(validate_object_key(ok).is_ok(), "{ok}");
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for bad in [
            "",
            "a\0b",
            "../etc/passwd",
            "a/../b",
            "a/./b",
            "..",
            long.as_str(),
            "bell\u{7}",
        ] {
            assert!(validate_object_key(bad).is_err(), "{bad:?}");
        }
    }
}
