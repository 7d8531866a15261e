//! The scheduler: fires each live schedule's slots.
//!
//! Every `TICK` it asks each schedule which slots are due since the last
//! one recorded (`strato_core::schedule` decides, with the catch-up
//! policy) and records each in the store with the work it queues (an
//! invocation of a function, a task start, a queue message) in one
//! transaction: a slot fires once however often it is looked at, after a
//! crash too. The overlap policy looks at the previous firing: still
//! queued or running means `skip` skips, `queue_one` records one waiting
//! slot that fires when the previous ends, `allow` fires anyway.

use crate::async_invoke::InvocationHead;
use crate::live::LiveSchedule;
use crate::platform::Platform;
use crate::util::{CloudEvent, format_rfc3339_ms, now_ms};
use std::sync::{Arc, Weak};
use std::time::Duration;
use strato_core::invocation::Priority;
use strato_core::schedule::{Overlap, ScheduleSpec, ScheduleTarget, SlotAction, decide_overlap};
use strato_core::target::Target;
use strato_core::{RunStatus, Trigger};
use strato_store::{Effect, NewInvocation, NewMessage, SlotOutcome, StoreError};

/// How often due slots are looked for.
const TICK: Duration = Duration::from_millis(250);
/// How many next fire times `strato schedules` shows.
const NEXT_SHOWN: usize = 3;

/// A schedule as `strato schedules` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScheduleInfo {
    pub app: String,
    pub name: String,
    pub every: String,
    pub timezone: String,
    pub target: String,
    pub overlap: String,
    pub catch_up: String,
    /// The next fire times (ms since the epoch).
    pub next_ms: Vec<i64>,
    pub last_slot_ms: Option<i64>,
    pub last_outcome: Option<String>,
}

impl Platform {
    /// Every live schedule (of `app`, if given) with its next fire times.
    pub async fn list_schedules(&self, app: Option<&str>) -> Result<Vec<ScheduleInfo>, StoreError> {
        let now = now_ms();
        let live = self.live();
        let mut keys: Vec<_> = live
            .schedules
            .iter()
            .filter(|((a, _), _)| app.is_none_or(|want| a == want))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        for ((a, name), live) in keys {
            let spec = &live.spec;
            let mut next_ms = Vec::new();
            let mut cursor = now;
            while next_ms.len() < NEXT_SHOWN {
                match spec.next_slot(cursor) {
                    Some(slot) => {
                        next_ms.push(slot);
                        cursor = slot;
                    }
                    None => break,
                }
            }
            let last = self.store.latest_schedule_slot(a, name).await?;
            out.push(ScheduleInfo {
                app: a.clone(),
                name: name.clone(),
                every: match &spec.every {
                    strato_core::schedule::Every::Cron(c) => format!("cron {c}"),
                    strato_core::schedule::Every::Rate(ms) => {
                        format!("rate {}", strato_core::units::format_duration(*ms))
                    }
                },
                timezone: spec.timezone.clone(),
                target: spec.target.describe(),
                overlap: spec.overlap.as_str().to_string(),
                catch_up: spec.catch_up.as_str().to_string(),
                next_ms,
                last_slot_ms: last.as_ref().map(|l| l.slot_ms),
                last_outcome: last.map(|l| l.outcome.as_str().to_string()),
            });
        }
        Ok(out)
    }

    /// Fires what is due at `now` for every live schedule.
    async fn tick_schedules(self: &Arc<Self>, now: i64) {
        let live = self.live();
        for ((app, name), schedule) in live.schedules.iter() {
            if let Err(e) = self.tick_schedule(app, name, schedule, now).await {
                tracing::error!(app, schedule = name, error = %e, "firing a schedule");
            }
        }
    }

    async fn tick_schedule(
        self: &Arc<Self>,
        app: &str,
        name: &str,
        live: &LiveSchedule,
        now: i64,
    ) -> Result<(), StoreError> {
        let spec = &live.spec;
        let mut latest = self.store.latest_schedule_slot(app, name).await?;
        // A waiting slot (queue_one) fires once the previous firing ended.
        if let Some(l) = &latest
            && l.outcome == SlotOutcome::Waiting
            && !self
                .previous_running(app, spec, l.invocation.as_deref())
                .await?
        {
            let work = self.slot_work(app, name, spec, l.slot_ms, now);
            if self
                .store
                .fire_waiting_slot(app, name, l.slot_ms, &[work], now)
                .await?
            {
                tracing::info!(app, schedule = name, slot = l.slot_ms, "waiting slot fired");
            }
            latest = self.store.latest_schedule_slot(app, name).await?;
        }
        let last = latest.as_ref().map_or(live.since_ms, |l| l.slot_ms);
        for slot in spec.due_slots(last, now) {
            let waiting = latest
                .as_ref()
                .is_some_and(|l| l.outcome == SlotOutcome::Waiting);
            let running = spec.overlap != Overlap::Allow
                && self
                    .previous_running(
                        app,
                        spec,
                        latest.as_ref().and_then(|l| l.invocation.as_deref()),
                    )
                    .await?;
            let (outcome, work) = match decide_overlap(spec.overlap, running, waiting) {
                SlotAction::Fire => (
                    SlotOutcome::Fired,
                    vec![self.slot_work(app, name, spec, slot, now)],
                ),
                SlotAction::Wait => (SlotOutcome::Waiting, Vec::new()),
                SlotAction::Skip => (SlotOutcome::Skipped, Vec::new()),
            };
            if self
                .store
                .record_schedule_slot(app, name, slot, outcome, &work, now)
                .await?
            {
                tracing::info!(
                    app,
                    schedule = name,
                    slot,
                    outcome = outcome.as_str(),
                    "schedule slot"
                );
            }
            latest = self.store.latest_schedule_slot(app, name).await?;
        }
        Ok(())
    }

    /// Whether the firing that queued `invocation` is still queued or
    /// running (for a task: also a run it started).
    async fn previous_running(
        &self,
        app: &str,
        spec: &ScheduleSpec,
        invocation: Option<&str>,
    ) -> Result<bool, StoreError> {
        if let Some(id) = invocation
            && self.store.invocation_pending(id).await?
        {
            return Ok(true);
        }
        Ok(match &spec.target {
            ScheduleTarget::Task(task) => {
                self.store.unfinished_task_runs().await?.iter().any(|t| {
                    t.record.app == app
                        && t.record.function == *task
                        && t.record.trigger == Trigger::Schedule
                        && matches!(t.record.status, RunStatus::Queued | RunStatus::Running)
                })
            }
            _ => false,
        })
    }

    /// What firing `slot` queues: the scheduled event for a function or a
    /// task, the payload as a message for a queue.
    fn slot_work(&self, app: &str, name: &str, spec: &ScheduleSpec, slot: i64, now: i64) -> Effect {
        let id = self.runs.next_id('i');
        let detail = serde_json::from_str::<serde_json::Value>(&spec.payload)
            .unwrap_or_else(|_| spec.payload.clone().into());
        // EventBridge Scheduler's event shape.
        let event = serde_json::json!({
            "version": "0",
            "id": id,
            "detail-type": "Scheduled Event",
            "source": "strato.scheduler",
            // No AWS accounts here: twelve zeros, as in the SQS ARN.
            "account": "000000000000",
            "time": format_rfc3339_ms(slot),
            "region": self.config.region,
            "resources": [format!("strato:{app}:schedule/{name}")],
            "detail": detail,
        })
        .to_string();
        let invocation = |target: Target, head: InvocationHead, max_attempts: u32, age: u64| {
            Effect::Enqueue(NewInvocation {
                id: id.clone(),
                app: app.to_string(),
                target,
                priority: Priority::Normal,
                head: serde_json::to_string(&head).expect("heads serialize"),
                body: event.clone().into_bytes(),
                due_ms: now,
                expires_ms: now + age as i64,
                max_attempts,
            })
        };
        match &spec.target {
            ScheduleTarget::Function(f) => {
                let mut head = InvocationHead::json_post("/");
                head.trigger = Some(Trigger::Schedule.as_str().into());
                head.headers = CloudEvent {
                    id: id.clone(),
                    kind: "strato.scheduler.Scheduled Event".into(),
                    source: format!("strato:schedule:{name}"),
                    time_ms: slot,
                    subject: None,
                }
                .headers();
                let (attempts, age) = self
                    .live()
                    .function(app, f)
                    .map_or((1, strato_core::invocation::DEFAULT_MAX_AGE_MS), |l| {
                        (l.spec.retries + 1, l.spec.max_age_ms)
                    });
                invocation(Target::function(f), head, attempts, age)
            }
            // The execution's input is the scheduled event (the payload
            // in `$.detail`), as EventBridge gives a state machine target.
            ScheduleTarget::Workflow(w) => invocation(
                Target::Workflow { name: w.clone() },
                InvocationHead::json_post("/"),
                5,
                strato_core::invocation::DEFAULT_MAX_AGE_MS,
            ),
            ScheduleTarget::Task(t) => {
                let mut head = InvocationHead::json_post("/");
                head.trigger = Some(Trigger::Schedule.as_str().into());
                head.env = Some("SCHEDULE_EVENT".into());
                invocation(
                    Target::task(t),
                    head,
                    5,
                    strato_core::invocation::DEFAULT_MAX_AGE_MS,
                )
            }
            ScheduleTarget::Queue(q) => {
                let retention = self
                    .live()
                    .queue(app, q)
                    .map_or(strato_core::queue::DEFAULT_RETENTION_MS, |s| s.retention_ms);
                Effect::SendMessage {
                    app: app.to_string(),
                    queue: q.clone(),
                    message: NewMessage {
                        id: format!("m{}", &id[1..]),
                        body: spec.payload.clone().into_bytes(),
                        visible_ms: now,
                        expires_ms: now + retention as i64,
                        traceparent: None,
                    },
                }
            }
        }
    }
}

/// Runs until the platform is dropped: fires due slots every [`TICK`].
pub(crate) async fn run_scheduler(platform: Weak<Platform>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(platform) = platform.upgrade() else {
            return;
        };
        if platform.live().schedules.is_empty() || platform.status.draining() {
            continue;
        }
        // Messages a slot sends are found by the queue's consumer on its
        // next idle poll.
        platform.tick_schedules(now_ms()).await;
    }
}
