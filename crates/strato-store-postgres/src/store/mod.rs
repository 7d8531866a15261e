//! The store's traits for [`crate::PostgresStore`], one file per domain.

mod apps;
mod objects;
mod runs;
mod work;
mod workflows;
