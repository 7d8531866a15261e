//! Garbage collection of the registry's manifests and the store's blobs.

use super::*;

impl ImageStore {
    /// Removes manifests no tag reaches (directly, through an index, or as
    /// a referrer of one that is kept), then every blob nothing uses that
    /// is older than `grace` (a push in flight has uploaded but not yet
    /// referred to its blobs) and not pending in a repository.
    pub fn collect_garbage(&self, grace: Duration) -> Result<GarbageReport, ImageError> {
        let mut report = GarbageReport::default();
        let mut index = self.index.lock().unwrap();
        let tags = index.registry.tags.clone();
        for (repo, manifests) in index.registry.manifests.iter_mut() {
            let mut kept: BTreeSet<Digest> = tags
                .get(repo)
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default();
            loop {
                let before = kept.len();
                for (d, e) in manifests.iter() {
                    if kept.contains(d) {
                        let children: Vec<Digest> = e.manifests.clone();
                        kept.extend(children);
                    } else if e.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                        kept.insert(d.clone());
                    }
                }
                if kept.len() == before {
                    break;
                }
            }
            let before = manifests.len();
            manifests.retain(|d, _| kept.contains(d));
            report.manifests += before - manifests.len();
        }
        index.registry.manifests.retain(|_, m| !m.is_empty());
        let (images, _) = crate::images::collect_unused(&mut index);
        for id in &images {
            let _ = crate::unpack::remove_any(&self.root().join("rootfs").join(id.hex()));
        }
        let mut used: HashSet<Digest> = index
            .images
            .values()
            .flat_map(|i| std::iter::once(&i.id).chain(&i.layers))
            .chain(index.registry.referenced())
            .cloned()
            .collect();
        used.extend(self.pending.lock().unwrap().0.values().flatten().cloned());
        let known_diffs: Vec<Digest> = index.registry.diff_ids.keys().cloned().collect();
        for d in known_diffs {
            if !used.contains(&d) {
                index.registry.diff_ids.remove(&d);
            }
        }
        self.save_index(&index)?;
        drop(index);
        let dir = self.root().join("blobs/sha256");
        let now = std::time::SystemTime::now();
        for entry in std::fs::read_dir(&dir)
            .map_err(ImageError::read_path(&dir))?
            .flatten()
        {
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")))
            else {
                continue;
            };
            if used.contains(&digest) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let young = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age < grace);
            if young {
                continue;
            }
            if std::fs::remove_file(entry.path()).is_ok() {
                report.blobs += 1;
                report.bytes += meta.len();
            }
        }
        Ok(report)
    }
}
