//! Asynchronous invocations: queued work for a function, run later with
//! retries.

use serde::{Deserialize, Serialize};

/// How soon queued work runs relative to other queued work.
///
/// Priorities are a head start, not a strict order: work is taken by
/// `due time + offset`, so low-priority work waits at most
/// [`Priority::offset_ms`] longer than high-priority work queued at the
/// same moment, and is never starved by a steady stream of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn parse(text: &str) -> Option<Priority> {
        match text {
            "high" => Some(Priority::High),
            "normal" => Some(Priority::Normal),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }

    /// The head start high-priority work has over this priority.
    pub fn offset_ms(self) -> i64 {
        match self {
            Priority::High => 0,
            Priority::Normal => 1_000,
            Priority::Low => 10_000,
        }
    }
}

/// Where an async invocation's outcome goes once it is settled
/// (`on_success` / `on_failure`), as a Lambda destination record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "target")]
pub enum Destination {
    /// Another function of the app, invoked asynchronously.
    Function(String),
    /// A task of the app, started with the record in `STRATO_DESTINATION_RECORD`.
    Task(String),
    /// An HTTP POST of the record to this URL.
    Webhook(String),
    /// A queue of the app: the record is sent as a message.
    Queue(String),
    /// A workflow of the app: an execution starts with the record as its
    /// input.
    Workflow(String),
}

impl Destination {
    /// `function:NAME`, `task:NAME`, `queue:NAME` or an `http://` URL.
    pub fn parse(text: &str) -> Result<Destination, String> {
        if let Some(name) = text.strip_prefix("function:") {
            return Ok(Destination::Function(name.to_string()));
        }
        if let Some(name) = text.strip_prefix("task:") {
            return Ok(Destination::Task(name.to_string()));
        }
        if let Some(name) = text.strip_prefix("queue:") {
            return Ok(Destination::Queue(name.to_string()));
        }
        if let Some(name) = text.strip_prefix("workflow:") {
            return Ok(Destination::Workflow(name.to_string()));
        }
        if text.starts_with("https://") {
            return Err(
                "https:// webhooks are not supported yet; use http:// (e.g. a local relay)".into(),
            );
        }
        if text.starts_with("http://") && text.len() > 7 {
            return Ok(Destination::Webhook(text.to_string()));
        }
        Err(format!(
            "destination `{text}` is not `function:NAME`, `task:NAME`, `queue:NAME` or an http:// URL"
        ))
    }
}

/// Default longest time an async invocation may wait for a successful
/// attempt (Lambda's six hours).
pub const DEFAULT_MAX_AGE_MS: u64 = 6 * 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(
            Destination::parse("function:sink"),
            Ok(Destination::Function("sink".into()))
        );
        assert_eq!(
            Destination::parse("task:ffmpeg"),
            Ok(Destination::Task("ffmpeg".into()))
        );
        assert!(matches!(
            Destination::parse("http://127.0.0.1:9/hook"),
            Ok(Destination::Webhook(_))
        ));
        assert_eq!(
            Destination::parse("queue:q"),
            Ok(Destination::Queue("q".into()))
        );
        assert!(Destination::parse("ftp://x").is_err());
    }

    #[test]
    fn priorities_parse_and_order_by_offset() {
        for p in [Priority::High, Priority::Normal, Priority::Low] {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert!(Priority::High.offset_ms() < Priority::Normal.offset_ms());
        assert!(Priority::Normal.offset_ms() < Priority::Low.offset_ms());
        assert_eq!(Priority::parse("urgent"), None);
    }
}
