//! Small helpers shared by the engine's modules.

pub(crate) use strato_core::time::{format_rfc3339_ms, now_ms};

/// An event delivered to a function: a JSON `POST /` with CloudEvents
/// headers (design.md section 4), the one envelope bucket events, queue
/// batches and schedule firings share.
pub(crate) struct CloudEvent {
    pub id: String,
    /// `ce-type`, e.g. `com.amazonaws.s3.ObjectCreated:Put`.
    pub kind: String,
    /// `ce-source`, e.g. `strato:bucket:media`.
    pub source: String,
    pub time_ms: i64,
    pub subject: Option<String>,
}

impl CloudEvent {
    /// The request headers, content type included.
    pub(crate) fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("ce-id".to_string(), self.id.clone()),
            ("ce-type".to_string(), self.kind.clone()),
            ("ce-source".to_string(), self.source.clone()),
            ("ce-specversion".to_string(), "1.0".to_string()),
            ("ce-time".to_string(), format_rfc3339_ms(self.time_ms)),
        ];
        if let Some(subject) = &self.subject {
            headers.push(("ce-subject".to_string(), subject.clone()));
        }
        headers
    }

    /// The `POST /` carrying `body`.
    pub(crate) fn request(
        &self,
        body: impl Into<bytes::Bytes>,
    ) -> http::Request<http_body_util::Full<bytes::Bytes>> {
        let mut builder = http::Request::post("/").header("host", "localhost");
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        builder
            .body(http_body_util::Full::new(body.into()))
            .expect("event headers are valid")
    }
}
