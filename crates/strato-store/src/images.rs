//! The cluster's image catalog: which image each name points at. A node
//! keeps unpacked images in its own image store (a cache keyed by
//! digest); with blobs shared by several nodes, names live here so an
//! image imported, pulled or built on one node runs on any, its bytes
//! fetched from the shared blobs on first use.

use serde::{Deserialize, Serialize};

/// One name of the catalog and the image it points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The normalized name (`repo:tag`).
    pub name: String,
    /// The image id: its config's digest (`sha256:...`).
    pub id: String,
    /// What a node needs to fetch and run it (layers, config, size), as
    /// the image store describes it; kept as is.
    pub info: serde_json::Value,
    pub updated_ms: i64,
}
