//! S3 access keys: an admin pair made on first start, one pair per app for
//! its runs (`AWS_ACCESS_KEY_ID` …), and any more made with `strato keys`.
//! Looked up on every signed request, so kept in memory and reloaded on
//! each change.

use crate::util::now_ms;
use arc_swap::ArcSwap;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use strato_store::{AccessKey, Store, StoreError};

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no access key `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every access key, by id.
pub struct KeyRing {
    store: Arc<dyn Store>,
    keys: ArcSwap<HashMap<String, AccessKey>>,
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

impl KeyRing {
    pub(super) async fn load(store: Arc<dyn Store>) -> Result<KeyRing, StoreError> {
        let ring = KeyRing {
            store,
            keys: ArcSwap::from_pointee(HashMap::new()),
        };
        ring.reload().await?;
        Ok(ring)
    }

    pub(super) async fn reload(&self) -> Result<(), StoreError> {
        let keys = self.store.list_access_keys().await?;
        self.keys.store(Arc::new(
            keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
        ));
        Ok(())
    }

    /// The key with this id, if it exists (not revoked).
    pub fn get(&self, id: &str) -> Option<AccessKey> {
        self.keys.load().get(id).cloned()
    }

    pub fn list(&self) -> Vec<AccessKey> {
        let mut keys: Vec<AccessKey> = self.keys.load().values().cloned().collect();
        keys.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        keys
    }

    /// Makes a new key pair, for an app or (with `None`) an admin.
    pub async fn create(&self, app: Option<&str>) -> Result<AccessKey, KeyError> {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let key = AccessKey {
            id: format!("STRATO{}", random_string(14, UPPER)),
            secret: random_string(40, SECRET),
            app: app.map(str::to_string),
            created_at_ms: now_ms(),
        };
        self.store.put_access_key(&key).await?;
        self.reload().await?;
        Ok(key)
    }

    pub async fn revoke(&self, id: &str) -> Result<(), KeyError> {
        if !self.store.revoke_access_key(id).await? {
            return Err(KeyError::NotFound(id.to_string()));
        }
        self.reload().await?;
        Ok(())
    }

    /// The oldest admin key, made if there is none.
    pub async fn admin(&self) -> Result<AccessKey, KeyError> {
        match self.list().into_iter().find(|k| k.app.is_none()) {
            Some(k) => Ok(k),
            None => self.create(None).await,
        }
    }

    /// The key an app's runs use, made if there is none.
    pub async fn for_app(&self, app: &str) -> Result<AccessKey, KeyError> {
        match self
            .list()
            .into_iter()
            .find(|k| k.app.as_deref() == Some(app))
        {
            Some(k) => Ok(k),
            None => self.create(Some(app)).await,
        }
    }
}
