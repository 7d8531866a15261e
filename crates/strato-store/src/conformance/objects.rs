//! Conformance of buckets: objects with their events, listing, multipart
//! uploads, access keys, and the leases on bucket events.

use crate::{
    AccessKey, BucketDeletion, Effect, MultipartUpload, NewBucketEvent, NewInvocation, NodeId,
    ObjectMeta, Removal, Store, StoreErrorKind, UploadPart, WriteCondition,
};
use std::sync::Arc;
use strato_core::RunStatus;

use super::run;

pub(super) fn object(bucket: &str, key: &str, blob: &str) -> ObjectMeta {
    ObjectMeta {
        bucket: bucket.into(),
        key: key.into(),
        size: 4,
        etag: format!("\"{blob}\""),
        content_type: Some("text/plain".into()),
        headers: [("x-amz-meta-colour".to_string(), "red".to_string())].into(),
        blob: blob.into(),
        modified_ms: 7,
        version_id: None,
        inline: None,
    }
}

/// The node the checks run as.
pub(crate) fn node() -> NodeId {
    NodeId("node-a".into())
}

pub(super) fn event(name: &str) -> NewBucketEvent {
    NewBucketEvent {
        lease_owner: String::new(),
        name: name.into(),
        at_ms: 7,
        app: "app".into(),
        function: "f".into(),
        leased_until_ms: 0,
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    }
}

pub async fn buckets_are_created_listed_and_deleted_only_when_empty(store: Arc<dyn Store>) {
    assert!(store.create_bucket("media", Some("app"), 1).await.unwrap());
    assert!(!store.create_bucket("media", None, 2).await.unwrap());
    assert!(store.create_bucket("logs", None, 3).await.unwrap());
    let names: Vec<_> = store
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.name, b.app))
        .collect();
    assert_eq!(
        names,
        [
            ("logs".to_string(), None),
            ("media".to_string(), Some("app".to_string()))
        ]
    );
    assert!(store.set_bucket_app("logs", Some("other")).await.unwrap());
    assert!(!store.set_bucket_app("nope", None).await.unwrap());
    store
        .put_object(&object("media", "a", "b1"), &WriteCondition::default(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.delete_bucket("media").await.unwrap(),
        BucketDeletion::NotEmpty
    );
    store
        .delete_object(
            "media",
            "a",
            Removal::Object,
            &WriteCondition::default(),
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    // Unfinished uploads do not keep a bucket: S3 aborts them with it.
    store
        .create_upload(&upload("u0", "media", "big"))
        .await
        .unwrap();
    store.put_part(&part("u0", 1, "p0")).await.unwrap();
    store.put_part(&part("u0", 2, "p00")).await.unwrap();
    let BucketDeletion::Deleted { mut blobs } = store.delete_bucket("media").await.unwrap() else {
        panic!("a bucket with only an unfinished upload is deleted");
    };
    blobs.sort();
    assert_eq!(blobs, ["p0", "p00"]);
    assert_eq!(store.get_upload("u0").await.unwrap(), None);
    assert!(store.list_parts("u0", 0, 10).await.unwrap().is_empty());
    assert_eq!(
        store.delete_bucket("media").await.unwrap(),
        BucketDeletion::NotFound
    );
    // Emptying hands back every blob, objects' and unfinished parts'.
    store
        .put_object(&object("logs", "x", "bx"), &WriteCondition::default(), &[])
        .await
        .unwrap()
        .unwrap();
    store
        .create_upload(&upload("u1", "logs", "big"))
        .await
        .unwrap();
    store.put_part(&part("u1", 1, "p1")).await.unwrap();
    let mut blobs = store.empty_bucket("logs").await.unwrap();
    blobs.sort();
    assert_eq!(blobs, ["bx", "p1"]);
    assert_eq!(
        store.delete_bucket("logs").await.unwrap(),
        BucketDeletion::Deleted { blobs: vec![] }
    );
}

pub async fn objects_and_their_events_are_written_together(store: Arc<dyn Store>) {
    store.create_bucket("media", None, 1).await.unwrap();
    let first = store
        .put_object(
            &object("media", "clip.mp4", "b1"),
            &WriteCondition::default(),
            &[event("ObjectCreated:Put")],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.replaced_blob, None);
    assert_eq!(first.events.len(), 1);
    assert_eq!(
        store.get_object("media", "clip.mp4").await.unwrap(),
        Some(object("media", "clip.mp4", "b1"))
    );
    // Replacing returns the old blob for cleanup.
    let replaced = store
        .put_object(
            &object("media", "clip.mp4", "b2"),
            &WriteCondition::default(),
            &[event("ObjectCreated:Put")],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.replaced_blob.as_deref(), Some("b1"));
    let removed = store
        .delete_object(
            "media",
            "clip.mp4",
            Removal::Object,
            &WriteCondition::default(),
            &[event("ObjectRemoved:Delete")],
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(removed.object.unwrap().blob, "b2");
    assert_eq!(removed.events[0].name, "ObjectRemoved:Delete");
    // Deleting what is not there writes no event.
    assert!(
        store
            .delete_object(
                "media",
                "clip.mp4",
                Removal::Object,
                &WriteCondition::default(),
                &[event("ObjectRemoved:Delete")]
            )
            .await
            .unwrap()
            .unwrap()
            .is_none()
    );
    assert_eq!(store.pending_bucket_events().await.unwrap(), 3);
    let events = store
        .claim_bucket_events(&node(), 100, 1000, 10)
        .await
        .unwrap();
    let names: Vec<_> = events
        .iter()
        .map(|e| (e.name.as_str(), e.etag.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("ObjectCreated:Put", "\"b1\""),
            ("ObjectCreated:Put", "\"b2\""),
            ("ObjectRemoved:Delete", "\"b2\"")
        ]
    );
    assert!(events.iter().all(|e| e.bucket == "media"
        && e.key == "clip.mp4"
        && e.attempts == 1
        && e.app == "app"
        && e.function == "f"));
}

pub async fn inline_objects_keep_their_bytes_in_the_store(store: Arc<dyn Store>) {
    store.create_bucket("b", None, 1).await.unwrap();
    let mut small = object("b", "tiny", "");
    small.inline = Some(b"tiny!".to_vec());
    store
        .put_object(&small, &WriteCondition::default(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get_object("b", "tiny").await.unwrap(),
        Some(small.clone())
    );
    // Listings leave the bytes out; no blob is referenced.
    let listed = store.list_objects("b", "", "", 10).await.unwrap();
    assert_eq!(listed[0].inline, None);
    assert!(store.referenced_blobs().await.unwrap().is_empty());
    // Replacing it with a blob-backed object hands back no blob to delete.
    let write = store
        .put_object(&object("b", "tiny", "b1"), &WriteCondition::default(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(write.replaced_blob, None);
    assert_eq!(
        store.get_object("b", "tiny").await.unwrap().unwrap().inline,
        None
    );
    store
        .put_object(&small, &WriteCondition::default(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.empty_bucket("b").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.get_object("b", "tiny").await.unwrap(), None);
}

pub async fn objects_list_in_key_order_by_prefix(store: Arc<dyn Store>) {
    store.create_bucket("b", None, 1).await.unwrap();
    for key in ["a/1", "a/2", "a%x", "a_y", "b/1", "a/10", "A/upper"] {
        store
            .put_object(&object("b", key, key), &WriteCondition::default(), &[])
            .await
            .unwrap()
            .unwrap();
    }
    let keys = async |prefix: &str, after: &str, limit: usize| -> Vec<String> {
        store
            .list_objects("b", prefix, after, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    };
    assert_eq!(
        keys("", "", 100).await,
        ["A/upper", "a%x", "a/1", "a/10", "a/2", "a_y", "b/1"]
    );
    assert_eq!(keys("a/", "", 100).await, ["a/1", "a/10", "a/2"]);
    assert_eq!(keys("a/", "a/1", 100).await, ["a/10", "a/2"]);
    assert_eq!(keys("a", "", 2).await, ["a%x", "a/1"]);
    assert_eq!(
        keys("a%", "", 100).await,
        ["a%x"],
        "LIKE wildcards in a prefix are literal"
    );
    assert!(keys("c", "", 100).await.is_empty());
    assert!(
        store
            .list_objects("other", "", "", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn bucket_events_are_leased_retried_and_finished(store: Arc<dyn Store>) {
    store.create_bucket("b", None, 1).await.unwrap();
    store
        .put_object(
            &object("b", "one", "1"),
            &WriteCondition::default(),
            &[event("ObjectCreated:Put")],
        )
        .await
        .unwrap()
        .unwrap();
    store
        .put_object(
            &object("b", "two", "2"),
            &WriteCondition::default(),
            &[event("ObjectCreated:Put")],
        )
        .await
        .unwrap()
        .unwrap();
    let first = store
        .claim_bucket_events(&node(), 100, 1000, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    // Leased: nobody else gets them.
    assert!(
        store
            .claim_bucket_events(&node(), 200, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease runs out (a deliverer crashed): they come back, attempt 2.
    let again = store
        .claim_bucket_events(&node(), 1200, 1000, 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(),
        [(first[0].id, 2), (first[1].id, 2)]
    );
    assert_eq!(
        again[0].traceparent.as_deref(),
        event("x").traceparent.as_deref(),
        "an event keeps the context of the write that made it"
    );
    store.finish_bucket_events(&[again[0].id]).await.unwrap();
    let fence = crate::Fence {
        work: crate::WorkRef::BucketEvent(again[1].id),
        owner: node(),
        attempt: 2,
    };
    assert!(store.retry_bucket_event(&fence, 5000).await.unwrap());
    assert!(
        store
            .claim_bucket_events(&node(), 3000, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retried = store
        .claim_bucket_events(&node(), 5000, 1000, 10)
        .await
        .unwrap();
    assert_eq!(
        retried
            .iter()
            .map(|e| (e.key.as_str(), e.attempts))
            .collect::<Vec<_>>(),
        [("two", 3)]
    );
    store.finish_bucket_events(&[retried[0].id]).await.unwrap();
    assert!(
        store
            .claim_bucket_events(&node(), 100_000, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_bucket_events().await.unwrap(), 0);
    // A run that settles an event marks it done in the same transaction.
    let settled = store
        .put_object(
            &object("b", "four", "4"),
            &WriteCondition::default(),
            &[event("ObjectCreated:Put")],
        )
        .await
        .unwrap()
        .unwrap();
    let mut delivery = run("r-settle", "app", "f", RunStatus::Succeeded, 1);
    delivery.effects = vec![Effect::SettleEvent(settled.events[0].id)];
    store.record_runs(vec![delivery].into()).await.unwrap();
    assert_eq!(store.pending_bucket_events().await.unwrap(), 0);
    // An event the writer delivers itself starts leased, attempt 1 counted:
    // the sweeper only sees it once that lease has run out.
    let mut fast = event("ObjectCreated:Put");
    fast.at_ms = 200_000;
    fast.leased_until_ms = 230_000;
    fast.lease_owner = node().0;
    let write = store
        .put_object(
            &object("b", "three", "3"),
            &WriteCondition::default(),
            &[fast],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(write.events[0].attempts, 1);
    assert!(
        store
            .claim_bucket_events(&node(), 229_999, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A restart voids leases: the event is claimable at once.
    store.release_leases(&node()).await.unwrap();
    let swept = store
        .claim_bucket_events(&node(), 200_001, 1000, 10)
        .await
        .unwrap();
    assert_eq!(
        swept.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(),
        [(write.events[0].id, 2)]
    );
}

fn upload(id: &str, bucket: &str, key: &str) -> MultipartUpload {
    MultipartUpload {
        id: id.into(),
        bucket: bucket.into(),
        key: key.into(),
        content_type: Some("video/mp4".into()),
        headers: [("x-amz-meta-a".to_string(), "1".to_string())].into(),
        created_ms: 5,
    }
}

fn part(upload_id: &str, number: u32, blob: &str) -> UploadPart {
    UploadPart {
        upload_id: upload_id.into(),
        number,
        size: 10,
        etag: format!("\"{blob}\""),
        blob: blob.into(),
        modified_ms: 6,
        checksum: (number == 1).then(|| format!("sum-of-{blob}")),
    }
}

pub async fn multipart_uploads_complete_and_abort(store: Arc<dyn Store>) {
    store.create_bucket("b", None, 1).await.unwrap();
    store
        .create_upload(&upload("u1", "b", "big"))
        .await
        .unwrap();
    store
        .create_upload(&upload("u2", "b", "other"))
        .await
        .unwrap();
    assert_eq!(
        store.get_upload("u1").await.unwrap(),
        Some(upload("u1", "b", "big"))
    );
    assert_eq!(
        store
            .list_uploads("b", "bi")
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>(),
        ["u1"]
    );
    for n in [2, 1, 3] {
        assert_eq!(
            store
                .put_part(&part("u1", n, &format!("p{n}")))
                .await
                .unwrap(),
            None
        );
    }
    // Uploading a part again replaces it and hands back the old blob.
    assert_eq!(
        store
            .put_part(&part("u1", 2, "p2b"))
            .await
            .unwrap()
            .as_deref(),
        Some("p2")
    );
    let numbers = async |after| -> Vec<u32> {
        store
            .list_parts("u1", after, 2)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.number)
            .collect()
    };
    assert_eq!(numbers(0).await, [1, 2]);
    assert_eq!(numbers(2).await, [3]);
    // Parts come back whole, checksum included.
    assert_eq!(
        store.list_parts("u1", 0, 1).await.unwrap(),
        [part("u1", 1, "p1")]
    );
    let referenced = store.referenced_blobs().await.unwrap();
    assert!(referenced.contains("p2b") && !referenced.contains("p2"));

    let (write, mut parts) = store
        .complete_upload(
            "u1",
            &object("b", "big", "whole"),
            &WriteCondition::default(),
            &[event("ObjectCreated:CompleteMultipartUpload")],
        )
        .await
        .unwrap()
        .unwrap();
    parts.sort();
    assert_eq!(parts, ["p1", "p2b", "p3"]);
    assert_eq!(write.events.len(), 1);
    assert_eq!(
        store.get_object("b", "big").await.unwrap().unwrap().blob,
        "whole"
    );
    assert_eq!(store.get_upload("u1").await.unwrap(), None);
    // Completing twice is a conflict, and leaves nothing half done.
    assert_eq!(
        store
            .complete_upload(
                "u1",
                &object("b", "big", "again"),
                &WriteCondition::default(),
                &[]
            )
            .await
            .map(|_| ())
            .map_err(|e| e.kind()),
        Err(StoreErrorKind::Conflict)
    );
    assert_eq!(
        store.get_object("b", "big").await.unwrap().unwrap().blob,
        "whole"
    );

    store.put_part(&part("u2", 1, "q1")).await.unwrap();
    assert_eq!(
        store.abort_upload("u2").await.unwrap(),
        Some(vec!["q1".to_string()])
    );
    assert_eq!(store.abort_upload("u2").await.unwrap(), None);
    let referenced = store.referenced_blobs().await.unwrap();
    assert_eq!(referenced, ["whole".to_string()].into());
}

pub async fn access_keys_are_stored_and_revoked(store: Arc<dyn Store>) {
    let admin = AccessKey {
        id: "AKADMIN".into(),
        secret: "s1".into(),
        app: None,
        created_at_ms: 1,
    };
    let app = AccessKey {
        id: "AKAPP".into(),
        secret: "s2".into(),
        app: Some("shop".into()),
        created_at_ms: 2,
    };
    store.put_access_key(&admin).await.unwrap();
    store.put_access_key(&app).await.unwrap();
    assert!(store.put_access_key(&app).await.is_err(), "ids are unique");
    assert_eq!(
        store.list_access_keys().await.unwrap(),
        [admin.clone(), app]
    );
    assert!(store.revoke_access_key("AKAPP").await.unwrap());
    assert!(!store.revoke_access_key("AKAPP").await.unwrap());
    assert_eq!(store.list_access_keys().await.unwrap(), [admin]);
}

pub async fn leases_belong_to_the_node_that_took_them(store: Arc<dyn Store>) {
    use strato_core::invocation::Priority;
    let (a, b) = (NodeId("node-a".into()), NodeId("node-b".into()));
    store.create_bucket("b", None, 1).await.unwrap();
    store
        .put_object(
            &object("b", "k", "1"),
            &WriteCondition::default(),
            &[event("ObjectCreated:Put")],
        )
        .await
        .unwrap()
        .unwrap();
    let invocation = NewInvocation {
        id: "i1".into(),
        app: "app".into(),
        target: strato_core::target::Target::function("f"),
        priority: Priority::Normal,
        head: "{}".into(),
        body: Vec::new(),
        due_ms: 100,
        expires_ms: 1_000_000,
        max_attempts: 3,
    };
    store
        .enqueue_invocations(&[invocation], 100, 0, &a)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_bucket_events(&a, 100, 10_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .claim_invocations(&a, 100, 10_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Another node starting up releases its own leases only: node a's
    // work stays with node a.
    store.release_leases(&b).await.unwrap();
    assert!(
        store
            .claim_bucket_events(&b, 200, 10_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_invocations(&b, 200, 10_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A lease that runs out (its node died) is anyone's.
    let events = store
        .claim_bucket_events(&b, 10_101, 10_000, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let invocations = store
        .claim_invocations(&b, 10_101, 10_000, 10)
        .await
        .unwrap();
    assert_eq!(invocations.len(), 1);
    // Node a restarting now does not take them back from node b...
    store.release_leases(&a).await.unwrap();
    assert!(
        store
            .claim_bucket_events(&a, 10_200, 10_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_invocations(&a, 10_200, 10_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ...nor renew them; node b's own restart frees them at once.
    store
        .renew_leases(
            &a,
            &[
                crate::WorkRef::Invocation("i1".into()),
                crate::WorkRef::BucketEvent(events[0].id),
            ],
            10_000_000,
        )
        .await
        .unwrap();
    store.release_leases(&b).await.unwrap();
    assert_eq!(
        store
            .claim_bucket_events(&a, 10_300, 10_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .claim_invocations(&a, 10_300, 10_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
