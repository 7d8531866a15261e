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

/// Default longest time an async invocation may wait for a successful
/// attempt (Lambda's six hours).
pub const DEFAULT_MAX_AGE_MS: u64 = 6 * 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

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
