//! Checks of the image catalog.

use crate::{ImageRecord, Store};
use std::sync::Arc;

fn image(name: &str, id: &str, at: i64) -> ImageRecord {
    ImageRecord {
        name: name.into(),
        id: id.into(),
        info: serde_json::json!({"id": id, "layers": [format!("{id}-layer")], "size": 7}),
        updated_ms: at,
    }
}

pub async fn images_are_named_replaced_listed_and_removed(store: Arc<dyn Store>) {
    assert!(store.list_images().await.unwrap().is_empty());
    assert_eq!(store.get_image("bb:1").await.unwrap(), None);
    let first = image("bb:1", "sha256:aa", 10);
    store.put_image(&first).await.unwrap();
    store
        .put_image(&image("app/x:2", "sha256:bb", 11))
        .await
        .unwrap();
    assert_eq!(store.get_image("bb:1").await.unwrap(), Some(first));
    // Importing a name again points it at the new image.
    let second = image("bb:1", "sha256:cc", 12);
    store.put_image(&second).await.unwrap();
    assert_eq!(store.get_image("bb:1").await.unwrap(), Some(second.clone()));
    let names: Vec<String> = store
        .list_images()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["app/x:2", "bb:1"]);
    assert!(store.delete_image("bb:1").await.unwrap());
    assert!(!store.delete_image("bb:1").await.unwrap());
    assert_eq!(store.get_image("bb:1").await.unwrap(), None);
    assert_eq!(store.list_images().await.unwrap().len(), 1);
}
