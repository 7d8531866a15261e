//! AWS Signature Version 4, as the AWS APIs other than S3 use it (Lambda,
//! Step Functions): an `Authorization: AWS4-HMAC-SHA256 ...` header over
//! a canonical request whose path is URI-encoded twice and whose payload
//! the server hashes itself. (S3's own variant lives in `s3s`.)

use sha2::{Digest, Sha256};
use strato_core::percent::{Plus, decode};

/// How far a request's `X-Amz-Date` may be from the server's clock.
const MAX_SKEW_SECS: i64 = 15 * 60;

/// Why a request's signature was refused; each is one of AWS's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Authorization` header (`MissingAuthenticationTokenException`).
    Missing,
    /// An `Authorization` header that is not SigV4 or misses a part
    /// (`IncompleteSignatureException`).
    Malformed(String),
    /// An access key id the key ring does not hold
    /// (`UnrecognizedClientException`).
    UnknownKey,
    /// Signed too long ago or too far ahead (`InvalidSignatureException`).
    Expired(String),
    /// The signature does not match (`InvalidSignatureException`).
    Mismatch,
}

/// The parts of a request a signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as received (without `?`), still percent-encoded.
    pub raw_query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// Checks the signature of `request` for `service`, taking secrets from
/// `secret_of`; returns the access key id that signed it.
pub fn verify(
    request: &SignedRequest<'_>,
    service: &str,
    now_secs: i64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<String, SignatureError> {
    let header = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(SignatureError::Missing)?
        .to_str()
        .map_err(|_| SignatureError::Malformed("the Authorization header is not text".into()))?;
    let auth = parse_authorization(header)?;
    if auth.service != service {
        return Err(SignatureError::Malformed(format!(
            "credential should be scoped to correct service: '{service}'"
        )));
    }
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SignatureError::Malformed("the X-Amz-Date header is missing".into()))?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        SignatureError::Malformed(format!("X-Amz-Date `{amz_date}` is not YYYYMMDDTHHMMSSZ"))
    })?;
    if !amz_date.starts_with(auth.date) {
        return Err(SignatureError::Malformed(format!(
            "the credential date {} does not match X-Amz-Date {amz_date}",
            auth.date
        )));
    }
    if (now_secs - signed_at).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Expired(format!(
            "Signature expired: {amz_date} is more than {} minutes from the server's time",
            MAX_SKEW_SECS / 60
        )));
    }
    let secret = secret_of(auth.access_key).ok_or(SignatureError::UnknownKey)?;
    let canonical = canonical_request(request, &auth.signed_headers)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(auth.access_key.to_string())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, SignatureError> {
    let malformed = |what: &str| SignatureError::Malformed(what.to_string());
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| malformed("the Authorization header is not AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("an Authorization part has no `=`"))?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential = credential
        .ok_or_else(|| malformed("Authorization header requires 'Credential' parameter"))?;
    let signed = signed
        .ok_or_else(|| malformed("Authorization header requires 'SignedHeaders' parameter"))?;
    let signature = signature
        .ok_or_else(|| malformed("Authorization header requires 'Signature' parameter"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = parts[..] else {
        return Err(malformed(
            "Credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request",
        ));
    };
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[&str],
) -> Result<String, SignatureError> {
    let mut out = String::with_capacity(512);
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&encode(request.raw_path, true));
    out.push('\n');
    let mut query: Vec<(String, String)> = request
        .raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                encode(&decode(k, Plus::Literal), false),
                encode(&decode(v, Plus::Literal), false),
            )
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push_str(&query.join("&"));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(SignatureError::Malformed(format!(
                "signed header `{name}` is not in the request"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    let unsigned = request
        .headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v == "UNSIGNED-PAYLOAD");
    if unsigned {
        out.push_str("UNSIGNED-PAYLOAD");
    } else {
        out.push_str(&hex::encode(Sha256::digest(request.body)));
    }
    Ok(out)
}

/// URI-encodes as SigV4 does: unreserved characters stay, the rest are
/// `%XX` (and `/` stays in paths). The path arrives encoded once, so
/// this encodes it a second time, as the SDKs do for every service but S3.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Seconds since the epoch of `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> { text.get(range)?.parse().ok() };
    let month = time::Month::try_from(num(4..6)? as u8).ok()?;
    let date = time::Date::from_calendar_date(num(0..4)? as i32, month, num(6..8)? as u8).ok()?;
    let time =
        time::Time::from_hms(num(9..11)? as u8, num(11..13)? as u8, num(13..15)? as u8).ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Compares secrets in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (test case 6).
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    /// The worked example of AWS's SigV4 documentation (IAM ListUsers).
    fn documented_example(signature: &str) -> (http::HeaderMap, i64) {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        );
        let headers = headers(&[
            ("host", "iam.amazonaws.com"),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", &auth),
        ]);
        (headers, parse_amz_date("20150830T123600Z").unwrap() + 60)
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn check(headers: &http::HeaderMap, query: &str, now: i64) -> Result<String, SignatureError> {
        let request = SignedRequest {
            method: "GET",
            raw_path: "/",
            raw_query: query,
            headers,
            body: b"",
        };
        verify(&request, "iam", now, |key| {
            (key == "AKIDEXAMPLE").then(|| SECRET.to_string())
        })
    }

    #[test]
    fn accepts_the_documented_example() {
        let (headers, now) = documented_example(SIGNATURE);
        assert_eq!(
            check(&headers, "Action=ListUsers&Version=2010-05-08", now),
            Ok("AKIDEXAMPLE".into())
        );
        // Query order does not matter: it is sorted.
        assert!(check(&headers, "Version=2010-05-08&Action=ListUsers", now).is_ok());
    }

    #[test]
    fn refuses_tampering_unknown_keys_and_old_signatures() {
        let (headers, now) = documented_example(SIGNATURE);
        assert_eq!(
            check(&headers, "Action=ListRoles&Version=2010-05-08", now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            check(&headers, "Action=ListUsers&Version=2010-05-08", now + 3600),
            Err(SignatureError::Expired(_))
        ));
        let (bad, _) = documented_example(&"0".repeat(64));
        assert_eq!(
            check(&bad, "Action=ListUsers&Version=2010-05-08", now),
            Err(SignatureError::Mismatch)
        );
        let mut unknown = headers.clone();
        let auth = unknown["authorization"]
            .to_str()
            .unwrap()
            .replace("AKIDEXAMPLE", "AKIDOTHER");
        unknown.insert("authorization", auth.parse().unwrap());
        assert_eq!(
            check(&unknown, "Action=ListUsers&Version=2010-05-08", now),
            Err(SignatureError::UnknownKey)
        );
        let mut none = headers;
        none.remove("authorization");
        assert_eq!(check(&none, "", now), Err(SignatureError::Missing));
    }

    #[test]
    fn paths_are_encoded_twice() {
        assert_eq!(
            encode("/2015-03-31/functions/arn%3Aaws%3Alambda/invocations", true),
            "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations"
        );
        assert_eq!(encode("a b/c", false), "a%20b%2Fc");
    }
}
