//! `[queues.NAME]`: queues and their consumers in the manifest.

use super::{Locator, ManifestError, SourceMap};
use crate::names::QueueName;
use crate::queue::{
    ConsumerTarget, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_RECEIVES, DEFAULT_RETENTION_MS,
    DEFAULT_VISIBILITY_TIMEOUT_MS, MAX_BATCH, MAX_DELAY_MS, MAX_MESSAGE_BYTES, MAX_RETENTION_MS,
    MAX_VISIBILITY_TIMEOUT_MS, QueueConsumer, QueueSpec,
};
use crate::units::{parse_duration_ms, parse_size_bytes};
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    visibility_timeout: Option<Spanned<String>>,
    max_receives: Option<Spanned<i64>>,
    dead_letter: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    max_message_size: Option<Spanned<String>>,
    consumer: Option<Spanned<RawConsumer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsumer {
    function: Option<String>,
    task: Option<String>,
    workflow: Option<String>,
    batch_size: Option<Spanned<i64>>,
    concurrency: Option<Spanned<i64>>,
}

/// A duration field within `range` (inclusive), or `default`.
pub(super) fn duration_in(
    loc: &Locator<'_>,
    raw: &Option<Spanned<String>>,
    field: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    range_text: &str,
) -> Result<u64, ManifestError> {
    let Some(d) = raw else { return Ok(default) };
    let ms =
        parse_duration_ms(d.get_ref()).map_err(|e| loc.error(d, format!("bad `{field}`: {e}")))?;
    if !range.contains(&ms) {
        return Err(loc.error(d, format!("`{field}` must be {range_text}")));
    }
    Ok(ms)
}

pub(super) fn validate_queue(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &QueueName,
    raw: &Spanned<RawQueue>,
) -> Result<QueueSpec, ManifestError> {
    let key = format!("queues.{name}");
    sources.record(key.clone(), loc.position(raw.span().start));
    let raw = raw.get_ref();
    let visibility_timeout_ms = duration_in(
        loc,
        &raw.visibility_timeout,
        "visibility_timeout",
        DEFAULT_VISIBILITY_TIMEOUT_MS,
        0..=MAX_VISIBILITY_TIMEOUT_MS,
        "between 0s and 12h",
    )?;
    let retention_ms = duration_in(
        loc,
        &raw.retention,
        "retention",
        DEFAULT_RETENTION_MS,
        60_000..=MAX_RETENTION_MS,
        "between 1m and 14d",
    )?;
    let delay_ms = duration_in(
        loc,
        &raw.delay,
        "delay",
        0,
        0..=MAX_DELAY_MS,
        "between 0s and 15m",
    )?;
    let max_message_bytes = match &raw.max_message_size {
        None => DEFAULT_MAX_MESSAGE_BYTES,
        Some(s) => {
            let bytes = parse_size_bytes(s.get_ref())
                .map_err(|e| loc.error(s, format!("bad `max_message_size`: {e}")))?;
            if !(1024..=MAX_MESSAGE_BYTES).contains(&bytes) {
                return Err(loc.error(s, "`max_message_size` must be between 1KiB and 1MiB"));
            }
            bytes
        }
    };
    let dead_letter = match &raw.dead_letter {
        None => None,
        Some(d) => {
            sources.record(format!("{key}.dead_letter"), loc.position(d.span().start));
            if d.get_ref() == name.as_str() {
                return Err(loc.error(
                    d,
                    "a queue cannot be its own `dead_letter`; name another queue",
                ));
            }
            Some(d.get_ref().clone())
        }
    };
    let max_receives = match (&raw.max_receives, &dead_letter) {
        (None, None) => None,
        (None, Some(_)) => Some(DEFAULT_MAX_RECEIVES),
        (Some(m), None) => {
            return Err(loc.error(
                m,
                "`max_receives` needs a `dead_letter` queue to move messages to; add `dead_letter = \"NAME\"`",
            ));
        }
        (Some(m), Some(_)) => {
            if !(1..=1000).contains(m.get_ref()) {
                return Err(loc.error(m, "`max_receives` must be between 1 and 1000"));
            }
            Some(*m.get_ref() as u32)
        }
    };
    let consumer = match &raw.consumer {
        None => None,
        Some(c) => {
            sources.record(format!("{key}.consumer"), loc.position(c.span().start));
            let raw_c = c.get_ref();
            let target = match (&raw_c.function, &raw_c.task, &raw_c.workflow) {
                (Some(f), None, None) => ConsumerTarget::Function(f.clone()),
                (None, Some(t), None) => ConsumerTarget::Task(t.clone()),
                (None, None, Some(w)) => ConsumerTarget::Workflow(w.clone()),
                _ => {
                    return Err(loc.error(
                        c,
                        "`consumer` needs exactly one of `function = \"NAME\"`, `task = \"NAME\"` or `workflow = \"NAME\"`",
                    ));
                }
            };
            let batch_size = match &raw_c.batch_size {
                None => MAX_BATCH as u32,
                Some(b) if (1..=MAX_BATCH as i64).contains(b.get_ref()) => *b.get_ref() as u32,
                Some(b) => return Err(loc.error(b, "`batch_size` must be between 1 and 10")),
            };
            let concurrency = match &raw_c.concurrency {
                None => 4,
                Some(n) if (1..=1000).contains(n.get_ref()) => *n.get_ref() as u32,
                Some(n) => return Err(loc.error(n, "`concurrency` must be between 1 and 1000")),
            };
            Some(QueueConsumer {
                target,
                batch_size,
                concurrency,
            })
        }
    };
    Ok(QueueSpec {
        visibility_timeout_ms,
        max_receives,
        dead_letter,
        retention_ms,
        delay_ms,
        max_message_bytes,
        consumer,
    })
}
