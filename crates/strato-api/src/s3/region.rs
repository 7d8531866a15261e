//! The region a request was signed for. Strato takes a signature for any
//! well-formed region (clients configured for another region keep
//! working, as with most S3-compatible stores), but a region no signature
//! can be checked for, such as s3cmd's default `US`, gets S3's
//! `AuthorizationHeaderMalformed` naming the region to use, which s3cmd
//! and the SDKs' region redirectors follow.

/// The credential scope's region: from `Authorization` (SigV4 headers) or
/// `X-Amz-Credential` (presigned URLs); `None` when there is none.
pub(crate) fn signed_region(headers: &http::HeaderMap, query: Option<&str>) -> Option<String> {
    let credential = match headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(auth) if auth.starts_with("AWS4-HMAC-SHA256") => auth
            .split_once("Credential=")?
            .1
            .split([',', ' '])
            .next()?
            .to_string(),
        Some(_) => return None,
        None => query?
            .split('&')
            .find_map(|pair| pair.strip_prefix("X-Amz-Credential="))
            .map(|v| strato_core::percent::decode(v, strato_core::percent::Plus::Literal))?,
    };
    // AKID/DATE/REGION/SERVICE/aws4_request
    credential.split('/').nth(2).map(str::to_string)
}

/// Whether a signature can be checked for `region` (`[a-z0-9-]+`).
pub(crate) fn is_signable(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_header_or_the_presigned_query() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKID/20261202/US/s3/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(signed_region(&headers, None).as_deref(), Some("US"));
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261202%2Feu-west-1%2Fs3%2Faws4_request";
        assert_eq!(
            signed_region(&http::HeaderMap::new(), Some(query)).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(signed_region(&http::HeaderMap::new(), Some("a=b")), None);
        assert!(is_signable("us-east-1") && !is_signable("US") && !is_signable(""));
    }
}
