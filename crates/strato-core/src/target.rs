//! Where a piece of durable work goes: the typed target of every queued
//! invocation (async invocations, bucket-event deliveries, schedule
//! firings, destinations). New kinds of work (workflow steps, service
//! replicas) add a variant here, and a dispatcher arm in the engine.

use crate::invocation::Destination;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A function of the work's app, sent the stored request.
    Function { name: String },
    /// A task of the work's app: a run is queued with the stored body in
    /// an environment variable.
    Task { name: String },
    /// A queue of the work's app: the body is sent as a message.
    Queue { name: String },
    /// An HTTP POST of the body to this URL.
    Webhook { url: String },
    /// A workflow of the work's app: an execution starts with the body
    /// as its input.
    Workflow { name: String },
}

impl Target {
    pub fn function(name: impl Into<String>) -> Target {
        Target::Function { name: name.into() }
    }

    pub fn task(name: impl Into<String>) -> Target {
        Target::Task { name: name.into() }
    }

    /// The stored form (JSON, `{"kind":"function","name":"f"}`).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("targets serialize")
    }

    /// Reads the stored form.
    pub fn decode(text: &str) -> Result<Target, String> {
        serde_json::from_str(text).map_err(|e| format!("stored target {text:?}: {e}"))
    }
}

impl From<&Destination> for Target {
    fn from(d: &Destination) -> Target {
        match d {
            Destination::Function(name) => Target::Function { name: name.clone() },
            Destination::Task(name) => Target::Task { name: name.clone() },
            Destination::Queue(name) => Target::Queue { name: name.clone() },
            Destination::Webhook(url) => Target::Webhook { url: url.clone() },
            Destination::Workflow(name) => Target::Workflow { name: name.clone() },
        }
    }
}

impl fmt::Display for Target {
    /// `function:NAME`, `task:NAME`, `queue:NAME` or the webhook's URL, as
    /// manifests write destinations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Function { name } => write!(f, "function:{name}"),
            Target::Task { name } => write!(f, "task:{name}"),
            Target::Queue { name } => write!(f, "queue:{name}"),
            Target::Webhook { url } => f.write_str(url),
            Target::Workflow { name } => write!(f, "workflow:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_their_stored_form_and_read_like_destinations() {
        let all = [
            Target::function("f"),
            Target::task("t"),
            Target::Queue { name: "q".into() },
            Target::Webhook {
                url: "http://127.0.0.1:9/hook".into(),
            },
            Target::Workflow { name: "w".into() },
        ];
        for target in all {
            assert_eq!(Target::decode(&target.encode()), Ok(target.clone()));
            let written = target.to_string();
            assert_eq!(Target::from(&Destination::parse(&written).unwrap()), target);
        }
        assert_eq!(
            Target::function("f").encode(),
            r#"{"kind":"function","name":"f"}"#
        );
        assert!(Target::decode("@task:x").is_err());
    }
}
