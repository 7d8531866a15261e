//! Lifecycle rules applied: current objects expire (after a number of days,
//! or from a date), older versions are removed, unfinished multipart
//! uploads are aborted. One pass over every bucket with rules, repeated by
//! `run_lifecycle`; an expiry is an ordinary delete made with the
//! object's ETag as its condition, so an object replaced meanwhile stays.

use super::config::{LifecycleRule, kind};
use super::{BucketError, Buckets, Scope};
use crate::util::now_ms;
use std::sync::Weak;
use std::time::Duration;
use strato_store::{NULL_VERSION, VersionCursor, WriteCondition};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LifecyclePass {
    pub expired: u64,
    pub versions_removed: u64,
    pub uploads_aborted: u64,
}

/// The most entries a pass reads per listing call.
const PAGE: usize = 1000;

/// Why a delete happens: its event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// A client asked (`ObjectRemoved:*`).
    Request,
    /// A lifecycle rule (`LifecycleExpiration:*`).
    Lifecycle,
}

impl Cause {
    pub(super) fn event(self, marker: bool) -> &'static str {
        match (self, marker) {
            (Cause::Request, false) => "ObjectRemoved:Delete",
            (Cause::Request, true) => "ObjectRemoved:DeleteMarkerCreated",
            (Cause::Lifecycle, false) => "LifecycleExpiration:Delete",
            (Cause::Lifecycle, true) => "LifecycleExpiration:DeleteMarkerCreated",
        }
    }
}

impl Buckets {
    /// Applies every bucket's enabled lifecycle rules once, counting
    /// `day_ms` to a day.
    pub async fn apply_lifecycle(&self, day_ms: i64) -> Result<LifecyclePass, BucketError> {
        let mut pass = LifecyclePass::default();
        for bucket in self.list_buckets(&Scope::Admin) {
            let rules: Vec<LifecycleRule> = self
                .bucket_config(&bucket.name, &Scope::Admin, kind::LIFECYCLE)?
                .unwrap_or_default();
            for rule in rules.iter().filter(|r| r.enabled) {
                self.apply_rule(&bucket.name, rule, day_ms, &mut pass)
                    .await?;
            }
        }
        Ok(pass)
    }

    async fn apply_rule(
        &self,
        bucket: &str,
        rule: &LifecycleRule,
        day_ms: i64,
        pass: &mut LifecyclePass,
    ) -> Result<(), BucketError> {
        let now = now_ms();
        let before = |days: u32| now - i64::from(days) * day_ms;
        let expire_before = match (rule.expiration_date_ms, rule.expiration_days) {
            (Some(date), _) if date <= now => Some(now),
            (_, Some(days)) => Some(before(days)),
            _ => None,
        };
        if let Some(cutoff) = expire_before {
            let mut after = String::new();
            loop {
                let page = self
                    .store
                    .list_objects(bucket, &rule.prefix, &after, PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.key.clone();
                for object in page.iter().filter(|o| o.modified_ms <= cutoff) {
                    let unchanged = WriteCondition {
                        etag: Some(object.etag.clone()),
                        ..Default::default()
                    };
                    match self
                        .remove(bucket, &object.key, None, &unchanged, Cause::Lifecycle)
                        .await
                    {
                        Ok(_) => pass.expired += 1,
                        // Replaced or removed meanwhile: not this rule's.
                        Err(BucketError::PreconditionFailed | BucketError::NoSuchKey { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if let Some(days) = rule.noncurrent_days {
            let cutoff = before(days);
            let mut after = VersionCursor::default();
            loop {
                let page = self
                    .store
                    .list_object_versions(bucket, &rule.prefix, &after, PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = VersionCursor {
                    key: last.meta.key.clone(),
                    version_id: Some(
                        last.meta
                            .version_id
                            .clone()
                            .unwrap_or_else(|| NULL_VERSION.to_string()),
                    ),
                };
                // Counted from when a newer version replaced it, as S3.
                let old = page.iter().filter(|v| {
                    !v.latest
                        && !v.delete_marker
                        && v.noncurrent_since_ms.unwrap_or(v.meta.modified_ms) <= cutoff
                });
                for version in old {
                    let id = version.meta.version_id.as_deref().unwrap_or(NULL_VERSION);
                    self.remove(
                        bucket,
                        &version.meta.key,
                        Some(id),
                        &WriteCondition::default(),
                        Cause::Lifecycle,
                    )
                    .await?;
                    pass.versions_removed += 1;
                }
            }
        }
        if let Some(days) = rule.abort_incomplete_days {
            let cutoff = before(days);
            for upload in self.store.list_uploads(bucket, &rule.prefix).await? {
                if upload.created_ms <= cutoff
                    && let Some(blobs) = self.store.abort_upload(&upload.id).await?
                {
                    self.delete_blobs(blobs).await;
                    pass.uploads_aborted += 1;
                }
            }
        }
        Ok(())
    }
}

/// Applies lifecycle rules until the platform is dropped: about every
/// 1/1440 of a day (a minute), between 200 ms and a minute.
pub(crate) async fn run_lifecycle(platform: Weak<crate::platform::Platform>, day: Duration) {
    let every = (day / 1440).clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        match platform
            .buckets
            .apply_lifecycle(day.as_millis() as i64)
            .await
        {
            Ok(pass) if pass != LifecyclePass::default() => {
                tracing::info!(?pass, "lifecycle rules applied");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "applying lifecycle rules failed"),
        }
    }
}
