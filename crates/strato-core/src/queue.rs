//! Queues (`[queues.NAME]`): durable messages with a visibility timeout,
//! a receive limit and a dead-letter queue, as SQS.

use serde::{Deserialize, Serialize};

/// Default time a received message stays hidden (SQS's 30 s).
pub const DEFAULT_VISIBILITY_TIMEOUT_MS: u64 = 30_000;
/// Default time a message is kept (SQS's four days).
pub const DEFAULT_RETENTION_MS: u64 = 4 * 86_400_000;
/// Longest a message may be kept (SQS's fourteen days).
pub const MAX_RETENTION_MS: u64 = 14 * 86_400_000;
/// Longest a message may be delayed or hidden (SQS's 15 min and 12 h).
pub const MAX_DELAY_MS: u64 = 15 * 60_000;
pub const MAX_VISIBILITY_TIMEOUT_MS: u64 = 12 * 3_600_000;
/// Default largest message body (SQS's 256 KiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 256 << 10;
/// Largest body any queue may accept.
pub const MAX_MESSAGE_BYTES: u64 = 1 << 20;
/// Receives after which a message goes to the dead-letter queue, when a
/// `dead_letter` queue is named without `max_receives`.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;
/// Most messages one send, receive or delete may carry (SQS's 10).
pub const MAX_BATCH: usize = 10;

/// A `[queues.NAME]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSpec {
    pub visibility_timeout_ms: u64,
    /// Receives after which a message moves to `dead_letter`.
    pub max_receives: Option<u32>,
    /// Another queue of the app that takes messages received too often.
    pub dead_letter: Option<String>,
    pub retention_ms: u64,
    /// Every message sent becomes visible this long after it was sent.
    pub delay_ms: u64,
    pub max_message_bytes: u64,
    /// What the platform delivers this queue's messages to.
    pub consumer: Option<QueueConsumer>,
}

/// `consumer = { function = "F", batch_size = 10 }` (or `task = "T"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConsumer {
    pub target: ConsumerTarget,
    /// Most messages per delivery (1 to 10).
    pub batch_size: u32,
    /// Most deliveries in flight at once.
    pub concurrency: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum ConsumerTarget {
    /// A function gets each batch as an SQS event (HTTP POST /) and may
    /// answer with Lambda's `batchItemFailures`.
    Function(String),
    /// A task gets each batch as an SQS event in `SQS_EVENT`; exit 0
    /// deletes the batch.
    Task(String),
    /// Each batch starts an execution of a workflow with the SQS event as
    /// its input; started is delivered.
    Workflow(String),
}

impl ConsumerTarget {
    pub fn name(&self) -> &str {
        match self {
            ConsumerTarget::Function(n) | ConsumerTarget::Task(n) | ConsumerTarget::Workflow(n) => {
                n
            }
        }
    }
}
