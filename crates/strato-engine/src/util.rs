//! Small helpers shared by the engine's modules.

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-22T10:04:05.123Z` for a time in Unix milliseconds.
pub(crate) fn iso8601_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// The wait before the attempt after `attempt`: `base * 2^(attempt-1)`,
/// with jitter (50% to 100% of it) so retries of many failures spread
/// out. Every retry in the engine (async invocations, destinations,
/// bucket events, task runs) waits this long.
pub(crate) fn backoff(base: std::time::Duration, attempt: u32) -> std::time::Duration {
    let full = base * 2u32.pow(attempt.saturating_sub(1).min(16));
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

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
            ("ce-time".to_string(), iso8601_ms(self.time_ms)),
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

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_with_jitter() {
        let base = std::time::Duration::from_millis(100);
        for attempt in 1..6 {
            let full = base * 2u32.pow(attempt - 1);
            for _ in 0..50 {
                let b = super::backoff(base, attempt);
                assert!(b >= full / 2 && b <= full, "attempt {attempt}: {b:?}");
            }
        }
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(super::iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::iso8601_ms(1_795_341_845_123),
            "2026-11-22T10:04:05.123Z"
        );
        assert_eq!(
            super::iso8601_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
