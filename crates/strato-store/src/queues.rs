//! Types of queues (messages, receipts, stats) and schedule slots.

/// A message to send; times are absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: String,
    pub body: Vec<u8>,
    /// Hidden until then (the queue's or the sender's delay).
    pub visible_ms: i64,
    /// Dropped after then (the queue's retention).
    pub expires_ms: i64,
    /// The sender's span (W3C `traceparent`), if known: what consumes
    /// the message links to it (SQS's `AWSTraceHeader`).
    pub traceparent: Option<String>,
}

/// A received message: hidden until its visibility timeout passes,
/// deleted with its receipt.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    pub id: String,
    /// Proves this receive; changes with every receive.
    pub receipt: String,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub sent_ms: i64,
    pub first_receive_ms: i64,
    /// Receives so far, this one included.
    pub receive_count: u32,
    /// The sender's span, if known.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

/// What a receive needs to know about its queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivePolicy {
    pub visibility_ms: i64,
    /// A message received this often moves to `dead_letter` instead of
    /// being received again.
    pub max_receives: Option<u32>,
    pub dead_letter: Option<String>,
}

/// Depth of a queue.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueStats {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted or returned.
    pub in_flight: u64,
    /// Sent with a delay not yet over.
    pub delayed: u64,
    /// Age of the oldest message, if any.
    pub oldest_age_ms: Option<i64>,
}

/// What a schedule's slot records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOutcome {
    Fired,
    Skipped,
    /// Waiting for the running firing to end (`overlap = "queue_one"`).
    Waiting,
}

impl SlotOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotOutcome::Fired => "fired",
            SlotOutcome::Skipped => "skipped",
            SlotOutcome::Waiting => "waiting",
        }
    }

    pub fn parse(text: &str) -> Option<SlotOutcome> {
        match text {
            "fired" => Some(SlotOutcome::Fired),
            "skipped" => Some(SlotOutcome::Skipped),
            "waiting" => Some(SlotOutcome::Waiting),
            _ => None,
        }
    }
}

/// The latest slot of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotRecord {
    pub slot_ms: i64,
    pub outcome: SlotOutcome,
    /// The invocation the latest fired slot queued (this one's, if it
    /// fired): what a new slot checks for overlap.
    pub invocation: Option<String>,
    /// When the slot was recorded (fired or skipped): its lag is this
    /// after `slot_ms`.
    pub recorded_ms: i64,
}
