//! The store's traits for [`crate::SqliteStore`], one file per domain.

mod apps;
mod objects;
mod runs;
mod work;
mod workflows;
