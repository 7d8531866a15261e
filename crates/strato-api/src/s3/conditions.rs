//! Conditional requests: reads' If-Match / If-None-Match /
//! If-(Un)Modified-Since (answered here, against the object read), and
//! writes' and deletes' conditions, which become a [`WriteCondition`] the
//! store checks in the write's own transaction (so two racing
//! `If-None-Match: *` writers never both succeed).

use super::object::timestamp_ms;
use s3s::dto::*;
use s3s::{S3Result, s3_error};
use strato_store::{ObjectMeta, WriteCondition};

/// Evaluates If-Match / If-None-Match / If-(Un)Modified-Since as S3 does:
/// `Err` with 412 PreconditionFailed or 304 NotModified.
pub(crate) fn check_conditions(
    meta: &ObjectMeta,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let etag = meta.etag.trim_matches('"');
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(t) => t.value() == etag,
    };
    let modified = timestamp_ms(meta.modified_ms / 1000 * 1000);
    let after = |t: &Timestamp| {
        let a: time::OffsetDateTime = modified.clone().into();
        let b: time::OffsetDateTime = t.clone().into();
        a > b
    };
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = if_unmodified_since
        && after(t)
    {
        return Err(s3_error!(PreconditionFailed));
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Err(s3_error!(NotModified));
        }
    } else if let Some(t) = if_modified_since
        && !after(t)
    {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}

/// A write's condition from its `If-None-Match` (only `*`, as on S3) and
/// `If-Match` headers (PutObject, CopyObject, CompleteMultipartUpload).
pub(crate) fn write_condition(headers: &http::HeaderMap) -> S3Result<WriteCondition> {
    let text = |name: &str| -> S3Result<Option<String>> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(|t| t.trim().to_string())
                    .map_err(|_| s3_error!(InvalidArgument, "{name} is not text"))
            })
            .transpose()
    };
    let absent = match text("if-none-match")? {
        None => false,
        Some(v) if v == "*" => true,
        Some(_) => {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on a write takes only `*` (create the key only if it has no object)"
            ));
        }
    };
    Ok(WriteCondition {
        absent,
        etag: text("if-match")?,
        ..Default::default()
    })
}

/// A delete's condition: `If-Match`, `x-amz-if-match-size` and
/// `x-amz-if-match-last-modified-time` (DeleteObject, or one entry of
/// DeleteObjects).
pub(crate) fn delete_condition(
    etag: Option<String>,
    size: Option<i64>,
    modified: Option<&Timestamp>,
) -> S3Result<WriteCondition> {
    let size = size
        .map(|n| u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "a size is not negative")))
        .transpose()?;
    let modified_ms = modified.map(|t| {
        let t: time::OffsetDateTime = t.clone().into();
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    });
    Ok(WriteCondition {
        absent: false,
        etag,
        size,
        modified_ms,
    })
}

/// The text of an ETag condition (`*` for any).
pub(crate) fn etag_text(condition: &ETagCondition) -> String {
    match condition {
        ETagCondition::Any => "*".to_string(),
        ETagCondition::ETag(t) => t.value().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    fn object(etag: &str, modified_ms: i64) -> ObjectMeta {
        ObjectMeta {
            bucket: "b".into(),
            key: "k".into(),
            size: 1,
            etag: format!("\"{etag}\""),
            content_type: None,
            headers: BTreeMap::new(),
            blob: String::new(),
            modified_ms,
            version_id: None,
            inline: None,
        }
    }

    fn tag(value: &str) -> ETagCondition {
        ETagCondition::parse_http_header(format!("\"{value}\"").as_bytes()).unwrap()
    }

    /// The S3 error code a check gives, or "ok".
    fn verdict(
        meta: &ObjectMeta,
        if_match: Option<ETagCondition>,
        if_none_match: Option<ETagCondition>,
        modified_since: Option<i64>,
        unmodified_since: Option<i64>,
    ) -> String {
        match check_conditions(
            meta,
            if_match.as_ref(),
            if_none_match.as_ref(),
            modified_since.map(timestamp_ms).as_ref(),
            unmodified_since.map(timestamp_ms).as_ref(),
        ) {
            Ok(()) => "ok".into(),
            Err(e) => e.code().as_str().to_string(),
        }
    }

    #[test]
    fn write_conditions_come_from_their_headers() {
        let mut headers = http::HeaderMap::new();
        assert!(write_condition(&headers).unwrap().is_empty());
        headers.insert("if-none-match", "*".parse().unwrap());
        headers.insert("if-match", "\"abc\"".parse().unwrap());
        let c = write_condition(&headers).unwrap();
        assert!(c.absent);
        assert_eq!(c.etag.as_deref(), Some("\"abc\""));
        headers.insert("if-none-match", "\"abc\"".parse().unwrap());
        let refused = write_condition(&headers).unwrap_err();
        assert_eq!(refused.code().as_str(), "NotImplemented");
        let c = delete_condition(None, Some(3), Some(&timestamp_ms(10_000))).unwrap();
        assert_eq!((c.size, c.modified_ms), (Some(3), Some(10_000)));
        assert!(delete_condition(None, Some(-1), None).is_err());
    }

    #[test]
    fn etag_conditions_follow_s3() {
        let o = object("abc", 10_000);
        assert_eq!(verdict(&o, Some(tag("abc")), None, None, None), "ok");
        assert_eq!(
            verdict(&o, Some(ETagCondition::Any), None, None, None),
            "ok"
        );
        assert_eq!(
            verdict(&o, Some(tag("xyz")), None, None, None),
            "PreconditionFailed"
        );
        assert_eq!(
            verdict(&o, None, Some(tag("abc")), None, None),
            "NotModified"
        );
        assert_eq!(
            verdict(&o, None, Some(ETagCondition::Any), None, None),
            "NotModified"
        );
        assert_eq!(verdict(&o, None, Some(tag("xyz")), None, None), "ok");
    }

    #[test]
    fn date_conditions_compare_whole_seconds_and_yield_to_etags() {
        // Modified at 10.5 s: S3 keeps whole seconds, so 10 s counts as
        // "not modified since".
        let o = object("abc", 10_500);
        assert_eq!(verdict(&o, None, None, Some(10_000), None), "NotModified");
        assert_eq!(verdict(&o, None, None, Some(9_000), None), "ok");
        assert_eq!(verdict(&o, None, None, None, Some(10_000)), "ok");
        assert_eq!(
            verdict(&o, None, None, None, Some(9_000)),
            "PreconditionFailed"
        );
        // If-Match wins over If-Unmodified-Since, If-None-Match over
        // If-Modified-Since (RFC 7232 section 6, as S3 does).
        assert_eq!(verdict(&o, Some(tag("abc")), None, None, Some(9_000)), "ok");
        assert_eq!(
            verdict(&o, None, Some(tag("xyz")), Some(10_000), None),
            "ok"
        );
    }
}
