//! Types of the async invocation queue.

use strato_core::invocation::Priority;
use strato_core::target::Target;

/// Work to queue: one async invocation of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInvocation {
    pub id: String,
    pub app: String,
    pub target: Target,
    pub priority: Priority,
    /// The request's method, path and headers (the engine's encoding).
    pub head: String,
    pub body: Vec<u8>,
    pub due_ms: i64,
    /// After this, no new attempt starts (`max_age`).
    pub expires_ms: i64,
    /// First try plus retries.
    pub max_attempts: u32,
}

/// A queued invocation as claimed: attempts counts this one.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub id: String,
    pub app: String,
    pub target: Target,
    pub priority: Priority,
    pub head: String,
    pub body: Vec<u8>,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub attempts: u32,
    pub max_attempts: u32,
}

impl NewInvocation {
    /// The invocation as its enqueuer holds it after queueing it due now:
    /// leased to itself with the first attempt counted (the fast path).
    pub fn claimed_by_enqueuer(self, created_ms: i64) -> Invocation {
        Invocation {
            id: self.id,
            app: self.app,
            target: self.target,
            priority: self.priority,
            head: self.head,
            body: self.body,
            created_ms,
            expires_ms: self.expires_ms,
            attempts: 1,
            max_attempts: self.max_attempts,
        }
    }
}
