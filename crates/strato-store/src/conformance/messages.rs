//! Conformance of queue messages and schedule slots.

use super::node;
use crate::{Effect, NewInvocation, NewMessage, ReceivePolicy, SlotOutcome, Store, WorkRef};
use std::sync::Arc;
use strato_core::target::Target;

fn message(id: &str, visible_ms: i64) -> NewMessage {
    NewMessage {
        id: id.into(),
        body: format!("body of {id}").into_bytes(),
        visible_ms,
        expires_ms: visible_ms + 3_600_000,
        traceparent: Some(format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{:016x}-01",
            id.len()
        )),
    }
}

pub async fn messages_are_received_hidden_deleted_and_dead_lettered(store: Arc<dyn Store>) {
    let now = 1_000_000;
    let policy = ReceivePolicy {
        visibility_ms: 30_000,
        max_receives: Some(2),
        dead_letter: Some("dlq".into()),
    };
    store
        .send_messages(
            "a",
            "jobs",
            &[
                message("m1", now),
                message("m2", now),
                message("later", now + 5_000),
            ],
            now,
        )
        .await
        .unwrap();
    // Another app's queue of the same name is another queue.
    store
        .send_messages("b", "jobs", &[message("other", now)], now)
        .await
        .unwrap();
    let stats = store.queue_stats("a", "jobs", now).await.unwrap();
    assert_eq!((stats.visible, stats.delayed, stats.in_flight), (2, 1, 0));

    // Oldest first, at most `max`, each with a receipt; then hidden.
    let got = store
        .receive_messages("a", "jobs", now, 1, &policy)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "m1");
    assert_eq!(got[0].body, b"body of m1");
    assert_eq!(
        got[0].traceparent,
        message("m1", now).traceparent,
        "a message keeps its sender's span"
    );
    assert_eq!((got[0].receive_count, got[0].first_receive_ms), (1, now));
    let got2 = store
        .receive_messages("a", "jobs", now, 10, &policy)
        .await
        .unwrap();
    assert_eq!(
        got2.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m2"]
    );
    assert_eq!(
        store.queue_stats("a", "jobs", now).await.unwrap().in_flight,
        2
    );

    // Delete needs the current receipt; a made-up one deletes nothing.
    assert_eq!(
        store
            .delete_messages(
                "a",
                "jobs",
                &[got2[0].receipt.clone(), "7.bogus".into(), "junk".into()]
            )
            .await
            .unwrap(),
        [true, false, false]
    );
    // Change visibility: m1 comes back at once.
    assert_eq!(
        store
            .change_message_visibility("a", "jobs", &[got[0].receipt.clone()], now)
            .await
            .unwrap(),
        [true]
    );
    let again = store
        .receive_messages("a", "jobs", now, 10, &policy)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].receive_count), ("m1", 2));
    assert_ne!(
        again[0].receipt, got[0].receipt,
        "receipts change per receive"
    );
    // The old receipt no longer deletes it.
    assert_eq!(
        store
            .delete_messages("a", "jobs", &[got[0].receipt.clone()])
            .await
            .unwrap(),
        [false]
    );
    // After the visibility timeout: m1 was received twice, so it moves to
    // the dead-letter queue instead; `later` is due by then.
    let t = now + 31_000;
    let third = store
        .receive_messages("a", "jobs", t, 10, &policy)
        .await
        .unwrap();
    assert_eq!(
        third.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["later"]
    );
    let dlq = store.queue_stats("a", "dlq", t).await.unwrap();
    assert_eq!(dlq.visible, 1);
    assert_eq!(dlq.oldest_age_ms, Some(31_000));
    // Redrive moves it back with a fresh receive count.
    assert_eq!(store.redrive_messages("a", "dlq", t).await.unwrap(), 1);
    let back = store
        .receive_messages("a", "jobs", t, 10, &policy)
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].id.as_str(), back[0].receive_count), ("m1", 1));
    // Expired messages are dropped; purge empties a queue.
    store
        .send_messages(
            "a",
            "short",
            &[NewMessage {
                expires_ms: now + 10,
                ..message("gone", now)
            }],
            now,
        )
        .await
        .unwrap();
    assert!(
        store
            .receive_messages("a", "short", now + 20, 10, &policy)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.purge_queue("a", "jobs").await.unwrap(), 2);
    assert_eq!(
        store.queue_stats("a", "jobs", t).await.unwrap(),
        Default::default()
    );
    assert_eq!(
        store.queue_stats("b", "jobs", now).await.unwrap().visible,
        1
    );
}

pub async fn schedule_slots_fire_once_and_queue_their_work(store: Arc<dyn Store>) {
    use strato_core::invocation::Priority;
    let invocation = |id: &str| NewInvocation {
        id: id.into(),
        app: "a".into(),
        target: Target::function("f"),
        priority: Priority::Normal,
        head: "{}".into(),
        body: vec![],
        due_ms: 0,
        expires_ms: i64::MAX / 2,
        max_attempts: 1,
    };
    assert_eq!(store.latest_schedule_slot("a", "tick").await.unwrap(), None);
    let fired = async |id: &str| {
        store
            .record_schedule_slot(
                "a",
                "tick",
                60_000,
                SlotOutcome::Fired,
                &[Effect::Enqueue(invocation(id))],
                60_001,
            )
            .await
            .unwrap()
    };
    // Two schedulers racing for one slot: one fires it, one queues nothing.
    assert!(fired("i1").await);
    assert!(!fired("i2").await);
    assert_eq!(store.pending_invocations().await.unwrap(), 1);
    assert!(store.invocation_pending("i1").await.unwrap());
    assert!(!store.invocation_pending("i2").await.unwrap());
    let latest = store
        .latest_schedule_slot("a", "tick")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (latest.slot_ms, latest.outcome, latest.invocation.as_deref()),
        (60_000, SlotOutcome::Fired, Some("i1"))
    );
    // A queue target sends its message in the same transaction.
    assert!(
        store
            .record_schedule_slot(
                "a",
                "poke",
                60_000,
                SlotOutcome::Fired,
                &[Effect::SendMessage {
                    app: "a".into(),
                    queue: "jobs".into(),
                    message: message("s1", 60_000)
                }],
                60_001,
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .queue_stats("a", "jobs", 60_001)
            .await
            .unwrap()
            .visible,
        1
    );
    // A waiting slot fires later, once.
    assert!(
        store
            .record_schedule_slot("a", "tick", 120_000, SlotOutcome::Waiting, &[], 120_001)
            .await
            .unwrap()
    );
    let waiting = store
        .latest_schedule_slot("a", "tick")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.outcome, SlotOutcome::Waiting);
    // It still names the running firing's invocation, for overlap checks.
    assert_eq!(waiting.invocation.as_deref(), Some("i1"));
    assert!(
        store
            .fire_waiting_slot(
                "a",
                "tick",
                120_000,
                &[Effect::Enqueue(invocation("i3"))],
                125_000
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .fire_waiting_slot(
                "a",
                "tick",
                120_000,
                &[Effect::Enqueue(invocation("i4"))],
                125_000
            )
            .await
            .unwrap()
    );
    assert_eq!(store.pending_invocations().await.unwrap(), 2);
    // Heartbeats renew only leased invocations (i3 is unleased, i1 too).
    store
        .renew_leases(&node(), &[WorkRef::Invocation("i1".into())], 999_999)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_invocations(&node(), 130_000, 1_000, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    store
        .renew_leases(
            &node(),
            &[
                WorkRef::Invocation("i1".into()),
                WorkRef::Invocation("i3".into()),
            ],
            500_000,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_invocations(&node(), 200_000, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_invocations(&node(), 500_001, 1_000, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}
