//! Pushed manifests: accepting one (its blobs checked, an image's layers
//! against its config, a tag made a store name), reading, deleting, tags
//! and referrers.

use super::*;

impl ImageStore {
    /// Stores a pushed manifest under `reference` in `repo`. Its blobs (or
    /// an index's manifests) must be in the repository; an image manifest's
    /// layers are checked against its config, and a tag of a runnable image
    /// becomes a name of the store.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<(Digest, Option<Digest>), RegistryError> {
        if !valid_repository(repo) {
            return Err(RegistryError::NameInvalid(repo.to_string()));
        }
        let digest = Digest::of_bytes(bytes);
        if let ManifestRef::Digest(claimed) = reference
            && *claimed != digest
        {
            return Err(RegistryError::DigestInvalid);
        }
        let json: Value = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::ManifestInvalid(format!("not JSON: {e}")))?;
        let entry = self.parse_manifest(repo, &json, content_type, bytes.len() as u64)?;
        let image = match (&entry.image, entry.manifests.is_empty()) {
            (Some(_), true) => Some(self.image_of_manifest(&json, &entry)?),
            _ => None,
        };
        self.put_blob_bytes(&digest, bytes)?;
        let tag_name = match reference {
            ManifestRef::Tag(tag) => Some(
                normalize_name(&format!("{repo}:{tag}"))
                    .map_err(|_| RegistryError::NameInvalid(format!("{repo}:{tag}")))?,
            ),
            ManifestRef::Digest(_) => None,
        };
        let runs = entry.image.clone();
        let subject = entry.subject.clone();
        {
            let mut index = self.index.lock().unwrap();
            if let Some(info) = &image {
                index
                    .images
                    .entry(info.id.clone())
                    .or_insert_with(|| info.clone());
            }
            index
                .registry
                .manifests
                .entry(repo.to_string())
                .or_default()
                .insert(digest.clone(), entry.clone());
            if let (ManifestRef::Tag(tag), Some(name)) = (reference, &tag_name) {
                index
                    .registry
                    .tags
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.clone(), digest.clone());
                match &runs {
                    Some(id) if index.images.contains_key(id) => {
                        index.names.insert(name.clone(), id.clone());
                    }
                    _ => {
                        index.names.remove(name);
                    }
                }
            }
            self.save_index(&index)?;
            if let Some(p) = self.pending.lock().unwrap().0.get_mut(repo) {
                for blob in &entry.blobs {
                    p.remove(blob);
                }
            }
        }
        if let (Some(name), Some(id)) = (&tag_name, &runs) {
            let info = self.index.lock().unwrap().images.get(id).cloned();
            if let Some(info) = info {
                self.publish(&info, std::slice::from_ref(name))?;
            }
        }
        Ok((digest, subject))
    }

    /// Checks a manifest's shape and references and describes it.
    fn parse_manifest(
        &self,
        repo: &str,
        json: &Value,
        content_type: Option<&str>,
        size: u64,
    ) -> Result<ManifestEntry, RegistryError> {
        let invalid = |why: &str| RegistryError::ManifestInvalid(why.to_string());
        let media_type = json["mediaType"]
            .as_str()
            .or(content_type)
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
            .ok_or_else(|| invalid("no mediaType in the manifest or its Content-Type"))?;
        if let (Some(inner), Some(header)) = (json["mediaType"].as_str(), content_type)
            && !header.starts_with(inner)
            && header != "application/octet-stream"
        {
            return Err(invalid("its mediaType and Content-Type differ"));
        }
        if json["schemaVersion"] != 2 {
            return Err(RegistryError::Unsupported(
                "only schemaVersion 2 manifests are accepted".into(),
            ));
        }
        fn descriptor(v: &Value) -> Result<(Digest, Option<&str>), RegistryError> {
            let invalid = |why: &str| RegistryError::ManifestInvalid(why.to_string());
            let digest = archive::descriptor_digest(v)
                .map_err(|_| invalid("a descriptor lacks a valid sha256 digest"))?;
            if v["size"].as_u64().is_none() {
                return Err(invalid("a descriptor lacks its size"));
            }
            Ok((digest, v["mediaType"].as_str()))
        }
        let subject = match json.get("subject") {
            Some(s) if !s.is_null() => Some(descriptor(s)?.0),
            _ => None,
        };
        let mut entry = ManifestEntry {
            media_type: media_type.clone(),
            size,
            blobs: Vec::new(),
            manifests: Vec::new(),
            subject,
            artifact_type: json["artifactType"].as_str().map(str::to_string),
            annotations: json.get("annotations").filter(|a| a.is_object()).cloned(),
            image: None,
            created_ms: now_ms(),
        };
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                let (config, config_type) = descriptor(&json["config"])?;
                entry.blobs.push(config.clone());
                let layers = json["layers"]
                    .as_array()
                    .ok_or_else(|| invalid("no layers"))?;
                for layer in layers {
                    let (d, _) = descriptor(layer)?;
                    entry.blobs.push(d);
                }
                if entry.artifact_type.is_none()
                    && !IMAGE_CONFIGS.contains(&config_type.unwrap_or(""))
                {
                    entry.artifact_type = config_type.map(str::to_string);
                }
                for blob in &entry.blobs {
                    if !self.has_blob(blob) || !self.blob_in_repository(repo, blob) {
                        return Err(RegistryError::ManifestBlobUnknown(blob.clone()));
                    }
                }
                if IMAGE_CONFIGS.contains(&config_type.unwrap_or("")) {
                    entry.image = Some(config);
                }
            }
            OCI_INDEX | DOCKER_LIST => {
                let list = json["manifests"]
                    .as_array()
                    .ok_or_else(|| invalid("an index without manifests"))?;
                let index = self.index.lock().unwrap();
                let known = index.registry.manifests.get(repo);
                for m in list {
                    let (d, _) = descriptor(m)?;
                    if !known.is_some_and(|k| k.contains_key(&d)) {
                        return Err(RegistryError::ManifestBlobUnknown(d));
                    }
                    entry.manifests.push(d);
                }
                entry.image = pick_platform(list)
                    .and_then(|m| archive::descriptor_digest(m).ok())
                    .and_then(|d| known?.get(&d)?.image.clone());
            }
            other => {
                return Err(RegistryError::Unsupported(format!(
                    "manifests of type {other} are not accepted"
                )));
            }
        }
        Ok(entry)
    }

    /// The image an image manifest runs, its layers checked against the
    /// config's `diff_ids` (each layer once: the result is kept).
    fn image_of_manifest(
        &self,
        json: &Value,
        entry: &ManifestEntry,
    ) -> Result<ImageInfo, RegistryError> {
        let id = entry.blobs[0].clone();
        let layers = entry.blobs[1..].to_vec();
        let config_bytes =
            std::fs::read(self.blob_path(&id)).map_err(ImageError::read("a config"))?;
        let config: Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| RegistryError::ManifestInvalid(format!("its config is not JSON: {e}")))?;
        let diff_ids = archive::diff_ids(&config)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        if diff_ids.len() != layers.len() {
            return Err(RegistryError::ManifestInvalid(format!(
                "{} layers but the config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        for (layer, want) in layers.iter().zip(&diff_ids) {
            let known = self
                .index
                .lock()
                .unwrap()
                .registry
                .diff_ids
                .get(layer)
                .cloned();
            let actual = match known {
                Some(d) => d,
                None => {
                    let reader = crate::unpack::decompressed(self.blob(layer)?)
                        .map_err(ImageError::read("a layer"))?;
                    let (d, _) = copy_hashed(reader, std::io::sink())
                        .map_err(ImageError::read("a layer"))?;
                    self.index
                        .lock()
                        .unwrap()
                        .registry
                        .diff_ids
                        .insert(layer.clone(), d.clone());
                    d
                }
            };
            if actual != *want {
                return Err(RegistryError::ManifestInvalid(format!(
                    "layer {layer} unpacks to {actual} but the config says {want}"
                )));
            }
        }
        let size = json["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["size"].as_u64())
            .sum::<u64>()
            + config_bytes.len() as u64;
        Ok(ImageInfo {
            id,
            layers,
            config: image_config(&config),
            size,
            created_ms: now_ms(),
        })
    }

    /// The manifest `reference` names in `repo`.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
    ) -> Result<StoredManifest, RegistryError> {
        let (digest, media_type) = {
            let index = self.index.lock().unwrap();
            let Some(manifests) = index.registry.manifests.get(repo) else {
                return Err(RegistryError::NameUnknown);
            };
            let digest = match reference {
                ManifestRef::Digest(d) => d.clone(),
                ManifestRef::Tag(t) => index
                    .registry
                    .tags
                    .get(repo)
                    .and_then(|tags| tags.get(t))
                    .cloned()
                    .ok_or(RegistryError::ManifestUnknown)?,
            };
            let entry = manifests
                .get(&digest)
                .ok_or(RegistryError::ManifestUnknown)?;
            (digest, entry.media_type.clone())
        };
        let bytes =
            std::fs::read(self.blob_path(&digest)).map_err(|_| RegistryError::ManifestUnknown)?;
        Ok(StoredManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// Deletes a tag, or a manifest and every tag of it.
    pub fn delete_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
    ) -> Result<(), RegistryError> {
        let mut index = self.index.lock().unwrap();
        if !index.registry.manifests.contains_key(repo) {
            return Err(RegistryError::NameUnknown);
        }
        let tags = index.registry.tags.entry(repo.to_string()).or_default();
        let untagged: Vec<String> = match reference {
            ManifestRef::Tag(t) => {
                tags.remove(t).ok_or(RegistryError::ManifestUnknown)?;
                vec![t.clone()]
            }
            ManifestRef::Digest(d) => {
                let gone: Vec<String> = tags
                    .iter()
                    .filter(|(_, m)| *m == d)
                    .map(|(t, _)| t.clone())
                    .collect();
                for t in &gone {
                    tags.remove(t);
                }
                let manifests = index
                    .registry
                    .manifests
                    .get_mut(repo)
                    .expect("checked above");
                if manifests.remove(d).is_none() {
                    return Err(RegistryError::ManifestUnknown);
                }
                gone
            }
        };
        let names: Vec<String> = untagged
            .iter()
            .filter_map(|t| normalize_name(&format!("{repo}:{t}")).ok())
            .collect();
        for name in &names {
            index.names.remove(name);
        }
        self.save_index(&index)?;
        drop(index);
        if let Some(catalog) = self.catalog.get() {
            for name in &names {
                catalog.remove(name)?;
            }
        }
        Ok(())
    }

    /// The tags of `repo`, sorted; `None` for a repository with none ever.
    pub fn tags(&self, repo: &str) -> Option<Vec<String>> {
        let index = self.index.lock().unwrap();
        index.registry.manifests.get(repo)?;
        Some(
            index
                .registry
                .tags
                .get(repo)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// Repositories holding manifests, sorted.
    pub fn repositories(&self) -> Vec<String> {
        let index = self.index.lock().unwrap();
        index
            .registry
            .manifests
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`,
    /// optionally only those of one artifact type.
    pub fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Vec<Value> {
        let index = self.index.lock().unwrap();
        let Some(manifests) = index.registry.manifests.get(repo) else {
            return Vec::new();
        };
        manifests
            .iter()
            .filter(|(_, e)| e.subject.as_ref() == Some(subject))
            .filter(|(_, e)| artifact_type.is_none() || e.artifact_type.as_deref() == artifact_type)
            .map(|(d, e)| {
                let mut desc = serde_json::json!({
                    "mediaType": e.media_type,
                    "digest": d,
                    "size": e.size,
                });
                if let Some(t) = &e.artifact_type {
                    desc["artifactType"] = t.clone().into();
                }
                if let Some(a) = &e.annotations {
                    desc["annotations"] = a.clone();
                }
                desc
            })
            .collect()
    }
}
