//! Conformance of conditional writes and object versions.

use crate::{
    ConditionFailure, NULL_VERSION, NewBucketEvent, ObjectMeta, ObjectVersion, Removal, Store,
    VersionCursor, Versioning, WriteCondition,
};
use std::sync::Arc;

fn object(key: &str, blob: &str, version: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        bucket: "v".into(),
        key: key.into(),
        size: blob.len() as u64,
        etag: format!("\"{blob}\""),
        content_type: None,
        headers: Default::default(),
        blob: blob.into(),
        modified_ms: 5_000,
        version_id: version.map(str::to_string),
        inline: None,
    }
}

fn absent() -> WriteCondition {
    WriteCondition {
        absent: true,
        ..Default::default()
    }
}

fn if_match(etag: &str) -> WriteCondition {
    WriteCondition {
        etag: Some(etag.into()),
        ..Default::default()
    }
}

fn any() -> WriteCondition {
    WriteCondition::default()
}

fn deleted(name: &str) -> NewBucketEvent {
    NewBucketEvent {
        name: name.into(),
        at_ms: 9,
        app: "app".into(),
        function: "f".into(),
        leased_until_ms: 0,
        lease_owner: String::new(),
        traceparent: None,
    }
}

pub async fn conditional_writes_hold_atomically(store: Arc<dyn Store>) {
    store.create_bucket("v", None, 1).await.unwrap();
    // Sixteen racing "create only if absent" writes: exactly one wins.
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_object(&object("race", &format!("r{i}"), None), &absent(), &[])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => wins += 1,
            Err(failure) => assert_eq!(failure, ConditionFailure::Mismatch),
        }
    }
    assert_eq!(wins, 1, "exactly one If-None-Match: * write wins");
    let winner = store.get_object("v", "race").await.unwrap().unwrap();

    // If-Match: the current ETag passes, another fails, a missing key is
    // missing; a refused write changes nothing.
    let refused = store
        .put_object(&object("race", "x", None), &if_match("\"nope\""), &[])
        .await
        .unwrap();
    assert_eq!(refused, Err(ConditionFailure::Mismatch));
    assert_eq!(
        store.get_object("v", "race").await.unwrap().unwrap(),
        winner
    );
    let missing = store
        .put_object(&object("none", "x", None), &if_match("\"x\""), &[])
        .await
        .unwrap();
    assert_eq!(missing, Err(ConditionFailure::Missing));
    let replaced = store
        .put_object(&object("race", "next", None), &if_match(&winner.etag), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        replaced.replaced_blob.as_deref(),
        Some(winner.blob.as_str())
    );

    // Conditional deletes: a wrong size refuses, nothing is removed and no
    // event is written; the right ETag and size delete.
    let wrong = WriteCondition {
        etag: Some("\"next\"".into()),
        size: Some(99),
        ..Default::default()
    };
    let refused = store
        .delete_object(
            "v",
            "race",
            Removal::Object,
            &wrong,
            &[deleted("ObjectRemoved:Delete")],
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(ConditionFailure::Mismatch));
    assert_eq!(store.pending_bucket_events().await.unwrap(), 0);
    let right = WriteCondition {
        etag: Some("\"next\"".into()),
        size: Some(4),
        modified_ms: Some(5_999),
        ..Default::default()
    };
    let removed = store
        .delete_object("v", "race", Removal::Object, &right, &[])
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(removed.object.unwrap().blob, "next");
    assert_eq!(store.get_object("v", "race").await.unwrap(), None);

    // A multipart completion refused by its condition leaves the upload
    // in progress.
    store
        .put_object(&object("mp", "old", None), &any(), &[])
        .await
        .unwrap()
        .unwrap();
    let upload = crate::MultipartUpload {
        id: "u".into(),
        bucket: "v".into(),
        key: "mp".into(),
        content_type: None,
        headers: Default::default(),
        created_ms: 1,
    };
    store.create_upload(&upload).await.unwrap();
    let refused = store
        .complete_upload("u", &object("mp", "whole", None), &absent(), &[])
        .await
        .unwrap();
    assert_eq!(refused, Err(ConditionFailure::Mismatch));
    assert!(store.get_upload("u").await.unwrap().is_some());
    assert_eq!(
        store.get_object("v", "mp").await.unwrap().unwrap().blob,
        "old"
    );
}

/// (key, version id, delete marker, latest) of a listing.
type Listed = (String, String, bool, bool);

fn listed(versions: &[ObjectVersion]) -> Vec<Listed> {
    versions
        .iter()
        .map(|v| {
            (
                v.meta.key.clone(),
                v.meta.version_id.clone().unwrap_or(NULL_VERSION.into()),
                v.delete_marker,
                v.latest,
            )
        })
        .collect()
}

fn row(key: &str, id: &str, marker: bool, latest: bool) -> Listed {
    (key.into(), id.into(), marker, latest)
}

pub async fn versions_are_kept_hidden_restored_and_listed(store: Arc<dyn Store>) {
    store.create_bucket("v", None, 1).await.unwrap();
    // Written before versioning: the null version.
    store
        .put_object(&object("k", "n0", None), &any(), &[])
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .set_bucket_versioning("v", Versioning::Enabled)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_bucket_versioning("nope", Versioning::Enabled)
            .await
            .unwrap()
    );
    let buckets = store.list_buckets().await.unwrap();
    assert_eq!(buckets[0].versioning, Versioning::Enabled);

    // Versioned writes keep what they replace: no blob to delete.
    for (blob, id) in [("b1", "v1"), ("b2", "v2")] {
        let write = store
            .put_object(&object("k", blob, Some(id)), &any(), &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(write.replaced_blob, None);
    }
    assert_eq!(
        store.get_object("v", "k").await.unwrap().unwrap().blob,
        "b2"
    );
    let old = store
        .get_object_version("v", "k", "v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (old.meta.blob.as_str(), old.latest, old.delete_marker),
        ("b1", false, false)
    );
    let null = store
        .get_object_version("v", "k", NULL_VERSION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(null.meta.blob, "n0");
    assert!(
        store
            .get_object_version("v", "k", "v9")
            .await
            .unwrap()
            .is_none()
    );

    // A delete hides the key behind a marker, with its event.
    let removal = store
        .delete_object(
            "v",
            "k",
            Removal::Marker {
                id: Some("m1".into()),
                at_ms: 6_000,
            },
            &any(),
            &[deleted("ObjectRemoved:DeleteMarkerCreated")],
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(removal.delete_marker && removal.object.is_none());
    assert_eq!(removal.version_id.as_deref(), Some("m1"));
    assert_eq!(removal.events[0].version_id.as_deref(), Some("m1"));
    assert_eq!(store.get_object("v", "k").await.unwrap(), None);
    assert!(
        store
            .list_objects("v", "", "", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let marker = store
        .get_object_version("v", "k", "m1")
        .await
        .unwrap()
        .unwrap();
    // v2 stopped being current when the marker was made; the marker is.
    let v2 = store
        .get_object_version("v", "k", "v2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2.noncurrent_since_ms, Some(6_000));
    assert_eq!(marker.noncurrent_since_ms, None);
    assert!(marker.delete_marker && marker.latest);
    // If-None-Match: * sees a key hidden by a marker as absent.
    let created = store
        .put_object(&object("k2", "x", Some("x1")), &absent(), &[])
        .await
        .unwrap();
    assert!(created.is_ok());
    let refused = store
        .put_object(&object("k2", "y", Some("x2")), &absent(), &[])
        .await
        .unwrap();
    assert_eq!(refused, Err(ConditionFailure::Mismatch));

    let all = store
        .list_object_versions("v", "", &VersionCursor::default(), 100)
        .await
        .unwrap();
    assert_eq!(
        listed(&all),
        [
            row("k", "m1", true, true),
            row("k", "v2", false, false),
            row("k", "v1", false, false),
            row("k", "null", false, false),
            row("k2", "x1", false, true),
        ]
    );
    // Pages resume inside a key's history and past a whole key.
    let after = |key: &str, id: Option<&str>| VersionCursor {
        key: key.into(),
        version_id: id.map(str::to_string),
    };
    let page = store
        .list_object_versions("v", "", &after("k", Some("v2")), 2)
        .await
        .unwrap();
    assert_eq!(
        listed(&page),
        [row("k", "v1", false, false), row("k", "null", false, false)]
    );
    let page = store
        .list_object_versions("v", "", &after("k", None), 10)
        .await
        .unwrap();
    assert_eq!(listed(&page), [row("k2", "x1", false, true)]);
    let page = store
        .list_object_versions("v", "k2", &VersionCursor::default(), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);

    // Deleting the marker by id brings the newest version back.
    let removal = store
        .delete_object("v", "k", Removal::Version("m1".into()), &any(), &[])
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(removal.delete_marker && removal.object.is_none());
    assert_eq!(
        store.get_object("v", "k").await.unwrap().unwrap().blob,
        "b2"
    );
    // Deleting the visible version by id: the next newest shows, and the
    // removed one's blob is handed back.
    let removal = store
        .delete_object("v", "k", Removal::Version("v2".into()), &any(), &[])
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(removal.object.unwrap().blob, "b2");
    assert_eq!(
        store.get_object("v", "k").await.unwrap().unwrap().blob,
        "b1"
    );
    // An older version by id: gone, the visible one stays.
    let removal = store
        .delete_object("v", "k", Removal::Version(NULL_VERSION.into()), &any(), &[])
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(removal.object.unwrap().blob, "n0");
    assert!(
        store
            .delete_object("v", "k", Removal::Version("v2".into()), &any(), &[])
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );

    // Suspended: writes and deletes replace the null version and keep the
    // others.
    store
        .set_bucket_versioning("v", Versioning::Suspended)
        .await
        .unwrap();
    let write = store
        .put_object(&object("k", "s1", None), &any(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(write.replaced_blob, None, "v1 is kept");
    let write = store
        .put_object(&object("k", "s2", None), &any(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(write.replaced_blob.as_deref(), Some("s1"));
    let removal = store
        .delete_object(
            "v",
            "k",
            Removal::Marker {
                id: None,
                at_ms: 7_000,
            },
            &any(),
            &[],
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        removal.object.unwrap().blob,
        "s2",
        "the null version is replaced"
    );
    assert_eq!(
        listed(
            &store
                .list_object_versions("v", "k", &VersionCursor::default(), 10)
                .await
                .unwrap()
        ),
        [
            row("k", "null", true, true),
            row("k", "v1", false, false),
            row("k2", "x1", false, true),
        ]
    );

    // Usage counts visible objects and the rest apart; a bucket with only
    // versions is not empty; emptying hands back every blob.
    let usage = store.bucket_usage("v").await.unwrap();
    assert_eq!((usage.objects, usage.versions), (1, 2));
    assert_eq!(usage.version_bytes, 2);
    assert_eq!(
        store.delete_bucket("v").await.unwrap(),
        crate::BucketDeletion::NotEmpty
    );
    store
        .delete_object("v", "k2", Removal::Object, &any(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.delete_bucket("v").await.unwrap(),
        crate::BucketDeletion::NotEmpty,
        "older versions keep a bucket"
    );
    assert!(store.referenced_blobs().await.unwrap().contains("b1"));
    let mut blobs = store.empty_bucket("v").await.unwrap();
    blobs.sort();
    assert_eq!(blobs, ["b1"]);
    assert_eq!(
        store.delete_bucket("v").await.unwrap(),
        crate::BucketDeletion::Deleted { blobs: vec![] }
    );
}

pub async fn bucket_configs_and_object_headers_are_kept(store: Arc<dyn Store>) {
    store.create_bucket("v", None, 1).await.unwrap();
    let cors = serde_json::json!([{"origins": ["*"], "methods": ["GET"]}]);
    assert!(
        store
            .set_bucket_config("v", "cors", Some(&cors))
            .await
            .unwrap()
    );
    let tags = serde_json::json!({"team": "media"});
    assert!(
        store
            .set_bucket_config("v", "tagging", Some(&tags))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_bucket_config("nope", "cors", Some(&cors))
            .await
            .unwrap()
    );
    let config = store.list_buckets().await.unwrap()[0].config.clone();
    assert_eq!(config.get("cors"), Some(&cors));
    assert_eq!(config.get("tagging"), Some(&tags));
    assert!(store.set_bucket_config("v", "cors", None).await.unwrap());
    let config = store.list_buckets().await.unwrap()[0].config.clone();
    assert_eq!(config.keys().collect::<Vec<_>>(), ["tagging"]);

    // Headers change in place, on the visible object or one version.
    store
        .put_object(&object("k", "b1", Some("v1")), &any(), &[])
        .await
        .unwrap()
        .unwrap();
    store
        .put_object(&object("k", "b2", Some("v2")), &any(), &[])
        .await
        .unwrap()
        .unwrap();
    let tagged: std::collections::BTreeMap<String, String> =
        [("x-amz-tagging".to_string(), "a=1".to_string())].into();
    assert!(
        store
            .set_object_headers("v", "k", None, &tagged)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_object("v", "k").await.unwrap().unwrap().headers,
        tagged
    );
    assert!(
        store
            .set_object_headers("v", "k", Some("v1"), &tagged)
            .await
            .unwrap()
    );
    let old = store
        .get_object_version("v", "k", "v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.meta.headers, tagged);
    assert!(
        !store
            .set_object_headers("v", "k", Some("v9"), &tagged)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_object_headers("v", "none", None, &tagged)
            .await
            .unwrap()
    );
}
