//! The store's storage-neutral error: what kind of failure, what was being
//! done, and the backend's own error as an opaque source.

use std::borrow::Cow;

/// What went wrong, in terms every backend shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The database failed (IO, a constraint the caller could not know
    /// about, a lost connection).
    Backend,
    /// Stored data could not be read back.
    Corrupt,
    /// The thing changed meanwhile (another writer won).
    Conflict,
    /// The store is shutting down.
    Closed,
}

/// A storage failure. The message says what was being done; the source, if
/// any, is the backend's own error (never named in this crate's API).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct StoreError {
    kind: StoreErrorKind,
    doing: Cow<'static, str>,
    detail: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// The database failed while `doing`.
    pub fn backend(
        doing: impl Into<Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Backend,
            doing: doing.into(),
            detail: None,
            source: Some(Box::new(source)),
        }
    }

    /// Stored `what` could not be read back.
    pub fn corrupt(what: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Corrupt,
            doing: what.into(),
            detail: Some(detail.into()),
            source: None,
        }
    }

    /// `what` changed meanwhile.
    pub fn conflict(what: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Conflict,
            doing: what.into(),
            detail: Some(detail.into()),
            source: None,
        }
    }

    /// The store is shut down.
    pub fn closed() -> StoreError {
        StoreError {
            kind: StoreErrorKind::Closed,
            doing: Cow::Borrowed(""),
            detail: None,
            source: None,
        }
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    fn describe(&self) -> String {
        let detail = self.detail.as_deref().unwrap_or_default();
        match self.kind {
            StoreErrorKind::Backend => match &self.source {
                Some(source) => format!("database error while {}: {source}", self.doing),
                None => format!("database error while {}", self.doing),
            },
            StoreErrorKind::Corrupt => format!("stored {} is corrupt: {detail}", self.doing),
            StoreErrorKind::Conflict => format!("{} changed meanwhile: {detail}", self.doing),
            StoreErrorKind::Closed => "the store is shut down".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_was_being_done() {
        let io = std::io::Error::other("disk full");
        let e = StoreError::backend("recording runs", io);
        assert_eq!(e.kind(), StoreErrorKind::Backend);
        assert_eq!(
            e.to_string(),
            "database error while recording runs: disk full"
        );
        assert!(std::error::Error::source(&e).is_some());
        let e = StoreError::corrupt("revision", "app a: bad json");
        assert_eq!(e.to_string(), "stored revision is corrupt: app a: bad json");
        let e = StoreError::conflict("upload", "u1 was completed");
        assert_eq!(e.kind(), StoreErrorKind::Conflict);
        assert_eq!(StoreError::closed().to_string(), "the store is shut down");
    }
}
