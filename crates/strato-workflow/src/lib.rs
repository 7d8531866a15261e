//! The Amazon States Language, interpreted: Strato's workflows.
//!
//! This crate is the pure part: parsing and validating a state machine
//! definition ([`definition`]), stepping through it ([`machine`]),
//! JSONPath ([`path`]), the intrinsic functions ([`intrinsics`]), input
//! and output processing ([`payload`]), choice rules ([`choice`]) and the
//! errors a workflow catches or ends with ([`error`]). It does no IO: the
//! engine records every step in the store and does the work a step asks
//! for (tasks, waits, branches, map items).
//!
//! ```
//! use serde_json::json;
//! use strato_workflow::{definition, machine::Step};
//! let text = r#"{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": "hi", "End": true}}}"#;
//! let machine = definition::parse(&serde_json::from_str(text).unwrap(), Some(text)).unwrap();
//! let step = machine.enter("Hello", &json!({}), &json!({}), 0);
//! assert_eq!(step, Step::Succeed(json!("hi")));
//! ```

pub mod choice;
pub mod definition;
pub mod error;
pub mod intrinsics;
pub mod machine;
pub mod path;
pub mod payload;

pub use definition::{DefinitionError, StateMachine};
pub use error::StatesError;
pub use machine::{Completion, Step};
