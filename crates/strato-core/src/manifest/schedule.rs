//! `[schedules.NAME]`: cron and rate schedules in the manifest.

use super::queue::duration_in;
use super::{Locator, ManifestError, SourceMap};
use crate::names::ScheduleName;
use crate::schedule::{
    CatchUp, DEFAULT_CATCH_UP_WINDOW_MS, Every, Overlap, ScheduleSpec, ScheduleTarget,
};
use crate::units::parse_duration_ms;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    cron: Option<Spanned<String>>,
    rate: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    function: Option<Spanned<String>>,
    task: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
    workflow: Option<Spanned<String>>,
    payload: Option<Spanned<toml::Value>>,
    overlap: Option<Spanned<String>>,
    catch_up: Option<Spanned<String>>,
    catch_up_window: Option<Spanned<String>>,
}

pub(super) fn validate_schedule(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &ScheduleName,
    raw: &Spanned<RawSchedule>,
) -> Result<ScheduleSpec, ManifestError> {
    let key = format!("schedules.{name}");
    sources.record(key.clone(), loc.position(raw.span().start));
    let table = raw;
    let raw = raw.get_ref();
    let every = match (&raw.cron, &raw.rate) {
        (Some(c), None) => Every::Cron(c.get_ref().trim().to_string()),
        (None, Some(r)) => {
            let ms = parse_duration_ms(r.get_ref())
                .map_err(|e| loc.error(r, format!("bad `rate`: {e}")))?;
            if ms < 1_000 {
                return Err(loc.error(r, "`rate` must be at least 1s"));
            }
            Every::Rate(ms)
        }
        _ => {
            return Err(loc.error(
                table,
                format!("[schedules.{name}] needs exactly one of `cron = \"*/5 * * * *\"` or `rate = \"5m\"`"),
            ));
        }
    };
    let timezone = raw
        .timezone
        .as_ref()
        .map(|t| t.get_ref().clone())
        .unwrap_or_else(|| "UTC".into());
    if let Err(e) = crate::schedule::validate(&every, &timezone) {
        let at = match (&e, &raw.timezone, &raw.cron) {
            (crate::schedule::ScheduleError::Timezone(_), Some(t), _) => {
                loc.error(t, e.to_string())
            }
            (_, _, Some(c)) => loc.error(c, e.to_string()),
            _ => loc.error(table, e.to_string()),
        };
        return Err(at);
    }
    let target = match (&raw.function, &raw.task, &raw.queue, &raw.workflow) {
        (Some(f), None, None, None) => ScheduleTarget::Function(f.get_ref().clone()),
        (None, Some(t), None, None) => ScheduleTarget::Task(t.get_ref().clone()),
        (None, None, Some(q), None) => ScheduleTarget::Queue(q.get_ref().clone()),
        (None, None, None, Some(w)) => ScheduleTarget::Workflow(w.get_ref().clone()),
        _ => {
            return Err(loc.error(
                table,
                format!(
                    "[schedules.{name}] needs exactly one target: `function`, `task`, `queue` or `workflow`"
                ),
            ));
        }
    };
    let target_at = raw
        .function
        .as_ref()
        .or(raw.task.as_ref())
        .or(raw.queue.as_ref())
        .or(raw.workflow.as_ref())
        .expect("one target is set");
    sources.record(
        format!("{key}.target"),
        loc.position(target_at.span().start),
    );
    let payload = match raw.payload.as_ref().map(|p| p.get_ref()) {
        None => "{}".to_string(),
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => serde_json::to_string(other).expect("toml values serialize as json"),
    };
    let overlap = match &raw.overlap {
        None => Overlap::Skip,
        Some(o) => match o.get_ref().as_str() {
            "skip" => Overlap::Skip,
            "allow" => Overlap::Allow,
            "queue_one" => Overlap::QueueOne,
            other => {
                return Err(loc.error(
                    o,
                    format!("unknown overlap `{other}`; use \"skip\", \"allow\" or \"queue_one\""),
                ));
            }
        },
    };
    let catch_up = match &raw.catch_up {
        None => CatchUp::None,
        Some(c) => match c.get_ref().as_str() {
            "none" => CatchUp::None,
            "latest" => CatchUp::Latest,
            "all" => CatchUp::All,
            other => {
                return Err(loc.error(
                    c,
                    format!("unknown catch_up `{other}`; use \"none\", \"latest\" or \"all\""),
                ));
            }
        },
    };
    let catch_up_window_ms = duration_in(
        loc,
        &raw.catch_up_window,
        "catch_up_window",
        DEFAULT_CATCH_UP_WINDOW_MS,
        1_000..=7 * 86_400_000,
        "between 1s and 7d",
    )?;
    Ok(ScheduleSpec {
        every,
        timezone,
        target,
        payload,
        overlap,
        catch_up,
        catch_up_window_ms,
    })
}
