//! Schedules (`[schedules.NAME]`): cron or rate firings with overlap and
//! catch-up policies, as EventBridge Scheduler.
//!
//! Everything here is pure: which slots are due is a function of the
//! schedule, the last slot fired and "now", so the policies are tested
//! with any clock, and the engine only adds the store (exactly one firing
//! per slot) and the timer.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A slot later than this after its time counts as missed (downtime), so
/// `catch_up` decides about it; before, it fires as usual.
pub const MISFIRE_GRACE_MS: i64 = 5_000;
/// Default window within which `catch_up = "all"` fires missed slots.
pub const DEFAULT_CATCH_UP_WINDOW_MS: u64 = 3_600_000;
/// Most missed slots one catch-up fires.
pub const MAX_CATCH_UP_SLOTS: usize = 1_000;

/// A `[schedules.NAME]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub every: Every,
    /// IANA zone the cron fields are read in (`UTC` unless given).
    pub timezone: String,
    pub target: ScheduleTarget,
    /// Sent to the target: the `detail` of the scheduled event (a
    /// function or a task), or the message body (a queue).
    pub payload: String,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
    pub catch_up_window_ms: u64,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    /// 5 fields (minute first) or 6 (seconds first).
    Cron(String),
    /// A fixed period, counted from the Unix epoch (so slots are the same
    /// on every node and across restarts).
    Rate(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum ScheduleTarget {
    Function(String),
    Task(String),
    Queue(String),
    Workflow(String),
}

impl ScheduleTarget {
    pub fn describe(&self) -> String {
        match self {
            ScheduleTarget::Function(n) => format!("function:{n}"),
            ScheduleTarget::Task(n) => format!("task:{n}"),
            ScheduleTarget::Queue(n) => format!("queue:{n}"),
            ScheduleTarget::Workflow(n) => format!("workflow:{n}"),
        }
    }
}

/// What a slot does while the previous firing still runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The slot is skipped (recorded as such).
    #[default]
    Skip,
    /// Fires anyway; firings run side by side.
    Allow,
    /// One firing waits and starts when the running one ends; further
    /// slots meanwhile are skipped.
    QueueOne,
}

/// What happens to slots missed while the server was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Missed slots are dropped.
    #[default]
    None,
    /// The most recent missed slot within the window fires.
    Latest,
    /// Every missed slot within the window fires, oldest first.
    All,
}

impl Overlap {
    /// The manifest's spelling (`skip`, `allow`, `queue_one`).
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Allow => "allow",
            Overlap::QueueOne => "queue_one",
        }
    }
}

impl CatchUp {
    /// The manifest's spelling (`none`, `latest`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

/// A schedule that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "bad cron `{expr}`: {reason}; write 5 fields (\"*/5 * * * *\") or 6 with seconds first"
    )]
    Cron { expr: String, reason: String },
    #[error("unknown timezone `{0}`; use an IANA name such as \"Europe/Paris\" or \"UTC\"")]
    Timezone(String),
}

fn parse_cron(expr: &str) -> Result<croner::Cron, ScheduleError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| ScheduleError::Cron {
            expr: expr.to_string(),
            reason: e.to_string(),
        })
}

fn parse_zone(name: &str) -> Result<chrono_tz::Tz, ScheduleError> {
    chrono_tz::Tz::from_str(name).map_err(|_| ScheduleError::Timezone(name.to_string()))
}

/// Checks a cron expression and a timezone.
pub fn validate(every: &Every, timezone: &str) -> Result<(), ScheduleError> {
    parse_zone(timezone)?;
    if let Every::Cron(expr) = every {
        parse_cron(expr)?;
    }
    Ok(())
}

impl ScheduleSpec {
    /// The first slot strictly after `after_ms`, or `None` if there is
    /// none (a cron that can never match again).
    pub fn next_slot(&self, after_ms: i64) -> Option<i64> {
        match &self.every {
            Every::Rate(period) => {
                let period = *period as i64;
                Some((after_ms.div_euclid(period) + 1) * period)
            }
            Every::Cron(expr) => {
                let cron = parse_cron(expr).ok()?;
                let zone = parse_zone(&self.timezone).ok()?;
                let after: DateTime<Utc> = Utc.timestamp_millis_opt(after_ms).single()?;
                let next = cron
                    .find_next_occurrence(&after.with_timezone(&zone), false)
                    .ok()?;
                Some(next.timestamp_millis())
            }
        }
    }

    /// The slots to fire now, oldest first, given the last slot already
    /// fired (or, for a new schedule, when it was deployed) and the time.
    /// Slots older than [`MISFIRE_GRACE_MS`] were missed, and `catch_up`
    /// picks which of them fire; a late tick within the grace fires its
    /// latest slot as usual (`all` fires every one).
    pub fn due_slots(&self, last_ms: i64, now_ms: i64) -> Vec<i64> {
        let mut due = Vec::new();
        let mut missed = Vec::new();
        let window_start = now_ms - self.catch_up_window_ms as i64;
        let mut cursor = last_ms;
        // Start at the horizon: nothing before the window (or the grace,
        // with no catch-up) can fire, and a per-second cron after a week
        // down must not walk the whole week.
        let horizon = match self.catch_up {
            CatchUp::None => now_ms - MISFIRE_GRACE_MS,
            _ => window_start,
        };
        cursor = cursor.max(horizon - 1);
        while let Some(slot) = self.next_slot(cursor) {
            if slot > now_ms {
                break;
            }
            cursor = slot;
            if now_ms - slot <= MISFIRE_GRACE_MS {
                due.push(slot);
            } else if slot >= window_start {
                missed.push(slot);
                if missed.len() > MAX_CATCH_UP_SLOTS {
                    missed.remove(0);
                }
            }
        }
        // One firing per tick for `none` and `latest`: a few seconds of
        // lateness (a slow tick, a quick restart) is not a burst.
        match self.catch_up {
            CatchUp::None => due.last().copied().into_iter().collect(),
            CatchUp::Latest => due.last().or(missed.last()).copied().into_iter().collect(),
            CatchUp::All => missed.into_iter().chain(due).collect(),
        }
    }
}

/// What to do with a slot given the previous firing's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotAction {
    Fire,
    /// Record the slot as waiting; fire it when the running one ends.
    Wait,
    Skip,
}

/// The overlap policy applied to one slot.
pub fn decide_overlap(overlap: Overlap, previous_running: bool, one_waiting: bool) -> SlotAction {
    match (overlap, previous_running) {
        (_, false) if !one_waiting => SlotAction::Fire,
        (Overlap::Allow, _) => SlotAction::Fire,
        (Overlap::Skip, _) => SlotAction::Skip,
        (Overlap::QueueOne, _) if one_waiting => SlotAction::Skip,
        (Overlap::QueueOne, _) => SlotAction::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(every: Every, catch_up: CatchUp) -> ScheduleSpec {
        ScheduleSpec {
            every,
            timezone: "UTC".into(),
            target: ScheduleTarget::Function("f".into()),
            payload: "{}".into(),
            overlap: Overlap::Skip,
            catch_up,
            catch_up_window_ms: 3_600_000,
        }
    }

    const MIN: i64 = 60_000;
    // 2026-11-22T00:00:00Z
    const T0: i64 = 1_795_305_600_000;

    #[test]
    fn policies_are_shown_as_the_manifest_spells_them() {
        for overlap in [Overlap::Skip, Overlap::Allow, Overlap::QueueOne] {
            let serde_name = serde_json::to_value(overlap).unwrap();
            assert_eq!(serde_name, overlap.as_str());
        }
        for catch_up in [CatchUp::None, CatchUp::Latest, CatchUp::All] {
            let serde_name = serde_json::to_value(catch_up).unwrap();
            assert_eq!(serde_name, catch_up.as_str());
        }
        assert_eq!(Overlap::QueueOne.as_str(), "queue_one");
    }

    #[test]
    fn rate_slots_are_epoch_aligned_and_fire_once_each() {
        let s = spec(Every::Rate(MIN as u64), CatchUp::None);
        assert_eq!(s.next_slot(T0 + 1), Some(T0 + MIN));
        assert_eq!(s.next_slot(T0 + MIN), Some(T0 + 2 * MIN));
        // A tick 200 ms after the slot fires it; the next tick does not
        // fire it again because `last` moved on.
        assert_eq!(s.due_slots(T0, T0 + MIN + 200), vec![T0 + MIN]);
        assert!(s.due_slots(T0 + MIN, T0 + MIN + 900).is_empty());
    }

    #[test]
    fn five_and_six_field_crons_in_a_timezone() {
        let five = spec(Every::Cron("30 9 * * *".into()), CatchUp::None);
        // 09:30 UTC
        assert_eq!(five.next_slot(T0), Some(T0 + 9 * 60 * MIN + 30 * MIN));
        let mut paris = five.clone();
        paris.timezone = "Europe/Paris".into();
        // 09:30 in Paris in November is 08:30 UTC.
        assert_eq!(paris.next_slot(T0), Some(T0 + 8 * 60 * MIN + 30 * MIN));
        let six = spec(Every::Cron("*/10 * * * * *".into()), CatchUp::None);
        assert_eq!(six.next_slot(T0), Some(T0 + 10_000));
        // The 10 s slot is 11 s late (missed, no catch-up); 20 s is due.
        assert_eq!(six.due_slots(T0, T0 + 21_000), vec![T0 + 20_000]);
        assert!(validate(&Every::Cron("* * *".into()), "UTC").is_err());
        assert!(validate(&Every::Cron("* * * * *".into()), "Mars/Olympus").is_err());
    }

    #[test]
    fn catch_up_policies_after_downtime() {
        // Down from T0 to T0 + 10 min with a per-minute schedule: slots
        // 1..=10 were missed (the tenth only just).
        let now = T0 + 10 * MIN + 7_000;
        let none = spec(Every::Rate(MIN as u64), CatchUp::None);
        assert!(none.due_slots(T0, now).is_empty());
        let latest = spec(Every::Rate(MIN as u64), CatchUp::Latest);
        assert_eq!(latest.due_slots(T0, now), vec![T0 + 10 * MIN]);
        let all = spec(Every::Rate(MIN as u64), CatchUp::All);
        let slots = all.due_slots(T0, now);
        assert_eq!(slots.len(), 10);
        assert_eq!(slots[0], T0 + MIN);
        // The window bounds catch-up: 3 h down fires only the last hour.
        let mut windowed = all.clone();
        windowed.catch_up_window_ms = 30 * MIN as u64;
        let slots = windowed.due_slots(T0, T0 + 180 * MIN + 7_000);
        assert_eq!(slots.len(), 30);
        assert_eq!(*slots.last().unwrap(), T0 + 180 * MIN);
        // A due slot within the grace still fires alongside the caught-up.
        let slots = all.due_slots(T0, T0 + 10 * MIN + 1_000);
        assert_eq!(slots.len(), 10);
        assert_eq!(*slots.last().unwrap(), T0 + 10 * MIN);
        // A tick 3.5 s late on a per-second schedule: `none` and `latest`
        // fire the latest slot once, `all` fires the three.
        let per_second = |c| spec(Every::Rate(1_000), c);
        let late = T0 + 3_500;
        assert_eq!(
            per_second(CatchUp::None).due_slots(T0, late),
            vec![T0 + 3_000]
        );
        assert_eq!(
            per_second(CatchUp::Latest).due_slots(T0, late),
            vec![T0 + 3_000]
        );
        assert_eq!(per_second(CatchUp::All).due_slots(T0, late).len(), 3);
    }

    #[test]
    fn overlap_policies() {
        use SlotAction::*;
        assert_eq!(decide_overlap(Overlap::Skip, false, false), Fire);
        assert_eq!(decide_overlap(Overlap::Skip, true, false), Skip);
        assert_eq!(decide_overlap(Overlap::Allow, true, false), Fire);
        assert_eq!(decide_overlap(Overlap::QueueOne, true, false), Wait);
        assert_eq!(decide_overlap(Overlap::QueueOne, true, true), Skip);
        // A waiting firing goes first once the running one ended.
        assert_eq!(decide_overlap(Overlap::QueueOne, false, true), Skip);
    }
}
