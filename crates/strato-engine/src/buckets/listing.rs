//! Listing with S3's semantics: keys in byte order under a prefix, rolled
//! up into common prefixes at a delimiter, paginated by a resume key.

use super::{BucketError, Buckets, Scope};
use strato_store::ObjectMeta;

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
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    pub common_prefixes: Vec<String>,
    /// More entries follow; resume from `next`.
    pub truncated: bool,
    /// The last key or common prefix on this page.
    pub next: Option<String>,
}

impl Buckets {
    pub async fn list_objects(
        &self,
        bucket: &str,
        scope: &Scope,
        req: &ListRequest,
    ) -> Result<ListPage, BucketError> {
        self.bucket(bucket, scope)?;
        let delimiter = req.delimiter.as_deref().filter(|d| !d.is_empty());
        let rollup = |key: &str| -> Option<String> {
            let d = delimiter?;
            let rest = key.strip_prefix(req.prefix.as_str())?;
            rest.find(d)
                .map(|i| key[..req.prefix.len() + i + d.len()].to_string())
        };
        let mut after = match rollup(&req.start_after) {
            Some(cp) => format!("{cp}{PAST}"),
            None => req.start_after.clone(),
        };
        let mut page = ListPage::default();
        let max = req.max_keys;
        'scan: loop {
            let batch = self
                .store
                .list_objects(bucket, &req.prefix, &after, 1000)
                .await?;
            if batch.is_empty() {
                break;
            }
            for object in batch {
                if page.objects.len() + page.common_prefixes.len() == max {
                    page.truncated = true;
                    break 'scan;
                }
                match rollup(&object.key) {
                    Some(cp) => {
                        after = format!("{cp}{PAST}");
                        page.next = Some(cp.clone());
                        page.common_prefixes.push(cp);
                        // Everything else under this prefix is rolled up.
                        continue 'scan;
                    }
                    None => {
                        after = object.key.clone();
                        page.next = Some(object.key.clone());
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
}
