//! Conformance of the work queues: task runs and async invocations.

use super::{node, run};
use crate::{Effect, LogFilter, NewInvocation, NodeId, Store, TaskRunRequest, WorkRef};
use std::sync::Arc;
use strato_core::target::Target;
use strato_core::{LogLine, LogStream, RunRecord, RunStatus, Trigger};

fn new(id: &str, priority: strato_core::invocation::Priority, due_ms: i64) -> NewInvocation {
    NewInvocation {
        id: id.into(),
        app: "a".into(),
        target: Target::function("f"),
        priority,
        head: "{}".into(),
        body: id.as_bytes().to_vec(),
        due_ms,
        expires_ms: due_ms + 60_000,
        max_attempts: 3,
    }
}

pub async fn task_runs_are_durable_from_queue_to_end(store: Arc<dyn Store>) {
    let queued = |id: &str, attempt: u32| {
        let mut r = run(id, "a", "ffmpeg", RunStatus::Queued, 10).record;
        r.attempt = attempt;
        r.trigger = Trigger::Invoke;
        r
    };
    let request = serde_json::json!({"env": {"KEY": "clip.mp4"}});
    let task_run = |record: RunRecord| TaskRunRequest {
        record,
        request: request.clone(),
        due_ms: 0,
        cpus_milli: 0,
    };
    for id in ["t1", "t2"] {
        store
            .enqueue_task_run(&task_run(queued(id, 1)), &[], &node(), 100)
            .await
            .unwrap();
    }
    let pending = store.unfinished_task_runs().await.unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].record.id, "t1");
    assert_eq!(pending[0].request, request);
    assert_eq!(
        store.get_run("t1").await.unwrap().unwrap().status,
        RunStatus::Queued
    );

    store.start_task_run("t1", 20).await.unwrap();
    let running = store.get_run("t1").await.unwrap().unwrap();
    assert_eq!(
        (running.status, running.started_at_ms),
        (RunStatus::Running, 20)
    );
    let line = |text: &str| LogLine {
        ts_ms: 21,
        stream: LogStream::Stdout,
        text: text.into(),
    };
    store.append_logs(&running, &[line("first")]).await.unwrap();

    // t1 fails and its retry is queued in the same step.
    let mut failed = running.clone();
    failed.status = RunStatus::Failed;
    failed.exit_code = Some(3);
    let retry = queued("t1b", 2);
    store
        .finish_task_run(
            &failed,
            &[line("last")],
            &[Effect::QueueTaskRun(task_run(retry.clone()))],
        )
        .await
        .unwrap();
    let ids: Vec<String> = store
        .unfinished_task_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert_eq!(ids, ["t1b", "t2"]);
    let done = store.get_run("t1").await.unwrap().unwrap();
    assert_eq!((done.status, done.exit_code), (RunStatus::Failed, Some(3)));
    assert_eq!(store.get_run("t1b").await.unwrap().unwrap().attempt, 2);
    let logs = store
        .read_logs(&LogFilter {
            run_id: Some("t1".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let texts: Vec<&str> = logs.iter().map(|l| l.line.text.as_str()).collect();
    assert_eq!(texts, ["first", "last"]);

    // A run that ends for good queues its destination in the same step.
    let mut t2 = queued("t2", 1);
    t2.status = RunStatus::Succeeded;
    let destination = NewInvocation {
        id: "dest".into(),
        app: "a".into(),
        target: Target::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
        },
        priority: strato_core::invocation::Priority::Normal,
        head: "{}".into(),
        body: b"record".to_vec(),
        due_ms: 0,
        expires_ms: i64::MAX / 2,
        max_attempts: 5,
    };
    store
        .finish_task_run(&t2, &[], &[Effect::Enqueue(destination)])
        .await
        .unwrap();
    assert!(store.invocation_pending("dest").await.unwrap());
    let claimed = store
        .claim_invocations(&node(), 1, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].body, b"record");
}

pub async fn queued_task_runs_cancel_unless_a_node_holds_them(store: Arc<dyn Store>) {
    let a = NodeId("node-a".into());
    let task_run = |id: &str| TaskRunRequest {
        record: run(id, "a", "ffmpeg", RunStatus::Queued, 10).record,
        request: serde_json::json!({"id": id}),
        due_ms: 5_000,
        cpus_milli: 0,
    };
    // c1 waits unleased (a retry, due later); c2 is leased to node a.
    store
        .enqueue_task_run(&task_run("c1"), &[], &a, 0)
        .await
        .unwrap();
    store
        .enqueue_task_run(&task_run("c2"), &[], &a, 10_000)
        .await
        .unwrap();
    let cancelled = |id: &str| {
        let mut r = run(id, "a", "ffmpeg", RunStatus::Failed, 10).record;
        r.error = Some("cancelled".into());
        r
    };
    let next = task_run("c3");
    assert!(
        !store
            .cancel_task_run(&cancelled("c2"), &[], 1_000)
            .await
            .unwrap(),
        "node a holds c2"
    );
    assert!(
        store
            .cancel_task_run(&cancelled("c1"), &[Effect::QueueTaskRun(next)], 1_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .cancel_task_run(&cancelled("c1"), &[], 1_000)
            .await
            .unwrap(),
        "c1 has ended"
    );
    let c1 = store.get_run("c1").await.unwrap().unwrap();
    assert_eq!(
        (c1.status, c1.error.as_deref()),
        (RunStatus::Failed, Some("cancelled"))
    );
    let left: Vec<String> = store
        .unfinished_task_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record.id)
        .collect();
    assert_eq!(left, ["c2", "c3"], "the effects commit with the cancel");
    // Once node a's lease runs out, c2 is no one's and cancels.
    assert!(
        store
            .cancel_task_run(&cancelled("c2"), &[], 10_001)
            .await
            .unwrap()
    );
}

pub async fn task_runs_are_leased_claimed_and_renewed(store: Arc<dyn Store>) {
    let (a, b) = (NodeId("node-a".into()), NodeId("node-b".into()));
    let task_run = |id: &str, due_ms: i64| TaskRunRequest {
        record: run(id, "a", "ffmpeg", RunStatus::Queued, 10).record,
        request: serde_json::json!({"id": id}),
        due_ms,
        cpus_milli: 0,
    };
    let ids = |runs: Vec<TaskRunRequest>| -> Vec<String> {
        runs.into_iter().map(|r| r.record.id).collect()
    };
    // t1 is accepted and run by node a; t2 is a retry, unleased, due later.
    store
        .enqueue_task_run(&task_run("t1", 0), &[], &a, 10_000)
        .await
        .unwrap();
    store
        .enqueue_task_run(&task_run("t2", 5_000), &[], &a, 0)
        .await
        .unwrap();
    assert!(
        ids(store
            .claim_task_runs(&b, 1_000, 10_000, 10, crate::TaskRoom::ANY)
            .await
            .unwrap())
        .is_empty()
    );
    let claimed = store
        .claim_task_runs(&b, 5_000, 10_000, 10, crate::TaskRoom::ANY)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].record.id.as_str(), claimed[0].due_ms),
        ("t2", 5_000)
    );
    assert_eq!(claimed[0].request, serde_json::json!({"id": "t2"}));
    store.start_task_run("t2", 5_100).await.unwrap();
    assert!(
        ids(store
            .claim_task_runs(&a, 6_000, 10_000, 10, crate::TaskRoom::ANY)
            .await
            .unwrap())
        .is_empty()
    );
    // Node a's heartbeat keeps t1; it cannot renew node b's t2.
    store
        .renew_leases(
            &a,
            &[WorkRef::TaskRun("t1".into()), WorkRef::TaskRun("t2".into())],
            20_000,
        )
        .await
        .unwrap();
    assert!(
        ids(store
            .claim_task_runs(&a, 12_000, 10_000, 10, crate::TaskRoom::ANY)
            .await
            .unwrap())
        .is_empty()
    );
    // Node b's lease runs out (it died): t2 is anyone's, still running.
    let claimed = store
        .claim_task_runs(&a, 15_001, 10_000, 10, crate::TaskRoom::ANY)
        .await
        .unwrap();
    assert_eq!(ids(claimed.clone()), ["t2"]);
    assert_eq!(claimed[0].record.status, RunStatus::Running);
    // Node b restarting releases nothing of node a's; node a's does.
    store.release_leases(&b).await.unwrap();
    assert!(
        ids(store
            .claim_task_runs(&b, 15_002, 10_000, 10, crate::TaskRoom::ANY)
            .await
            .unwrap())
        .is_empty()
    );
    store.release_leases(&a).await.unwrap();
    assert_eq!(
        ids(store
            .claim_task_runs(&b, 15_003, 10_000, 10, crate::TaskRoom::ANY)
            .await
            .unwrap()),
        ["t1", "t2"]
    );
    // A finished run is never claimed again.
    let mut done = task_run("t1", 0).record;
    done.status = RunStatus::Succeeded;
    store.finish_task_run(&done, &[], &[]).await.unwrap();
    store.release_leases(&b).await.unwrap();
    assert_eq!(
        ids(store
            .claim_task_runs(&a, 15_004, 10_000, 10, crate::TaskRoom::ANY)
            .await
            .unwrap()),
        ["t2"]
    );
    // A queued run is claimed only by a node with room for its memory; an
    // interrupted one (to be ended) by anyone.
    let mut big = task_run("t3", 0);
    big.record.memory_limit_bytes = 512 << 20;
    store.enqueue_task_run(&big, &[], &a, 0).await.unwrap();
    store.release_leases(&a).await.unwrap();
    assert_eq!(
        ids(store
            .claim_task_runs(&b, 15_005, 10_000, 10, room(256 << 20, 4000))
            .await
            .unwrap()),
        ["t2"]
    );
    store.release_leases(&b).await.unwrap();
    assert_eq!(
        ids(store
            .claim_task_runs(&b, 15_006, 10_000, 10, room(512 << 20, 4000))
            .await
            .unwrap()),
        ["t2", "t3"]
    );
    // Likewise for CPUs: a 2-CPU run waits for a node with 2 free.
    let mut wide = task_run("t4", 0);
    wide.cpus_milli = 2000;
    store.enqueue_task_run(&wide, &[], &a, 0).await.unwrap();
    store.release_leases(&a).await.unwrap();
    store.release_leases(&b).await.unwrap();
    assert_eq!(
        ids(store
            .claim_task_runs(&b, 15_007, 10_000, 10, room(512 << 20, 1500))
            .await
            .unwrap()),
        ["t2", "t3"]
    );
    store.release_leases(&b).await.unwrap();
    let claimed = store
        .claim_task_runs(&b, 15_008, 10_000, 10, room(512 << 20, 2000))
        .await
        .unwrap();
    assert_eq!(claimed.last().map(|r| r.cpus_milli), Some(2000));
    assert_eq!(ids(claimed), ["t2", "t3", "t4"]);
}

fn room(memory_bytes: u64, cpus_milli: u32) -> crate::TaskRoom {
    crate::TaskRoom {
        memory_bytes,
        cpus_milli,
    }
}

pub async fn invocations_are_claimed_by_rank_leased_retried_and_settled(store: Arc<dyn Store>) {
    use strato_core::invocation::Priority;
    let now = 100_000;
    // Queued for a claimer (lease 0): a low one from 20 s ago outranks a
    // high one due now (its head start is 10 s), a normal one due now
    // comes after the high one, one due later is not claimed yet.
    store
        .enqueue_invocations(
            &[
                new("high", Priority::High, now),
                new("normal", Priority::Normal, now),
                new("old-low", Priority::Low, now - 20_000),
                new("later", Priority::High, now + 5_000),
            ],
            now,
            0,
            &node(),
        )
        .await
        .unwrap();
    assert_eq!(store.pending_invocations().await.unwrap(), 4);
    let claimed = store
        .claim_invocations(&node(), now, 1_000, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = claimed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["old-low", "high", "normal"]);
    assert!(claimed.iter().all(|i| i.attempts == 1));
    assert_eq!(claimed[0].body, b"old-low");
    // Leased: nobody else gets them until the lease runs out.
    assert!(
        store
            .claim_invocations(&node(), now + 500, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_invocations(&node(), now + 1_001, 1_000, 1)
        .await
        .unwrap();
    assert_eq!((again[0].id.as_str(), again[0].attempts), ("old-low", 2));
    // A retry waits for its due time; expired leases come back.
    let high = crate::Fence {
        work: crate::WorkRef::Invocation("high".into()),
        owner: node(),
        attempt: 1,
    };
    assert!(store.retry_invocation(&high, now + 3_000).await.unwrap());
    let ids: Vec<String> = store
        .claim_invocations(&node(), now + 2_500, 1_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["old-low", "normal"]);
    let retried = store
        .claim_invocations(&node(), now + 3_000, 1_000, 10)
        .await
        .unwrap();
    assert_eq!((retried[0].id.as_str(), retried[0].attempts), ("high", 2));
    // Work due now is stored already leased to its enqueuer.
    store
        .enqueue_invocations(&[new("fast", Priority::Normal, now)], now, 5_000, &node())
        .await
        .unwrap();
    assert!(
        store
            .claim_invocations(&node(), now + 1, 5_000, 10)
            .await
            .unwrap()
            .iter()
            .all(|i| i.id != "fast")
    );
    store.release_leases(&node()).await.unwrap();
    let freed: Vec<String> = store
        .claim_invocations(&node(), now + 1, 5_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert!(freed.contains(&"fast".to_string()), "{freed:?}");
    // The run that settles one deletes it in the same transaction.
    // ... and may queue follow-up work (a destination) in it too.
    let mut done = run("r-inv", "a", "f", RunStatus::Succeeded, now);
    done.effects = vec![
        Effect::SettleInvocation("fast".into()),
        Effect::Enqueue(new("dest", Priority::Normal, now)),
    ];
    store.record_runs(vec![done].into()).await.unwrap();
    assert_eq!(store.pending_invocations().await.unwrap(), 5);
    let next: Vec<String> = store
        .claim_invocations(&node(), now + 1, 1_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert!(next.contains(&"dest".to_string()), "{next:?}");
    let dest = crate::Fence {
        work: crate::WorkRef::Invocation("dest".into()),
        owner: node(),
        attempt: 1,
    };
    assert!(store.finish_invocation(&dest).await.unwrap());
    assert_eq!(store.pending_invocations().await.unwrap(), 4);
    assert!(store.get_run("r-inv").await.unwrap().is_some());
}

/// A node whose lease ran out while another node took the work over cannot
/// complete it: its run is recorded as superseded, its effects (settling,
/// follow-up work) do not apply, its retries change nothing; the new
/// holder completes the work once.
pub async fn completions_are_fenced_by_the_lease(store: Arc<dyn Store>) {
    use strato_core::invocation::Priority;
    let now = 1_000_000;
    let (a, b) = (node(), crate::NodeId("node-b".into()));
    store
        .enqueue_invocations(&[new("w", Priority::Normal, now)], now, 0, &a)
        .await
        .unwrap();
    let by_a = store.claim_invocations(&a, now, 1_000, 1).await.unwrap();
    assert_eq!(by_a[0].attempts, 1);
    // a's lease runs out (a partition, a long pause); b takes the work.
    let by_b = store
        .claim_invocations(&b, now + 1_001, 1_000, 1)
        .await
        .unwrap();
    assert_eq!((by_b[0].id.as_str(), by_b[0].attempts), ("w", 2));
    let fence_a = crate::Fence {
        work: crate::WorkRef::Invocation("w".into()),
        owner: a.clone(),
        attempt: 1,
    };
    let fence_b = crate::Fence {
        work: crate::WorkRef::Invocation("w".into()),
        owner: b.clone(),
        attempt: 2,
    };
    // a comes back and reports: nothing it would settle or queue happens.
    let mut late = run("r-a", "a", "f", RunStatus::Succeeded, now);
    late.fence = Some(fence_a.clone());
    late.effects = vec![
        Effect::SettleInvocation("w".into()),
        Effect::Enqueue(new("dest-a", Priority::Normal, now)),
    ];
    store.record_runs(vec![late].into()).await.unwrap();
    let recorded = store.get_run("r-a").await.unwrap().unwrap();
    assert_eq!(recorded.status, RunStatus::Failed);
    assert_eq!(recorded.error.as_deref(), Some(crate::SUPERSEDED));
    assert!(store.invocation_pending("w").await.unwrap());
    assert!(!store.invocation_pending("dest-a").await.unwrap());
    assert!(!store.retry_invocation(&fence_a, now + 9_000).await.unwrap());
    assert!(!store.finish_invocation(&fence_a).await.unwrap());
    assert!(store.invocation_pending("w").await.unwrap());
    // The holder completes it, once.
    let mut done = run("r-b", "a", "f", RunStatus::Succeeded, now);
    done.fence = Some(fence_b);
    done.effects = vec![Effect::SettleInvocation("w".into())];
    store.record_runs(vec![done].into()).await.unwrap();
    assert_eq!(
        store.get_run("r-b").await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    assert!(!store.invocation_pending("w").await.unwrap());

    // The same for a bucket event: claimed by a, taken over by b.
    store.create_bucket("fenced", None, 1).await.unwrap();
    let meta = super::objects::object("fenced", "k", "blob-f");
    let written = store
        .put_object(&meta, &Default::default(), &[super::objects::event("e")])
        .await
        .unwrap()
        .unwrap();
    let id = written.events[0].id;
    store.claim_bucket_events(&a, 10, 100, 10).await.unwrap();
    let taken = store.claim_bucket_events(&b, 200, 100, 10).await.unwrap();
    assert_eq!(taken[0].attempts, 2);
    let fence_a = crate::Fence {
        work: crate::WorkRef::BucketEvent(id),
        owner: a,
        attempt: 1,
    };
    assert!(!store.retry_bucket_event(&fence_a, 99_999).await.unwrap());
    let mut late = run("r-ea", "a", "f", RunStatus::Succeeded, 10);
    late.fence = Some(fence_a);
    late.effects = vec![Effect::SettleEvent(id)];
    store.record_runs(vec![late].into()).await.unwrap();
    assert_eq!(store.pending_bucket_events().await.unwrap(), 1);
    let mut done = run("r-eb", "a", "f", RunStatus::Succeeded, 10);
    done.fence = Some(crate::Fence {
        work: crate::WorkRef::BucketEvent(id),
        owner: b,
        attempt: 2,
    });
    done.effects = vec![Effect::SettleEvent(id)];
    store.record_runs(vec![done].into()).await.unwrap();
    assert_eq!(store.pending_bucket_events().await.unwrap(), 0);
}
