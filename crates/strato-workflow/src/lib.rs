//! The Amazon States Language, interpreted: Strato's workflows.
//!
//! This crate is the pure part: parsing and validating a state machine
//! definition ([`definition`]), JSONPath ([`path`]), the intrinsic
//! functions ([`intrinsics`]), input and output processing ([`payload`]),
//! choice rules ([`choice`]) and the errors a workflow catches or ends
//! with ([`error`]). It does no IO: the engine records every transition
//! in the store and runs the tasks.

pub mod choice;
pub mod error;
pub mod intrinsics;
pub mod path;
pub mod payload;

pub use error::StatesError;
