//! `[tasks.NAME]`: container tasks in the manifest.

use super::{Locator, RawSubscription, SourceMap, validate_env, validate_subscription};
use crate::manifest::ManifestError;
use crate::names::TaskName;
use crate::spec::{
    DEFAULT_STOP_TIMEOUT_MS, DEFAULT_TASK_MEMORY_BYTES, DEFAULT_TASK_PIDS, TaskNetwork, TaskSpec,
};
use crate::units::{parse_duration_ms, parse_size_bytes};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// Largest memory a task may ask for.
const MAX_TASK_MEMORY_BYTES: u64 = 64 << 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    image: Spanned<String>,
    entrypoint: Option<Spanned<Vec<String>>>,
    command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    workdir: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    cpus: Option<Spanned<toml::Value>>,
    pids: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    stop_timeout: Option<Spanned<String>>,
    network: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    #[serde(default)]
    on_bucket: Vec<Spanned<RawSubscription>>,
    #[serde(rename = "async")]
    async_: Option<super::RawAsync>,
}

pub(super) fn validate_task(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &TaskName,
    raw: &Spanned<RawTask>,
    buckets: &BTreeSet<String>,
) -> Result<TaskSpec, ManifestError> {
    let key = format!("tasks.{name}");
    sources.record(key.clone(), loc.position(raw.span().start));
    let raw = raw.get_ref();
    let image = image(loc, sources, &key, &raw.image)?;
    let entrypoint = argv(loc, &raw.entrypoint, "entrypoint")?;
    let command = argv(loc, &raw.command, "command")?;
    let env = validate_env(loc, &raw.env)?;
    let memory_bytes = memory(loc, &raw.memory, DEFAULT_TASK_MEMORY_BYTES)?;
    let cpus_milli = cpus(loc, &raw.cpus)?;
    let pids = match &raw.pids {
        None => DEFAULT_TASK_PIDS,
        Some(p) => {
            if !(1..=1_000_000).contains(p.get_ref()) {
                return Err(loc.error(p, "`pids` must be between 1 and 1000000"));
            }
            *p.get_ref()
        }
    };
    let timeout_ms = raw
        .timeout
        .as_ref()
        .map(|t| positive_duration(loc, t, "timeout"))
        .transpose()?;
    let stop_timeout_ms = raw
        .stop_timeout
        .as_ref()
        .map(|t| positive_duration(loc, t, "stop_timeout"))
        .transpose()?
        .unwrap_or(DEFAULT_STOP_TIMEOUT_MS);
    let network = match &raw.network {
        None => TaskNetwork::Platform,
        Some(n) => match n.get_ref().as_str() {
            "platform" => TaskNetwork::Platform,
            "host" => TaskNetwork::Host,
            "none" => TaskNetwork::None,
            other => {
                return Err(loc.error(
                    n,
                    format!("unknown network `{other}`; use \"platform\", \"host\" or \"none\""),
                ));
            }
        },
    };
    let mut retries = match &raw.retries {
        None => 0,
        Some(r) if (0..=10).contains(r.get_ref()) => *r.get_ref() as u32,
        Some(r) => return Err(loc.error(r, "`retries` must be between 0 and 10")),
    };
    // `[tasks.NAME.async]` may say `retries` too (as functions do), but
    // not both places: which would win is not obvious.
    if let (Some(r), Some(_)) = (
        raw.async_.as_ref().and_then(|a| a.retries.as_ref()),
        &raw.retries,
    ) {
        return Err(loc.error(
            r,
            "`retries` is set both in [tasks.NAME] and in its async table; keep one",
        ));
    }
    let settings = super::validate_async(loc, sources, &key, raw.async_.as_ref(), retries)?;
    retries = settings.retries;
    let on_bucket = raw
        .on_bucket
        .iter()
        .map(|s| validate_subscription(loc, s, buckets))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TaskSpec {
        image,
        entrypoint,
        command,
        env,
        workdir: raw.workdir.as_ref().map(|w| w.get_ref().clone()),
        user: raw.user.as_ref().map(|u| u.get_ref().clone()),
        memory_bytes,
        cpus_milli,
        pids,
        timeout_ms,
        stop_timeout_ms,
        network,
        retries,
        on_bucket,
        max_age_ms: settings.max_age_ms,
        on_success: settings.on_success,
        on_failure: settings.on_failure,
    })
}

/// A container's `image`: a name, recorded at its line.
pub(super) fn image(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    key: &str,
    raw: &Spanned<String>,
) -> Result<String, ManifestError> {
    let image = raw.get_ref().trim().to_string();
    sources.record(format!("{key}.image"), loc.position(raw.span().start));
    if image.is_empty() || image.contains(char::is_whitespace) {
        return Err(loc.error(
            raw,
            "`image` must name an image, e.g. \"thumbnailer/ffmpeg:1\" (see `strato image ls`)",
        ));
    }
    Ok(image)
}

/// An argv field (`entrypoint`, `command`) of a container.
pub(super) fn argv(
    loc: &Locator<'_>,
    v: &Option<Spanned<Vec<String>>>,
    field: &str,
) -> Result<Option<Vec<String>>, ManifestError> {
    match v {
        None => Ok(None),
        Some(list) if list.get_ref().iter().any(|a| a.contains('\0')) => {
            Err(loc.error(list, format!("`{field}` contains a NUL byte")))
        }
        Some(list) => Ok(Some(list.get_ref().clone())),
    }
}

/// A container's `memory`, 4 MiB to 64 GiB.
pub(super) fn memory(
    loc: &Locator<'_>,
    raw: &Option<Spanned<String>>,
    default: u64,
) -> Result<u64, ManifestError> {
    let Some(m) = raw else {
        return Ok(default);
    };
    let bytes =
        parse_size_bytes(m.get_ref()).map_err(|e| loc.error(m, format!("bad `memory`: {e}")))?;
    if !((4 << 20)..=MAX_TASK_MEMORY_BYTES).contains(&bytes) {
        return Err(loc.error(m, "`memory` must be between 4MiB and 64GiB"));
    }
    Ok(bytes)
}

/// A container's `cpus` in thousandths (None: no limit).
pub(super) fn cpus(
    loc: &Locator<'_>,
    raw: &Option<Spanned<toml::Value>>,
) -> Result<Option<u32>, ManifestError> {
    let Some(c) = raw else {
        return Ok(None);
    };
    let value = match c.get_ref() {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return Err(loc.error(c, "`cpus` must be a number, e.g. 0.5 or 2")),
    };
    if !(0.01..=1024.0).contains(&value) {
        return Err(loc.error(c, "`cpus` must be between 0.01 and 1024"));
    }
    Ok(Some((value * 1000.0).round() as u32))
}

/// A duration that must be above zero.
pub(super) fn positive_duration(
    loc: &Locator<'_>,
    d: &Spanned<String>,
    field: &str,
) -> Result<u64, ManifestError> {
    let ms =
        parse_duration_ms(d.get_ref()).map_err(|e| loc.error(d, format!("bad `{field}`: {e}")))?;
    if ms == 0 {
        return Err(loc.error(d, format!("`{field}` must be above zero")));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use crate::manifest::parse_manifest;
    use crate::names::TaskName;
    use crate::spec::TaskNetwork;

    const HEAD: &str = "[app]\nname = \"t\"\n[buckets.media]\n";

    #[test]
    fn a_full_task_parses_and_defaults_apply() {
        let text = format!(
            "{HEAD}[tasks.ffmpeg]\nimage = \"thumbnailer/ffmpeg:1\"\ncommand = [\"/bin/sh\", \"-c\", \"echo $KEY\"]\nmemory = \"512MiB\"\ntimeout = \"15m\"\ncpus = 0.5\nnetwork = \"none\"\nretries = 1\nenv = {{ A = \"1\" }}\n[[tasks.ffmpeg.on_bucket]]\nbucket = \"media\"\nsuffix = \".mp4\"\n[tasks.plain]\nimage = \"busybox\"\n"
        );
        let spec = parse_manifest(&text, "strato.toml").unwrap();
        let t = &spec.tasks[&TaskName::new("ffmpeg").unwrap()];
        assert_eq!(t.memory_bytes, 512 << 20);
        assert_eq!(t.timeout_ms, Some(900_000));
        assert_eq!(t.cpus_milli, Some(500));
        assert_eq!(t.network, TaskNetwork::None);
        assert_eq!(t.retries, 1);
        assert_eq!(t.on_bucket[0].suffix, ".mp4");
        assert_eq!(t.command.as_ref().unwrap().len(), 3);
        let p = &spec.tasks[&TaskName::new("plain").unwrap()];
        assert_eq!(p.timeout_ms, None);
        assert_eq!(p.network, TaskNetwork::Platform);
        assert_eq!(p.retries, 0);
        assert!(p.entrypoint.is_none() && p.command.is_none());
    }

    #[test]
    fn bad_task_fields_point_at_their_line() {
        for (body, line, needle) in [
            ("[tasks.x]\nimage = \"\"\n", 5, "`image` must name an image"),
            (
                "[tasks.x]\nimage = \"a\"\nnetwork = \"bridge\"\n",
                6,
                "unknown network `bridge`",
            ),
            (
                "[tasks.x]\nimage = \"a\"\ncpus = \"two\"\n",
                6,
                "`cpus` must be a number",
            ),
            (
                "[tasks.x]\nimage = \"a\"\nmemory = \"1KiB\"\n",
                6,
                "`memory` must be between",
            ),
            (
                "[tasks.x]\nimage = \"a\"\nbogus = 1\n",
                6,
                "unknown field `bogus`",
            ),
            (
                "[tasks.x]\nimage = \"a\"\n[[tasks.x.on_bucket]]\nbucket = \"nope\"\n",
                7,
                "not declared",
            ),
            (
                "[functions.x]\ncomponent = \"x.wasm\"\n[tasks.x]\nimage = \"a\"\n",
                6,
                "both a function and a task",
            ),
        ] {
            let text = format!("{HEAD}{body}");
            let err = parse_manifest(&text, "strato.toml").unwrap_err();
            assert_eq!(err.line, line, "{body}: {err}");
            assert!(err.message.contains(needle), "{body}: {err}");
        }
    }
}
