//! [`strato_store::AppStore`] on SQLite: each call hands over to the module
//! that does the work.

use crate::*;

#[async_trait::async_trait]
impl strato_store::AppStore for SqliteStore {
    async fn put_component(&self, digest: &str, size: u64) -> Result<(), StoreError> {
        let digest = digest.to_owned();
        self.blocking(move |db| db.put_component(&digest, size))
            .await
    }

    async fn has_component(&self, digest: &str) -> Result<bool, StoreError> {
        let digest = digest.to_owned();
        self.blocking(move |db| db.has_component(&digest)).await
    }

    async fn deploy_revision(&self, spec: &RevisionSpec, now_ms: i64) -> Result<i64, StoreError> {
        let spec = spec.to_owned();
        self.blocking(move |db| db.deploy_revision(&spec, now_ms))
            .await
    }

    async fn live_revisions(&self) -> Result<Vec<LiveRevision>, StoreError> {
        self.blocking(move |db| db.live_revisions()).await
    }

    async fn live_revision(&self, app: &str) -> Result<Option<LiveRevision>, StoreError> {
        let app = app.to_owned();
        self.blocking(move |db| db.live_revision(&app)).await
    }

    async fn get_revision(
        &self,
        app: &str,
        number: i64,
    ) -> Result<Option<RevisionSpec>, StoreError> {
        let app = app.to_owned();
        self.blocking(move |db| db.get_revision(&app, number)).await
    }

    async fn list_apps(&self) -> Result<Vec<AppSummary>, StoreError> {
        self.blocking(move |db| db.list_apps()).await
    }

    async fn destroy_app(&self, app: &str) -> Result<bool, StoreError> {
        let app = app.to_owned();
        self.blocking(move |db| db.destroy_app(&app)).await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| db.get_setting(&key)).await
    }

    async fn put_setting(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        let key = key.to_owned();
        let value = value.to_owned();
        self.blocking(move |db| db.put_setting(&key, &value)).await
    }

    async fn init_setting(&self, key: &str, value: &Value) -> Result<Value, StoreError> {
        let (key, value) = (key.to_owned(), value.clone());
        self.blocking(move |db| db.init_setting(&key, &value)).await
    }

    async fn heartbeat_node(&self, node: &NodeInfo) -> Result<NodeState, StoreError> {
        let node = node.clone();
        self.blocking(move |db| db.heartbeat_node(&node)).await
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        self.blocking(move |db| db.list_nodes()).await
    }

    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> Result<bool, StoreError> {
        let id = id.clone();
        self.blocking(move |db| db.set_node_state(&id, state)).await
    }

    async fn live_revision_numbers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.blocking(move |db| db.live_revision_numbers()).await
    }

    async fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError> {
        let image = image.clone();
        self.blocking(move |db| db.put_image(&image)).await
    }

    async fn get_image(&self, name: &str) -> Result<Option<ImageRecord>, StoreError> {
        let name = name.to_string();
        self.blocking(move |db| db.get_image(&name)).await
    }

    async fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.blocking(move |db| db.list_images()).await
    }

    async fn delete_image(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.blocking(move |db| db.delete_image(&name)).await
    }

    async fn clean_up(
        &self,
        before_ms: i64,
        now_ms: i64,
    ) -> Result<strato_store::Cleanup, StoreError> {
        self.background(move |db| db.clean_up(before_ms, now_ms))
            .await
    }
}
