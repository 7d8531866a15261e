//! The cluster's image catalog over the store (names) and the shared blobs
//! (bytes, as artifacts by digest): what makes an image imported on one
//! node run on any. Set on the image store at start when blobs are shared.

use std::path::Path;
use std::sync::Arc;
use strato_blob::BlobStore;
use strato_oci::{Digest, ImageCatalog, ImageError, ImageInfo};
use strato_store::{ImageRecord, Store};
use tokio::runtime::Handle;

/// [`ImageCatalog`] on a store and shared blobs. Its methods block on the
/// runtime (the image store is used from blocking threads).
pub struct SharedImages {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    runtime: Handle,
}

impl SharedImages {
    /// A catalog on `store` and `blobs`; call from within the runtime.
    pub fn new(store: Arc<dyn Store>, blobs: BlobStore) -> SharedImages {
        SharedImages {
            store,
            blobs,
            runtime: Handle::current(),
        }
    }
}

fn failed(doing: &str) -> impl Fn(&dyn std::fmt::Display) -> ImageError + '_ {
    move |e| ImageError::Catalog(format!("{doing}: {e}"))
}

fn info_of(record: ImageRecord) -> Result<ImageInfo, ImageError> {
    serde_json::from_value(record.info).map_err(|e| {
        ImageError::Catalog(format!("the entry of {} is unreadable: {e}", record.name))
    })
}

impl ImageCatalog for SharedImages {
    fn lookup(&self, name: &str) -> Result<Option<ImageInfo>, ImageError> {
        let record = self
            .runtime
            .block_on(self.store.get_image(name))
            .map_err(|e| failed("reading an image's name")(&e))?;
        record.map(info_of).transpose()
    }

    fn list(&self) -> Result<Vec<(String, ImageInfo)>, ImageError> {
        let records = self
            .runtime
            .block_on(self.store.list_images())
            .map_err(|e| failed("listing images")(&e))?;
        records
            .into_iter()
            .map(|r| Ok((r.name.clone(), info_of(r)?)))
            .collect()
    }

    fn has_blob(&self, digest: &Digest) -> Result<bool, ImageError> {
        self.runtime
            .block_on(self.blobs.has_artifact(digest.hex()))
            .map_err(|e| failed("looking for an image blob")(&e))
    }

    fn upload_blob(&self, digest: &Digest, path: &Path) -> Result<(), ImageError> {
        self.runtime
            .block_on(self.blobs.put_artifact_file(digest.hex(), path))
            .map(drop)
            .map_err(|e| failed("storing an image blob")(&e))
    }

    fn download_blob(&self, digest: &Digest, dest: &Path) -> Result<(), ImageError> {
        self.runtime
            .block_on(self.blobs.read_artifact_to_file(digest.hex(), dest))
            .map(drop)
            .map_err(|e| failed("fetching an image blob")(&e))
    }

    fn name(&self, name: &str, info: &ImageInfo) -> Result<(), ImageError> {
        let record = ImageRecord {
            name: name.to_string(),
            id: info.id.to_string(),
            info: serde_json::to_value(info).expect("image info serializes"),
            updated_ms: crate::util::now_ms(),
        };
        self.runtime
            .block_on(self.store.put_image(&record))
            .map_err(|e| failed("naming an image")(&e))
    }

    fn remove(&self, name: &str) -> Result<bool, ImageError> {
        self.runtime
            .block_on(self.store.delete_image(name))
            .map_err(|e| failed("removing an image's name")(&e))
    }
}
