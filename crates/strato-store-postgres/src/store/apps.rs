//! [`strato_store::AppStore`] on PostgreSQL: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::AppStore for PostgresStore {
    async fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        apps::put_component(self, digest, size).await
    }

    async fn has_component(&self, digest: &str) -> Result<bool, StoreError> {
        apps::has_component(self, digest).await
    }

    async fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError> {
        apps::deploy_revision(self, spec, now_ms).await
    }

    async fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError> {
        apps::live_revisions(self).await
    }

    async fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError> {
        apps::live_revision(self, app).await
    }

    async fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError> {
        apps::get_revision(self, app, number).await
    }

    async fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError> {
        apps::list_apps(self).await
    }

    async fn destroy_app(&self, app: &str) -> Result<bool, StoreError> {
        apps::destroy_app(self, app).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        apps::get_setting(self, key).await
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        apps::put_setting(self, key, value).await
    }

    async fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError> {
        apps::init_setting(self, key, value).await
    }

    async fn heartbeat_node(&self, node: &NodeInfo) -> Result<NodeState, StoreError> {
        nodes::heartbeat(&self.client().await?, node).await
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        nodes::list(&self.client().await?).await
    }

    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let changed = execute(
            &c,
            "changing a node's state",
            "UPDATE nodes SET state = $2 WHERE id = $1",
            &[&id.as_str(), &state.as_str()],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn clean_up(
        &self,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<strato_store::Cleanup, StoreError> {
        cleanup::clean_up(&self.client().await?, before_ms, now_ms).await
    }

    async fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        apps::live_revision_numbers(self).await
    }

    async fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError> {
        images::put(&self.client().await?, image).await
    }

    async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        images::get(&self.client().await?, name).await
    }

    async fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        images::list(&self.client().await?).await
    }

    async fn delete_image(&self, name: &str) -> Result<bool, StoreError> {
        images::delete(&self.client().await?, name).await
    }
}
