//! Listing with S3's semantics: keys in byte order under a prefix, rolled
//! up into common prefixes at a delimiter, paginated by a resume key.

use super::{BucketError, Buckets, Scope};
use strato_store::{NULL_VERSION, ObjectMeta, ObjectVersion, VersionCursor};

/// Sorts after every key that starts with what precedes it (keys are UTF-8,
/// and U+10FFFF is the largest scalar), so listing resumes past a whole
/// common prefix.
const PAST: char = '\u{10FFFF}';

/// One page request.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Resume after this key (or after everything under this common prefix).
    pub start_after: String,
    /// In a versions listing: resume after this version of `start_after`
    /// (without one, after all of its versions).
    pub start_after_version: Option<String>,
    pub max_keys: usize,
}

/// One page of a listing, of objects or of versions.
#[derive(Debug, Clone)]
pub struct ListPage<T = ObjectMeta> {
    pub objects: Vec<T>,
    pub common_prefixes: Vec<String>,
    /// More entries follow; resume from `next`.
    pub truncated: bool,
    /// The last key or common prefix on this page.
    pub next: Option<String>,
    /// The version of `next` last listed (versions listings).
    pub next_version: Option<String>,
}

impl<T> Default for ListPage<T> {
    fn default() -> Self {
        ListPage {
            objects: Vec::new(),
            common_prefixes: Vec::new(),
            truncated: false,
            next: None,
            next_version: None,
        }
    }
}

/// What a listing lists: something with a key and, for versions, an id
/// to resume after within the key.
pub trait Listed {
    fn key(&self) -> &str;
    /// Where in its key's versions a listing resumes after this entry;
    /// `None`: past the whole key.
    fn resume_version(&self) -> Option<String>;
}

impl Listed for ObjectMeta {
    fn key(&self) -> &str {
        &self.key
    }
    fn resume_version(&self) -> Option<String> {
        None
    }
}

impl Listed for ObjectVersion {
    fn key(&self) -> &str {
        &self.meta.key
    }
    fn resume_version(&self) -> Option<String> {
        Some(
            self.meta
                .version_id
                .clone()
                .unwrap_or_else(|| NULL_VERSION.to_string()),
        )
    }
}

impl Buckets {
    pub async fn list_objects(
        &self,
        bucket: &str,
        scope: &Scope,
        req: &ListRequest,
    ) -> Result<ListPage, BucketError> {
        self.bucket(bucket, scope)?;
        let (store, prefix) = (&self.store, req.prefix.as_str());
        list_page(req, |after: VersionCursor| async move {
            Ok(store.list_objects(bucket, prefix, &after.key, 1000).await?)
        })
        .await
    }

    /// Every version and delete marker, keys in order and each key's
    /// versions newest first (S3's ListObjectVersions).
    pub async fn list_versions(
        &self,
        bucket: &str,
        scope: &Scope,
        req: &ListRequest,
    ) -> Result<ListPage<ObjectVersion>, BucketError> {
        self.bucket(bucket, scope)?;
        let (store, prefix) = (&self.store, req.prefix.as_str());
        list_page(req, |after: VersionCursor| async move {
            Ok(store
                .list_object_versions(bucket, prefix, &after, 1000)
                .await?)
        })
        .await
    }
}

/// One page of `req`, reading entries in order through `fetch` (the next
/// entries under the prefix after the cursor given, in key order; empty at
/// the end). The store is passed in so S3's roll-up and resume rules are
/// tested without one.
async fn list_page<T, F, Fut>(req: &ListRequest, mut fetch: F) -> Result<ListPage<T>, BucketError>
where
    T: Listed,
    F: FnMut(VersionCursor) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, BucketError>>,
{
    let delimiter = req.delimiter.as_deref().filter(|d| !d.is_empty());
    let rollup = |key: &str| -> Option<String> {
        let d = delimiter?;
        let rest = key.strip_prefix(req.prefix.as_str())?;
        rest.find(d)
            .map(|i| key[..req.prefix.len() + i + d.len()].to_string())
    };
    let mut after = match rollup(&req.start_after) {
        Some(cp) => VersionCursor {
            key: format!("{cp}{PAST}"),
            version_id: None,
        },
        None => VersionCursor {
            key: req.start_after.clone(),
            version_id: req.start_after_version.clone(),
        },
    };
    let mut page = ListPage::default();
    let max = req.max_keys;
    'scan: loop {
        let batch = fetch(after.clone()).await?;
        if batch.is_empty() {
            break;
        }
        for object in batch {
            if page.objects.len() + page.common_prefixes.len() == max {
                page.truncated = true;
                break 'scan;
            }
            match rollup(object.key()) {
                Some(cp) => {
                    after = VersionCursor {
                        key: format!("{cp}{PAST}"),
                        version_id: None,
                    };
                    page.next = Some(cp.clone());
                    page.next_version = None;
                    page.common_prefixes.push(cp);
                    // Everything else under this prefix is rolled up.
                    continue 'scan;
                }
                None => {
                    after = VersionCursor {
                        key: object.key().to_string(),
                        version_id: object.resume_version(),
                    };
                    page.next = Some(after.key.clone());
                    page.next_version = after.version_id.clone();
                    page.objects.push(object);
                }
            }
        }
    }
    if max == 0 {
        page.truncated = false;
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `keys` as a store would serve them: sorted, under `prefix`, after
    /// the key given, two at a time (so pages span several fetches).
    async fn list(keys: &[&str], req: ListRequest) -> ListPage {
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort();
        let fetches = std::cell::Cell::new(0);
        list_page(&req, |after: VersionCursor| {
            let after = after.key;
            fetches.set(fetches.get() + 1);
            assert!(fetches.get() < 100, "listing does not end");
            let batch = sorted
                .iter()
                .filter(|k| k.starts_with(&req.prefix) && **k > after.as_str())
                .take(2)
                .map(|k| ObjectMeta {
                    bucket: "b".into(),
                    key: k.to_string(),
                    size: 0,
                    etag: String::new(),
                    content_type: None,
                    headers: Default::default(),
                    blob: String::new(),
                    modified_ms: 0,
                    version_id: None,
                    inline: None,
                })
                .collect();
            std::future::ready(Ok(batch))
        })
        .await
        .unwrap()
    }

    fn req(prefix: &str, delimiter: Option<&str>, start_after: &str, max: usize) -> ListRequest {
        ListRequest {
            prefix: prefix.into(),
            delimiter: delimiter.map(str::to_string),
            start_after: start_after.into(),
            start_after_version: None,
            max_keys: max,
        }
    }

    fn keys(page: &ListPage) -> Vec<&str> {
        page.objects.iter().map(|o| o.key.as_str()).collect()
    }

    const KEYS: &[&str] = &[
        "a.txt",
        "photos/2024/a.jpg",
        "photos/2024/b.jpg",
        "photos/2025/c.jpg",
        "photos/top.jpg",
        "videos/v.mp4",
        "z.txt",
    ];

    #[tokio::test]
    async fn a_delimiter_rolls_keys_up_into_common_prefixes() {
        let page = list(KEYS, req("", Some("/"), "", 1000)).await;
        assert_eq!(keys(&page), ["a.txt", "z.txt"]);
        assert_eq!(page.common_prefixes, ["photos/", "videos/"]);
        assert!(!page.truncated);

        let page = list(KEYS, req("photos/", Some("/"), "", 1000)).await;
        assert_eq!(keys(&page), ["photos/top.jpg"]);
        assert_eq!(page.common_prefixes, ["photos/2024/", "photos/2025/"]);
    }

    #[tokio::test]
    async fn pages_count_prefixes_and_keys_and_resume_past_a_whole_prefix() {
        let first = list(KEYS, req("", Some("/"), "", 2)).await;
        assert_eq!(keys(&first), ["a.txt"]);
        assert_eq!(first.common_prefixes, ["photos/"]);
        assert!(first.truncated);
        assert_eq!(first.next.as_deref(), Some("photos/"));
        // Resuming after a common prefix skips everything under it.
        let second = list(KEYS, req("", Some("/"), "photos/", 2)).await;
        assert_eq!(second.common_prefixes, ["videos/"]);
        assert_eq!(keys(&second), ["z.txt"]);
        assert!(!second.truncated);
    }

    #[tokio::test]
    async fn without_a_delimiter_every_key_is_listed_in_order() {
        let page = list(KEYS, req("photos/", None, "photos/2024/a.jpg", 1000)).await;
        assert_eq!(
            keys(&page),
            ["photos/2024/b.jpg", "photos/2025/c.jpg", "photos/top.jpg"]
        );
        assert!(page.common_prefixes.is_empty());
        // A multi-character delimiter, and max-keys 0.
        // (the delimiter is looked for after the prefix)
        let page = list(KEYS, req("photos/", Some("4/"), "", 1000)).await;
        assert_eq!(page.common_prefixes, ["photos/2024/"]);
        assert_eq!(keys(&page), ["photos/2025/c.jpg", "photos/top.jpg"]);
        let empty = list(KEYS, req("", None, "", 0)).await;
        assert!(empty.objects.is_empty() && !empty.truncated);
    }
}
