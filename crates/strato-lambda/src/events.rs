//! What a Lambda handler receives and how its answer becomes an HTTP
//! response.
//!
//! An HTTP request from a route becomes an API Gateway HTTP API event,
//! payload format 2.0 (the shape Lambda function URLs use too), and the
//! handler's result is mapped back as API Gateway maps it: an object with
//! `statusCode` gives status, `headers`, `cookies` and `body`
//! (`isBase64Encoded`); any other JSON value is a 200 JSON answer. Work the
//! engine delivers (bucket events, queue batches, schedules, async
//! invocations) arrives as a CloudEvents POST (`ce-type`): its body is
//! already the event in AWS's shape and is handed over as it is, and the
//! handler's result goes back as it is.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value, json};
use strato_core::percent::{Plus, decode};

/// The parts of a request an event is made of.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// Path and query, as received (`/api/items?id=3`).
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The run's id (the event's `requestContext.requestId`).
    pub request_id: &'a str,
    pub now_ms: i64,
}

/// Whether the engine delivered this request as an event (CloudEvents
/// headers) rather than a caller's HTTP request.
pub fn is_delivered_event(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-type")
}

/// The API Gateway HTTP API (2.0) event for an HTTP request.
pub fn http_api_event(request: &RequestParts<'_>) -> Value {
    let (path, query) = request
        .path_and_query
        .split_once('?')
        .unwrap_or((request.path_and_query, ""));
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in request.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split("; ").map(|c| Value::String(c.to_string())));
            continue;
        }
        // Repeated headers are joined with commas, as API Gateway does.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    let mut params = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k, Plus::IsSpace), decode(v, Plus::IsSpace));
        match params.get_mut(&k) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&v);
            }
            _ => {
                params.insert(k, Value::String(v));
            }
        }
    }
    let text = std::str::from_utf8(request.body).ok();
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            // Strato has no AWS accounts: twelve zeros, as the ARNs it
            // shows elsewhere.
            "accountId": "000000000000",
            "apiId": "strato",
            "domainName": header("host"),
            "domainPrefix": header("host").split('.').next().unwrap_or(""),
            "http": {
                "method": request.method,
                "path": path,
                "protocol": "HTTP/1.1",
                // The gateway does not pass the peer's address on.
                "sourceIp": "127.0.0.1",
                "userAgent": header("user-agent"),
            },
            "requestId": request.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": strato_core::time::format_rfc3339_ms(request.now_ms),
            "timeEpoch": request.now_ms,
        },
        "isBase64Encoded": text.is_none(),
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if !request.body.is_empty() {
        event["body"] = match text {
            Some(t) => Value::String(t.to_string()),
            None => Value::String(base64::engine::general_purpose::STANDARD.encode(request.body)),
        };
    }
    event
}

/// Why a handler's result could not be made a response.
#[derive(Debug, PartialEq, Eq)]
pub struct BadResult(pub String);

/// The HTTP response for a handler's result to an HTTP API event.
pub fn http_response(result: &[u8]) -> Result<Response<Bytes>, BadResult> {
    let value: Value = match serde_json::from_slice(result) {
        Ok(v) => v,
        // Not JSON: handed back as it is.
        Err(_) => return Ok(plain(StatusCode::OK, Bytes::copy_from_slice(result), None)),
    };
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(plain(
            StatusCode::OK,
            Bytes::copy_from_slice(result),
            Some("application/json"),
        ));
    };
    let status = object["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| {
            BadResult(format!(
                "statusCode {} is not an HTTP status",
                object["statusCode"]
            ))
        })?;
    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if object.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(Bytes::from)
                .map_err(|e| {
                    BadResult(format!("body is not base64 although isBase64Encoded: {e}"))
                })?
        }
        Some(Value::String(s)) => Bytes::from(s.clone()),
        // API Gateway wants a string; a JSON body is sent as JSON.
        Some(other) => Bytes::from(other.to_string()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(Value::Object(map)) = object.get("headers") {
        for (name, value) in map {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                headers.append(name, value);
            }
        }
    }
    if let Some(Value::Array(cookies)) = object.get("cookies") {
        for cookie in cookies.iter().filter_map(|c| c.as_str()) {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                headers.append(http::header::SET_COOKIE, value);
            }
        }
    }
    if !headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(response)
}

fn plain(status: StatusCode, body: Bytes, content_type: Option<&'static str>) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(kind) = content_type {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_become_http_api_events() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert("cookie", HeaderValue::from_static("s=1; t=2"));
        let event = http_api_event(&RequestParts {
            method: "POST",
            path_and_query: "/api/items?id=3&tag=a%20b&tag=c",
            headers: &headers,
            body: b"{\"x\":1}",
            request_id: "r1",
            now_ms: 0,
        });
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawPath"], "/api/items");
        assert_eq!(event["rawQueryString"], "id=3&tag=a%20b&tag=c");
        assert_eq!(event["queryStringParameters"]["tag"], "a b,c");
        assert_eq!(event["headers"]["x-multi"], "a,b");
        assert_eq!(event["cookies"], json!(["s=1", "t=2"]));
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["requestContext"]["requestId"], "r1");
        assert_eq!(event["body"], "{\"x\":1}");
        assert_eq!(event["isBase64Encoded"], false);
        let binary = http_api_event(&RequestParts {
            method: "PUT",
            path_and_query: "/b",
            headers: &HeaderMap::new(),
            body: &[0xff, 0x00],
            request_id: "r2",
            now_ms: 0,
        });
        assert_eq!(binary["isBase64Encoded"], true);
        assert_eq!(binary["body"], "/wA=");
        assert!(binary.get("queryStringParameters").is_none());
    }

    #[test]
    fn results_map_back_as_api_gateway_maps_them() {
        let r = http_response(
            br#"{"statusCode":201,"headers":{"x-a":"1"},"cookies":["c=1"],"body":"made"}"#,
        )
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(r.headers()["set-cookie"], "c=1");
        assert_eq!(r.body(), "made");
        let r =
            http_response(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.body(), "hi");
        // Anything else is a 200 JSON answer of the value itself.
        let r = http_response(br#"{"ok":true}"#).unwrap();
        assert_eq!(
            (r.status(), r.headers()["content-type"].to_str().unwrap()),
            (StatusCode::OK, "application/json")
        );
        assert_eq!(r.body(), r#"{"ok":true}"#);
        assert_eq!(http_response(b"\"text\"").unwrap().body(), "\"text\"");
        assert!(http_response(br#"{"statusCode":"nope"}"#).is_err());
    }
}
