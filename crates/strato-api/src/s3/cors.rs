//! CORS for browsers: preflight `OPTIONS` requests are answered here,
//! before s3s (they carry no signature), and answers to requests with an
//! `Origin` get the headers of the bucket's first matching rule, as S3
//! does.

use crate::ResponseBody;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use strato_engine::buckets::config::{CorsRule, cors_rule, kind};
use strato_engine::buckets::{Buckets, Scope};

/// The bucket a path-style request names (its first path segment).
pub(crate) fn bucket_in_path(path: &str) -> Option<String> {
    let first = path.trim_start_matches('/').split('/').next()?;
    (!first.is_empty())
        .then(|| strato_core::percent::decode(first, strato_core::percent::Plus::Literal))
}

fn rules_of(buckets: &Buckets, bucket: &str) -> Option<Vec<CorsRule>> {
    buckets
        .bucket_config(bucket, &Scope::Admin, kind::CORS)
        .ok()
        .flatten()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Answers a preflight request, or `None` if `method` is not `OPTIONS`.
pub(crate) fn preflight(
    buckets: &Buckets,
    method: &Method,
    bucket: Option<&str>,
    headers: &HeaderMap,
    request_id: &str,
) -> Option<http::Response<ResponseBody>> {
    if method != Method::OPTIONS {
        return None;
    }
    let refuse = |status: StatusCode, code: &str, message: &str| {
        let mut r = http::Response::new(strato_engine::full_body(super::error_xml(
            code, message, request_id,
        )));
        *r.status_mut() = status;
        r
    };
    let (Some(origin), Some(wanted)) = (
        header(headers, "origin"),
        header(headers, "access-control-request-method"),
    ) else {
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        ));
    };
    let requested: Vec<&str> = header(headers, "access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let Some(rules) = bucket.and_then(|b| rules_of(buckets, b)) else {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: CORS is not enabled for this bucket.",
        ));
    };
    let Some(rule) = cors_rule(&rules, origin, wanted, &requested) else {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let mut response = http::Response::new(strato_engine::full_body(String::new()));
    let out = response.headers_mut();
    allow(out, rule, origin);
    set(
        out,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !requested.is_empty() {
        set(out, "access-control-allow-headers", &requested.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set(out, "access-control-max-age", &age.to_string());
    }
    Some(response)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The headers every allowed answer carries.
fn allow(out: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    set(
        out,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    if !any {
        set(out, "access-control-allow-credentials", "true");
    }
    if !rule.expose_headers.is_empty() {
        set(
            out,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    set(
        out,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

/// Adds CORS headers to the answer of a request with an `Origin` that a
/// rule of its bucket allows.
pub(crate) fn decorate(
    buckets: &Buckets,
    method: &Method,
    bucket: Option<&str>,
    origin: Option<&str>,
    response: &mut HeaderMap,
) {
    let (Some(bucket), Some(origin)) = (bucket, origin) else {
        return;
    };
    let Some(rules) = rules_of(buckets, bucket) else {
        return;
    };
    if let Some(rule) = cors_rule(&rules, origin, method.as_str(), &[]) {
        allow(response, rule, origin);
    }
}
