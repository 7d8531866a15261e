//! The [`Store`] trait, in one trait per domain: a backend implements
//! each in a file of its own, and callers bring them into scope with
//! [`crate::prelude`].

mod apps;
mod objects;
mod runs;
mod work;
mod workflows;

pub use apps::AppStore;
pub use objects::ObjectStore;
pub use runs::RunStore;
pub use work::WorkStore;
pub use workflows::WorkflowStore;

use crate::Wakeups;

/// Domain-level storage. Every backend passes the [`crate::conformance`] suite.
pub trait Store: AppStore + RunStore + ObjectStore + WorkStore + WorkflowStore {
    /// Other nodes' changes, if others share this store (none for an
    /// embedded store: this node makes every change itself).
    fn wakeups(&self) -> Option<std::sync::Arc<Wakeups>> {
        None
    }
}
