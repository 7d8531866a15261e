//! Checks of workflow executions, their history and their steps.

use crate::{
    BranchEnd, Effect, Execution, ExecutionEnd, ExecutionFilter, ExecutionStatus, Fence,
    NewExecution, NewHistoryEvent, NodeId, Store, WorkRef, WorkflowAdvance, WorkflowStep,
};
use serde_json::json;
use std::sync::Arc;

pub(super) fn execution(id: &str, name: &str) -> Execution {
    Execution {
        id: id.into(),
        app: "shop".into(),
        workflow: "orders".into(),
        revision: 3,
        name: name.into(),
        status: ExecutionStatus::Running,
        input: json!({"order": 1}),
        output: None,
        error: None,
        cause: None,
        started_ms: 100,
        stopped_ms: None,
        parent: None,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
    }
}

fn event(kind: &str, ts_ms: i64) -> NewHistoryEvent {
    NewHistoryEvent {
        ts_ms,
        kind: kind.into(),
        details: json!({"name": kind}),
    }
}

fn step(id: &str, execution: &str, due_ms: i64) -> WorkflowStep {
    WorkflowStep {
        id: id.into(),
        execution: execution.into(),
        due_ms,
        step: json!({"state": id}),
        attempts: 0,
        lease_owner: String::new(),
        lease_until_ms: 0,
    }
}

fn fence(id: &str, owner: &NodeId, attempt: u32) -> Fence {
    Fence {
        work: WorkRef::WorkflowStep(id.into()),
        owner: owner.clone(),
        attempt,
    }
}

fn ids(steps: &[WorkflowStep]) -> Vec<&str> {
    steps.iter().map(|s| s.id.as_str()).collect()
}

pub async fn workflow_steps_advance_once_under_fences(store: Arc<dyn Store>) {
    let (a, b) = (NodeId("node-a".into()), NodeId("node-b".into()));
    let started = [event("ExecutionStarted", 100)];
    assert!(
        store
            .start_execution(&execution("e1", "first"), &started, &[step("s1", "e1", 0)])
            .await
            .unwrap()
    );
    // Names are unique per workflow.
    assert!(
        !store
            .start_execution(&execution("e9", "first"), &started, &[])
            .await
            .unwrap()
    );
    assert_eq!(store.get_execution("e9").await.unwrap(), None);
    let found = store
        .find_execution("shop", "orders", "first")
        .await
        .unwrap();
    assert_eq!(found, Some(execution("e1", "first")));

    // Claimed once at a time, with its attempt counted.
    let claimed = store.claim_workflow_steps(&a, 10, 1_000, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["s1"]);
    assert_eq!(
        (claimed[0].attempts, &claimed[0].step),
        (1, &json!({"state": "s1"}))
    );
    assert!(
        store
            .claim_workflow_steps(&b, 20, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let advance = WorkflowAdvance {
        execution: "e1".into(),
        events: vec![event("PassStateEntered", 30), event("PassStateExited", 31)],
        next: vec![step("s2", "e1", 0), step("s3", "e1", 1_000_000)],
        effects: vec![],
        end: None,
        drops_children: false,
    };
    assert!(
        store
            .advance_workflow(&fence("s1", &a, 1), &advance)
            .await
            .unwrap()
    );
    // A repeated completion changes nothing.
    assert!(
        !store
            .advance_workflow(&fence("s1", &a, 1), &advance)
            .await
            .unwrap()
    );
    let history = store.execution_history("e1", 0, 100).await.unwrap();
    let kinds: Vec<(i64, &str)> = history.iter().map(|e| (e.id, e.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (1, "ExecutionStarted"),
            (2, "PassStateEntered"),
            (3, "PassStateExited")
        ]
    );
    assert_eq!(history[1].details, json!({"name": "PassStateEntered"}));
    assert_eq!(
        store.execution_history("e1", 2, 100).await.unwrap().len(),
        1
    );

    // Node b takes s2 and dies; once its lease runs out node a takes it
    // over, and b's late completion is refused.
    assert_eq!(
        ids(&store.claim_workflow_steps(&b, 40, 1_000, 10).await.unwrap()),
        ["s2"]
    );
    assert!(
        store
            .claim_workflow_steps(&a, 500, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = store
        .claim_workflow_steps(&a, 1_041, 1_000, 10)
        .await
        .unwrap();
    assert_eq!((ids(&taken), taken[0].attempts), (vec!["s2"], 2));
    let late = WorkflowAdvance {
        execution: "e1".into(),
        events: vec![event("TaskStateEntered", 1_050)],
        effects: vec![Effect::SendMessage {
            app: "shop".into(),
            queue: "approvals".into(),
            message: crate::NewMessage {
                id: "m1".into(),
                body: b"token".to_vec(),
                visible_ms: 0,
                expires_ms: i64::MAX,
                traceparent: None,
            },
        }],
        ..Default::default()
    };
    assert!(
        !store
            .advance_workflow(&fence("s2", &b, 1), &late)
            .await
            .unwrap()
    );
    assert!(
        store
            .advance_workflow(&fence("s2", &a, 2), &late)
            .await
            .unwrap()
    );
    assert_eq!(
        store.execution_history("e1", 0, 100).await.unwrap().len(),
        4
    );

    // A step queued leased to its queuer (who runs it at once) is its,
    // first attempt counted, until the lease runs out.
    let mut own = step("s5", "e5", 0);
    own.lease_owner = a.0.clone();
    own.lease_until_ms = 5_000;
    let queue_own = WorkflowAdvance {
        execution: "e1".into(),
        next: vec![own],
        ..Default::default()
    };
    let mut taken_again = store
        .claim_workflow_steps(&a, 1_100, 1_000, 10)
        .await
        .unwrap();
    assert!(taken_again.is_empty());
    let mut carrier = step("s6", "e1", 0);
    carrier.step = json!({"state": "carrier"});
    store
        .start_execution(&execution("e5", "carried"), &[], &[carrier])
        .await
        .unwrap();
    taken_again = store
        .claim_workflow_steps(&a, 1_100, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&taken_again), ["s6"]);
    let queue_own = WorkflowAdvance {
        execution: "e5".into(),
        ..queue_own
    };
    assert!(
        store
            .advance_workflow(&fence("s6", &a, 1), &queue_own)
            .await
            .unwrap()
    );
    let early = store
        .claim_workflow_steps(&b, 4_999, 1_000, 10)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    let done = WorkflowAdvance {
        execution: "e5".into(),
        ..Default::default()
    };
    assert!(
        store
            .advance_workflow(&fence("s5", &a, 1), &done)
            .await
            .unwrap()
    );

    // A parked step is resumed once with its answer, or moved (heartbeat).
    assert!(store.delay_workflow_step("s3", 2_000_000).await.unwrap());
    assert!(!store.delay_workflow_step("nope", 1).await.unwrap());
    assert!(
        store
            .resume_workflow_step("s3", &json!({"ok": 1}))
            .await
            .unwrap()
    );
    assert!(
        !store
            .resume_workflow_step("s3", &json!({"ok": 2}))
            .await
            .unwrap()
    );
    let resumed = store
        .claim_workflow_steps(&a, 2_000, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&resumed), ["s3"]);
    assert_eq!(
        resumed[0].step,
        json!({"state": "s3", "outcome": {"ok": 1}})
    );

    // Ending the execution drops its pending steps.
    let end = WorkflowAdvance {
        execution: "e1".into(),
        events: vec![event("ExecutionSucceeded", 2_100)],
        next: vec![step("s4", "e1", 0)],
        effects: vec![],
        end: Some(ExecutionEnd {
            status: ExecutionStatus::Succeeded,
            output: Some(json!({"done": true})),
            error: None,
            cause: None,
            stopped_ms: 2_100,
        }),
        drops_children: false,
    };
    assert!(
        store
            .advance_workflow(&fence("s3", &a, 1), &end)
            .await
            .unwrap()
    );
    let e1 = store.get_execution("e1").await.unwrap().unwrap();
    assert_eq!(
        (e1.status, e1.output, e1.stopped_ms),
        (
            ExecutionStatus::Succeeded,
            Some(json!({"done": true})),
            Some(2_100)
        )
    );
    assert!(
        store
            .claim_workflow_steps(&a, 1 << 40, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let history = store.execution_history("e1", 0, 100).await.unwrap();
    assert_eq!(
        (history.len(), history[4].kind.as_str()),
        (5, "ExecutionSucceeded")
    );
}

pub async fn executions_are_listed_stopped_and_resumed_by_runs(store: Arc<dyn Store>) {
    for (id, name) in [("e1", "one"), ("e2", "two"), ("e3", "three")] {
        let mut e = execution(id, name);
        if id == "e3" {
            e.workflow = "refunds".into();
        }
        if id != "e2" {
            e.trace_id = Some(format!("{:032x}", 7));
            e.span_id = Some(format!("{:016x}", id.len() + 10));
            e.parent_span_id = (id == "e3").then(|| format!("{:016x}", 3));
        }
        let parked = step(&format!("{id}-wait"), id, 1 << 40);
        store
            .start_execution(&e, &[event("ExecutionStarted", 1)], &[parked])
            .await
            .unwrap();
    }
    let listed = |filter: ExecutionFilter| {
        let store = store.clone();
        async move {
            store
                .list_executions(&ExecutionFilter {
                    limit: 10,
                    ..filter
                })
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(Default::default()).await, ["e3", "e2", "e1"]);
    let orders = ExecutionFilter {
        workflow: Some("orders".into()),
        ..Default::default()
    };
    assert_eq!(listed(orders.clone()).await, ["e2", "e1"]);
    let page = ExecutionFilter {
        before: Some("e2".into()),
        ..orders
    };
    assert_eq!(listed(page).await, ["e1"]);
    // A trace's executions, whatever else the filter says.
    let traced = ExecutionFilter {
        trace_id: Some(format!("{:032x}", 7)),
        workflow: Some("orders".into()),
        ..Default::default()
    };
    assert_eq!(listed(traced).await, ["e3", "e1"]);
    let e3 = store.get_execution("e3").await.unwrap().unwrap();
    assert_eq!(
        (e3.span_id.as_deref(), e3.parent_span_id.as_deref()),
        (Some("000000000000000c"), Some("0000000000000003"))
    );
    let untraced = ExecutionFilter {
        trace_id: Some(format!("{:032x}", 8)),
        ..Default::default()
    };
    assert!(listed(untraced).await.is_empty());

    // StopExecution: aborted once, its steps gone.
    let aborted = ExecutionEnd {
        status: ExecutionStatus::Aborted,
        output: None,
        error: Some("Stopped".into()),
        cause: Some("by a test".into()),
        stopped_ms: 50,
    };
    let events = [event("ExecutionAborted", 50)];
    assert!(store.end_execution("e2", &aborted, &events).await.unwrap());
    assert!(!store.end_execution("e2", &aborted, &events).await.unwrap());
    assert!(
        !store
            .resume_workflow_step("e2-wait", &json!(1))
            .await
            .unwrap()
    );
    let running = ExecutionFilter {
        status: Some(ExecutionStatus::Running),
        ..Default::default()
    };
    assert_eq!(listed(running).await, ["e3", "e1"]);
    let e2 = store.get_execution("e2").await.unwrap().unwrap();
    assert_eq!(
        (e2.status, e2.error.as_deref()),
        (ExecutionStatus::Aborted, Some("Stopped"))
    );
    assert_eq!(store.execution_history("e2", 0, 10).await.unwrap().len(), 2);

    // A function run answering a parked step resumes it in its record's
    // transaction.
    let mut run = super::run("r1", "shop", "inc", strato_core::RunStatus::Succeeded, 5);
    run.effects = vec![Effect::ResumeWorkflowStep {
        id: "e1-wait".into(),
        outcome: json!({"Payload": 2}),
    }];
    store.record_runs(vec![run].into()).await.unwrap();
    let claimed = store
        .claim_workflow_steps(&NodeId("n".into()), 60, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["e1-wait"]);
    assert_eq!(claimed[0].step["outcome"], json!({"Payload": 2}));
}

fn branch_end(join: &str, index: u32, total: u32, max_concurrency: u32) -> Effect {
    Effect::EndWorkflowBranch(BranchEnd {
        join: join.into(),
        execution: "e1".into(),
        index,
        outcome: json!({"ok": index}),
        total,
        max_concurrency,
        wake: false,
    })
}

/// Advances the step `id` (claimed once by `node`) with `effects`.
async fn advance_with(store: &Arc<dyn Store>, node: &NodeId, id: &str, effects: Vec<Effect>) {
    let advance = WorkflowAdvance {
        execution: "e1".into(),
        effects,
        ..Default::default()
    };
    assert!(
        store
            .advance_workflow(&fence(id, node, 1), &advance)
            .await
            .unwrap(),
        "advancing {id}"
    );
}

pub async fn branches_report_to_their_join_once(store: Arc<dyn Store>) {
    let a = NodeId("node-a".into());
    let never = 1 << 50;
    // A Parallel state's two branches (k/0 and k/1), due first; a Map with
    // MaxConcurrency 1 over three items: its join and items 1 and 2
    // parked, item 0 due; a parked step of item 2; a step outside.
    let steps = [
        step("k", "e1", never),
        step("k/0", "e1", 5),
        step("k/1", "e1", 5),
        step("j", "e1", never),
        step("j/0", "e1", 7),
        step("j/1", "e1", never),
        step("j/2", "e1", never),
        step("j/2/later", "e1", never),
        step("jx/0", "e1", never),
    ];
    assert!(
        store
            .start_execution(&execution("e1", "fan"), &[], &steps)
            .await
            .unwrap()
    );
    let claim = |now: i64| {
        let (store, a) = (store.clone(), a.clone());
        async move {
            let claimed = store
                .claim_workflow_steps(&a, now, 1_000, 10)
                .await
                .unwrap();
            claimed.into_iter().map(|s| s.id).collect::<Vec<_>>()
        }
    };

    // Branches ending at once, on two connections: whichever commits
    // last wakes the join, which sees both outcomes.
    assert_eq!(claim(5).await, ["k/0", "k/1"]);
    tokio::join!(
        advance_with(&store, &a, "k/0", vec![branch_end("k", 0, 2, 0)]),
        advance_with(&store, &a, "k/1", vec![branch_end("k", 1, 2, 0)]),
    );
    assert_eq!(claim(6).await, ["k"]);
    assert_eq!(store.workflow_results("k").await.unwrap().len(), 2);
    let done = WorkflowAdvance {
        execution: "e1".into(),
        drops_children: true,
        ..Default::default()
    };
    assert!(
        store
            .advance_workflow(&fence("k", &a, 1), &done)
            .await
            .unwrap()
    );

    assert_eq!(claim(10).await, ["j/0"]);
    advance_with(&store, &a, "j/0", vec![branch_end("j", 0, 3, 1)]).await;
    // Each outcome starts the next parked item, not the join.
    assert_eq!(claim(20).await, ["j/1"]);
    // An outcome repeated (a child's last step run twice) counts once.
    advance_with(
        &store,
        &a,
        "j/1",
        vec![branch_end("j", 0, 3, 1), branch_end("j", 1, 3, 1)],
    )
    .await;
    assert_eq!(claim(30).await, ["j/2"]);
    advance_with(&store, &a, "j/2", vec![branch_end("j", 2, 3, 1)]).await;
    // The last outcome wakes the join, which reads them all in order.
    assert_eq!(claim(40).await, ["j"]);
    let results = store.workflow_results("j").await.unwrap();
    assert_eq!(
        results,
        [
            (0, json!({"ok": 0})),
            (1, json!({"ok": 1})),
            (2, json!({"ok": 2}))
        ]
    );
    // The join's advance drops its results and its children's steps,
    // and nothing else.
    assert!(
        store
            .advance_workflow(&fence("j", &a, 1), &done)
            .await
            .unwrap()
    );
    assert!(store.workflow_results("j").await.unwrap().is_empty());
    assert_eq!(claim(never + 1).await, ["jx/0"]);
    // An outcome arriving after its join ended is dropped; a nested
    // execution starts with the step that starts it.
    let mut child = execution("child", "nested");
    child.parent = Some("jx/0".into());
    let nested = Effect::StartExecution(Box::new(NewExecution {
        execution: child.clone(),
        events: vec![event("ExecutionStarted", 50)],
        steps: vec![step("c1", "child", 0)],
    }));
    advance_with(&store, &a, "jx/0", vec![branch_end("j", 1, 3, 1), nested]).await;
    assert!(store.workflow_results("j").await.unwrap().is_empty());
    assert_eq!(store.get_execution("child").await.unwrap(), Some(child));
    assert_eq!(claim(never + 2).await, ["c1"]);
    assert_eq!(
        store.execution_history("child", 0, 10).await.unwrap().len(),
        1
    );
}
