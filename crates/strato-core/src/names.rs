//! Validated resource names. Names are DNS-label-like so they can appear in
//! URLs, file names and log prefixes without escaping.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name `{name}`: {reason}")]
pub struct NameError {
    pub kind: &'static str,
    pub name: String,
    pub reason: &'static str,
}

fn validate(kind: &'static str, name: &str) -> Result<(), NameError> {
    let fail = |reason| {
        Err(NameError {
            kind,
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 63 {
        return fail("use 1 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return fail("use lowercase letters, digits, `-` and `_` only");
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return fail("start with a lowercase letter");
    }
    if name.ends_with('-') || name.ends_with('_') {
        return fail("end with a letter or digit");
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate($kind, &name)?;
                Ok(Self(name))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }
        // Maps keyed by names are looked up by `&str` (Eq, Ord and Hash
        // are the inner string's).
        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// The name of an app (`[app] name`).
    AppName,
    "app"
);
name_type!(
    /// The name of a function within an app (`[functions.NAME]`).
    FunctionName,
    "function"
);
name_type!(
    /// The name of a container task within an app (`[tasks.NAME]`).
    TaskName,
    "task"
);
name_type!(
    /// The name of a queue within an app (`[queues.NAME]`).
    QueueName,
    "queue"
);
name_type!(
    /// The name of a schedule within an app (`[schedules.NAME]`).
    ScheduleName,
    "schedule"
);
name_type!(
    /// The name of a workflow within an app (`[workflows.NAME]`).
    WorkflowName,
    "workflow"
);
name_type!(
    /// The name of a container service within an app (`[services.NAME]`).
    ServiceName,
    "service"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_names_and_refuses_odd_ones() {
        assert!(AppName::new("thumbnailer").is_ok());
        assert!(FunctionName::new("on-video2").is_ok());
        assert!(AppName::new("").is_err());
        assert!(AppName::new("Upper").is_err());
        assert!(AppName::new("9lives").is_err());
        assert!(AppName::new("trailing-").is_err());
        assert!(AppName::new("a/b").is_err());
        assert!(AppName::new("x".repeat(64)).is_err());
        // Each kind of name says what it names.
        let e = QueueName::new("Orders").unwrap_err();
        assert_eq!(e.kind, "queue");
        assert!(TaskName::new("resize").is_ok());
        assert_eq!(ScheduleName::new("-x").unwrap_err().kind, "schedule");
    }
}
