//! Apps and what they are made of: components, revisions, settings, images, nodes, and the clean-up of old history.

use crate::*;

/// Apps and what they are made of: components, revisions, settings, images, nodes, and the clean-up of old history. Part of [`crate::Store`].
#[async_trait::async_trait]
pub trait AppStore: Send + Sync + 'static {
    /// Records that a component's bytes are stored under `digest`.
    async fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError>;
    async fn has_component(&self, digest: &str) -> Result<bool, StoreError>;
    /// Stores `spec` as the next immutable revision of its app and makes it
    /// live, creating the app if needed. Returns the revision number.
    async fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError>;
    /// The live revision of every app.
    async fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError>;
    async fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError>;
    /// Revision `number` of `app`, live or not (what an execution started
    /// on it keeps running); None once the app is destroyed.
    async fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError>;
    async fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError>;
    /// Removes an app and its revisions (runs and logs stay as history).
    /// Returns false if there was no such app.
    async fn destroy_app(&self, app: &str) -> Result<bool, StoreError>;
    /// Small key/value settings (e.g. ids of generated credentials).
    async fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError>;
    async fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError>;
    /// Stores `value` under `key` unless the key has a value already, and
    /// returns the value kept: the first writer wins, however many race
    /// (nodes of a cluster agreeing on a shared secret at start).
    async fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError>;
    /// Writes a node's row (its heartbeat). The stored state is kept
    /// unless the row is new, or is another process's (`started_ms`
    /// differs: the node restarted), or `node.state` is `Left` (a node
    /// leaving says so itself): then it becomes `node.state`. Returns the
    /// stored state, so a node learns it was asked to drain.
    async fn heartbeat_node(&self, node: &NodeInfo) -> Result<NodeState, StoreError>;
    /// Every node that has a row, by id.
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError>;
    /// Sets a node's state; false if there is no such node.
    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError>;
    /// The live revision number of every app (cheap: what a node compares
    /// with what it runs to notice other nodes' deploys).
    async fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Points `image.name` at `image.id` (replacing what it pointed at):
    /// called once the image's blobs are stored where every node reads.
    async fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError>;
    /// The catalog entry of a (normalized) name.
    async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError>;
    /// Every catalog entry, by name.
    async fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError>;
    /// Removes a name; false if there was none.
    async fn delete_image(&self, name: &str) -> Result<bool, StoreError>;
    /// Removes history older than `before_ms` (finished runs, log lines,
    /// delivered bucket events) and queue messages past their retention
    /// as of `now_ms`. Deletes in small batches, oldest first through the
    /// primary keys (or a partial index), so it neither holds locks long
    /// nor scans whole tables; deleting at the old end of an index leaves
    /// whole pages for reuse rather than half-empty ones.
    async fn clean_up(&self, before_ms: i64, now_ms: i64) -> Result<Cleanup, StoreError>;
}
