//! Images shared by the nodes of a cluster.
//!
//! On one machine the [`ImageStore`] is the whole story: names in its
//! index, blobs and unpacked rootfs trees on local disk. Nodes of a
//! cluster share an [`ImageCatalog`] instead: names point at images in a
//! catalog every node reads, and blobs live where every node can fetch
//! them. An import, pull or build on any node stores the image's blobs
//! there first and names it second, so a name never points at bytes that
//! are not there; a node that runs an image it lacks fetches the blobs
//! (verifying each digest), unpacks them once, and keeps both, keyed by
//! digest, for later runs. The catalog is an interface here: this crate
//! knows no storage schema (the engine implements it over the store and
//! the shared blobs).

use crate::digest::Digest;
use crate::images::{ImageError, ImageInfo, ImageStore, ImageSummary, normalize_name, summary};
use std::iter;
use std::path::Path;
use std::sync::Arc;

/// Names and blobs of images, shared by every node. Methods block (the
/// store's callers are on blocking threads already).
pub trait ImageCatalog: Send + Sync {
    /// The image a normalized name points at, if any.
    fn lookup(&self, name: &str) -> Result<Option<ImageInfo>, ImageError>;
    /// Every name and its image, by name.
    fn list(&self) -> Result<Vec<(String, ImageInfo)>, ImageError>;
    /// Whether the shared blobs hold `digest`.
    fn has_blob(&self, digest: &Digest) -> Result<bool, ImageError>;
    /// Stores the (verified) local file `path` as blob `digest`.
    fn upload_blob(&self, digest: &Digest, path: &Path) -> Result<(), ImageError>;
    /// Writes blob `digest` to the local file `dest` (the caller verifies).
    fn download_blob(&self, digest: &Digest, dest: &Path) -> Result<(), ImageError>;
    /// Points a normalized name at an image whose blobs are stored.
    fn name(&self, name: &str, info: &ImageInfo) -> Result<(), ImageError>;
    /// Removes a name; false if there was none.
    fn remove(&self, name: &str) -> Result<bool, ImageError>;
}

impl ImageStore {
    /// Makes this store one node's cache of a cluster's images. Set once,
    /// at start; later calls are ignored.
    pub fn share_through(&self, catalog: Arc<dyn ImageCatalog>) {
        let _ = self.catalog.set(catalog);
    }

    /// Stores an image's blobs in the catalog (those it lacks), then names
    /// it there; nothing without a catalog.
    pub(crate) fn publish(&self, info: &ImageInfo, names: &[String]) -> Result<(), ImageError> {
        let Some(catalog) = self.catalog.get() else {
            return Ok(());
        };
        for digest in iter::once(&info.id).chain(&info.layers) {
            if !catalog.has_blob(digest)? {
                catalog.upload_blob(digest, &self.blob_path(digest))?;
            }
        }
        for name in names {
            catalog.name(name, info)?;
        }
        Ok(())
    }

    /// Publishes every locally named image to the catalog (moving a
    /// single machine's images into a cluster); returns how many names.
    pub fn publish_local_images(&self) -> Result<usize, ImageError> {
        let named: Vec<(String, ImageInfo)> = {
            let index = self.index.lock().unwrap();
            index
                .names
                .iter()
                .filter_map(|(name, id)| Some((name.clone(), index.images.get(id)?.clone())))
                .collect()
        };
        for (name, info) in &named {
            self.publish(info, std::slice::from_ref(name))?;
        }
        Ok(named.len())
    }

    /// The image a name (or an id, or an id prefix of 12+ digits) refers
    /// to. With a catalog, names are the catalog's, and an image this node
    /// lacks is fetched and unpacked first.
    pub fn resolve(&self, name: &str) -> Result<ImageInfo, ImageError> {
        let name = self.without_own_registry(name);
        let Some(catalog) = self.catalog.get() else {
            return self.resolve_local(name, true);
        };
        if let Ok(normal) = normalize_name(name)
            && let Some(info) = catalog.lookup(&normal)?
        {
            return self.fetch(catalog.as_ref(), &normal, info);
        }
        self.resolve_local(name, false)
    }

    /// Makes `info` local under `name`: blobs this node lacks fetched and
    /// verified, the rootfs unpacked.
    fn fetch(
        &self,
        catalog: &dyn ImageCatalog,
        name: &str,
        info: ImageInfo,
    ) -> Result<ImageInfo, ImageError> {
        let cached = || {
            let index = self.index.lock().unwrap();
            index.names.get(name) == Some(&info.id) && index.images.contains_key(&info.id)
        };
        if cached() {
            return Ok(info);
        }
        let _one_at_a_time = self.fetching.lock().unwrap();
        if cached() {
            return Ok(info);
        }
        let staging = self.staging_dir("fetch")?;
        for digest in iter::once(&info.id).chain(&info.layers) {
            if self.has_blob(digest) {
                continue;
            }
            let path = staging.path().join(digest.hex());
            catalog.download_blob(digest, &path)?;
            self.put_verified_blob(digest, &path)?;
        }
        self.commit_local(info.clone(), &[name.to_string()])?;
        tracing::info!(image = name, id = %info.id, "fetched an image from the cluster");
        Ok(info)
    }

    /// Every name and the image it points at (the catalog's, with one).
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        match self.catalog.get() {
            Some(catalog) => Ok(catalog
                .list()?
                .iter()
                .map(|(name, info)| summary(name, info))
                .collect()),
            None => Ok(self.list_local()),
        }
    }

    /// Removes a name (from the catalog too, with one); the image's blobs
    /// and rootfs go from this node when no name is left pointing at it.
    pub fn remove(&self, name: &str) -> Result<(), ImageError> {
        let Some(catalog) = self.catalog.get() else {
            return self.remove_local(name);
        };
        let named = catalog.remove(&normalize_name(name)?)?;
        match self.remove_local(name) {
            Err(ImageError::NotFound(_)) if named => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::ImageConfig;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A stand-in for the engine's catalog (names in the store, blobs in
    /// S3), which the cluster e2e tests use for real: names in a map,
    /// blobs in a directory. Here it lets a test corrupt a shared blob.
    struct DirCatalog {
        names: Mutex<BTreeMap<String, ImageInfo>>,
        blobs: tempfile::TempDir,
    }

    impl ImageCatalog for DirCatalog {
        fn lookup(&self, name: &str) -> Result<Option<ImageInfo>, ImageError> {
            Ok(self.names.lock().unwrap().get(name).cloned())
        }
        fn list(&self) -> Result<Vec<(String, ImageInfo)>, ImageError> {
            Ok(self.names.lock().unwrap().clone().into_iter().collect())
        }
        fn has_blob(&self, digest: &Digest) -> Result<bool, ImageError> {
            Ok(self.blobs.path().join(digest.hex()).exists())
        }
        fn upload_blob(&self, digest: &Digest, path: &Path) -> Result<(), ImageError> {
            std::fs::copy(path, self.blobs.path().join(digest.hex())).unwrap();
            Ok(())
        }
        fn download_blob(&self, digest: &Digest, dest: &Path) -> Result<(), ImageError> {
            std::fs::copy(self.blobs.path().join(digest.hex()), dest).unwrap();
            Ok(())
        }
        fn name(&self, name: &str, info: &ImageInfo) -> Result<(), ImageError> {
            self.names
                .lock()
                .unwrap()
                .insert(name.to_string(), info.clone());
            Ok(())
        }
        fn remove(&self, name: &str) -> Result<bool, ImageError> {
            Ok(self.names.lock().unwrap().remove(name).is_some())
        }
    }

    fn rootfs_tar(body: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, "hello.txt", body).unwrap();
        b.into_inner().unwrap()
    }

    fn node(catalog: &Arc<DirCatalog>) -> (tempfile::TempDir, ImageStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        store.share_through(catalog.clone());
        (dir, store)
    }

    #[test]
    fn an_image_imported_on_one_node_is_fetched_verified_and_removed_on_another() {
        let catalog = Arc::new(DirCatalog {
            names: Default::default(),
            blobs: tempfile::tempdir().unwrap(),
        });
        let (_a_dir, a) = node(&catalog);
        let (_b_dir, b) = node(&catalog);
        a.import_rootfs(&rootfs_tar(b"one")[..], "app/x:1", ImageConfig::default())
            .unwrap();
        // Names are the catalog's on every node.
        let listed: Vec<String> = b.list().unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(listed, ["app/x:1"]);
        let info = b.resolve("app/x:1").unwrap();
        let rootfs = b.rootfs(&info).unwrap();
        assert_eq!(std::fs::read(rootfs.join("hello.txt")).unwrap(), b"one");
        assert!(matches!(b.resolve("app/y"), Err(ImageError::NotFound(_))));

        // A name imported again elsewhere moves on every node.
        a.import_rootfs(&rootfs_tar(b"two")[..], "app/x:1", ImageConfig::default())
            .unwrap();
        let moved = b.resolve("app/x:1").unwrap();
        assert_ne!(moved.id, info.id);
        assert_eq!(
            std::fs::read(b.rootfs(&moved).unwrap().join("hello.txt")).unwrap(),
            b"two"
        );

        // A shared blob whose bytes are not its digest is refused.
        a.import_rootfs(&rootfs_tar(b"three")[..], "app/z", ImageConfig::default())
            .unwrap();
        let z = catalog.lookup("app/z:latest").unwrap().unwrap();
        std::fs::write(catalog.blobs.path().join(z.layers[0].hex()), b"tampered").unwrap();
        assert!(matches!(
            b.resolve("app/z"),
            Err(ImageError::DigestMismatch { .. })
        ));

        // Removed on one node, gone from all.
        b.remove("app/x:1").unwrap();
        assert!(matches!(a.resolve("app/x:1"), Err(ImageError::NotFound(_))));
        assert!(matches!(b.remove("app/x:1"), Err(ImageError::NotFound(_))));
    }
}
