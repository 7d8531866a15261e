//! `strato.toml`: parsing and validation with file:line errors.
//!
//! Parsing happens in two steps: TOML into raw tables that remember where
//! each value was written ([`toml::Spanned`]), then validation into an
//! [`AppSpec`]. Both steps report a [`ManifestError`] naming the file, the
//! line and column, and what to write instead. A [`SourceMap`] keeps the
//! locations so later checks (missing component, route conflicts) can point
//! at the line too.

use crate::names::{AppName, FunctionName};
use crate::outbound::OutboundRule;
use crate::route::Route;
use crate::s3names::validate_bucket_name;
use crate::spec::{
    AppSpec, BucketEventKind, BucketSubscription, DEFAULT_CONCURRENCY, DEFAULT_MEMORY_BYTES,
    DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, FunctionSpec, MAX_MEMORY_BYTES,
};
use crate::units::{parse_duration_ms, parse_size_bytes};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml::Spanned;

mod task;

/// A problem in a manifest, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ManifestError {}

/// Where things were written in a manifest, keyed by dotted path
/// (`functions.hello.component`, `functions.hello.routes.0`).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    pub file: String,
    locations: BTreeMap<String, (usize, usize)>,
}

impl SourceMap {
    /// An error located at `key`, or at the top of the file if unknown.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ManifestError {
        let (line, column) = self.locations.get(key).copied().unwrap_or((1, 1));
        ManifestError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    fn record(&mut self, key: String, loc: (usize, usize)) {
        self.locations.insert(key, loc);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: Spanned<RawApp>,
    #[serde(default)]
    buckets: BTreeMap<Spanned<String>, Spanned<RawBucket>>,
    #[serde(default)]
    functions: BTreeMap<Spanned<String>, Spanned<RawFunction>>,
    #[serde(default)]
    tasks: BTreeMap<Spanned<String>, Spanned<task::RawTask>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBucket {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    bucket: Spanned<String>,
    events: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAsync {
    retries: Option<Spanned<i64>>,
    max_age: Option<Spanned<String>>,
    on_success: Option<Spanned<String>>,
    on_failure: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    component: Spanned<String>,
    build: Option<Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    memory: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    on_bucket: Vec<Spanned<RawSubscription>>,
    #[serde(rename = "async")]
    async_: Option<RawAsync>,
}

struct Locator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        (line, column)
    }

    fn error<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ManifestError {
        let (line, column) = self.position(spanned.span().start);
        ManifestError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// Parses and validates a manifest. `file` names it in errors.
pub fn parse_manifest(text: &str, file: &str) -> Result<AppSpec, ManifestError> {
    parse_manifest_with_sources(text, file).map(|(spec, _)| spec)
}

/// Like [`parse_manifest`], also returning where each value was written.
pub fn parse_manifest_with_sources(
    text: &str,
    file: &str,
) -> Result<(AppSpec, SourceMap), ManifestError> {
    let loc = Locator { text, file };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let (line, column) = loc.position(e.span().map(|s| s.start).unwrap_or(0));
        ManifestError {
            file: file.to_string(),
            line,
            column,
            message: describe_toml_error(e.message()),
        }
    })?;
    let mut sources = SourceMap {
        file: file.to_string(),
        ..Default::default()
    };
    let app = AppName::new(raw.app.get_ref().name.get_ref().clone())
        .map_err(|e| loc.error(&raw.app.get_ref().name, e.to_string()))?;
    sources.record("app".into(), loc.position(raw.app.span().start));

    let mut buckets = BTreeSet::new();
    for (name, table) in &raw.buckets {
        validate_bucket_name(name.get_ref()).map_err(|e| loc.error(name, e.to_string()))?;
        sources.record(
            format!("buckets.{}", name.get_ref()),
            loc.position(table.span().start),
        );
        buckets.insert(name.get_ref().clone());
    }

    let mut functions = BTreeMap::new();
    for (name, raw_fn) in &raw.functions {
        let fname = FunctionName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [functions.{}])", name.get_ref())))?;
        let spec = validate_function(&loc, &mut sources, &fname, raw_fn, &buckets)?;
        functions.insert(fname, spec);
    }

    let mut tasks = BTreeMap::new();
    for (name, raw_task) in &raw.tasks {
        let tname = FunctionName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [tasks.{}])", name.get_ref())))?;
        if functions.contains_key(&tname) {
            return Err(loc.error(
                name,
                format!("`{tname}` is both a function and a task; give them different names"),
            ));
        }
        let spec = task::validate_task(&loc, &mut sources, &tname, raw_task, &buckets)?;
        tasks.insert(tname, spec);
    }

    // Destinations name functions and tasks of this app.
    for (fname, spec) in &functions {
        for (field, dest) in [
            ("on_success", &spec.on_success),
            ("on_failure", &spec.on_failure),
        ] {
            let missing = match dest {
                Some(crate::invocation::Destination::Function(n)) => {
                    (!functions.keys().any(|f| f.as_str() == n)).then(|| format!("function `{n}`"))
                }
                Some(crate::invocation::Destination::Task(n)) => {
                    (!tasks.keys().any(|t| t.as_str() == n)).then(|| format!("task `{n}`"))
                }
                _ => None,
            };
            if let Some(what) = missing {
                return Err(sources.error_at(
                    &format!("functions.{fname}.async.{field}"),
                    format!("`{field}` names {what}, which this manifest does not declare"),
                ));
            }
        }
    }

    // Two functions of one app may not claim the same route.
    let mut claimed: BTreeMap<Route, &FunctionName> = BTreeMap::new();
    for (fname, spec) in &functions {
        for (i, route) in spec.routes.iter().enumerate() {
            if let Some(other) = claimed.insert(route.clone(), fname) {
                return Err(sources.error_at(
                    &format!("functions.{fname}.routes.{i}"),
                    format!(
                        "route `{route}` is already claimed by function `{other}`; give each route to one function"
                    ),
                ));
            }
        }
    }
    Ok((
        AppSpec {
            app,
            buckets,
            functions,
            tasks,
        },
        sources,
    ))
}

fn validate_function(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &FunctionName,
    raw: &Spanned<RawFunction>,
    buckets: &BTreeSet<String>,
) -> Result<FunctionSpec, ManifestError> {
    let key = format!("functions.{name}");
    sources.record(key.clone(), loc.position(raw.span().start));
    let raw = raw.get_ref();

    let component = raw.component.get_ref().trim().to_string();
    sources.record(
        format!("{key}.component"),
        loc.position(raw.component.span().start),
    );
    if component.is_empty() {
        return Err(loc.error(
            &raw.component,
            "`component` is empty; give the path of a wasm32-wasip2 component, e.g. \"target/wasm32-wasip2/release/app.wasm\"",
        ));
    }

    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        sources.record(format!("{key}.routes.{i}"), loc.position(r.span().start));
        routes.push(Route::parse(r.get_ref()).map_err(|e| loc.error(r, e))?);
    }

    let env = validate_env(loc, &raw.env)?;

    let memory_bytes = match &raw.memory {
        None => DEFAULT_MEMORY_BYTES,
        Some(m) => {
            let bytes = parse_size_bytes(m.get_ref())
                .map_err(|e| loc.error(m, format!("bad `memory`: {e}")))?;
            if !((1 << 20)..=MAX_MEMORY_BYTES).contains(&bytes) {
                return Err(loc.error(m, "`memory` must be between 1MiB and 4GiB"));
            }
            bytes
        }
    };

    let timeout_ms = match &raw.timeout {
        None => DEFAULT_TIMEOUT_MS,
        Some(t) => {
            let ms = parse_duration_ms(t.get_ref())
                .map_err(|e| loc.error(t, format!("bad `timeout`: {e}")))?;
            if ms == 0 || ms > 15 * 60_000 {
                return Err(loc.error(t, "`timeout` must be between 1ms and 15m"));
            }
            ms
        }
    };

    let concurrency = match &raw.concurrency {
        None => DEFAULT_CONCURRENCY,
        Some(c) => {
            let v = *c.get_ref();
            if !(1..=10_000).contains(&v) {
                return Err(loc.error(c, "`concurrency` must be between 1 and 10000"));
            }
            v as u32
        }
    };

    let mut allowed_outbound_hosts = Vec::new();
    for h in &raw.allowed_outbound_hosts {
        allowed_outbound_hosts.push(OutboundRule::parse(h.get_ref()).map_err(|e| loc.error(h, e))?);
    }

    let build = match &raw.build {
        Some(b) if b.get_ref().trim().is_empty() => {
            return Err(loc.error(b, "`build` is empty; remove it or give a shell command"));
        }
        Some(b) => {
            sources.record(format!("{key}.build"), loc.position(b.span().start));
            Some(b.get_ref().clone())
        }
        None => None,
    };

    let mut on_bucket = Vec::new();
    for sub in &raw.on_bucket {
        on_bucket.push(validate_subscription(loc, sub, buckets)?);
    }

    let retries = match raw.async_.as_ref().and_then(|a| a.retries.as_ref()) {
        None => DEFAULT_RETRIES,
        Some(r) => {
            let v = *r.get_ref();
            if !(0..=10).contains(&v) {
                return Err(loc.error(r, "`retries` must be between 0 and 10"));
            }
            v as u32
        }
    };

    let max_age_ms = match raw.async_.as_ref().and_then(|a| a.max_age.as_ref()) {
        None => crate::invocation::DEFAULT_MAX_AGE_MS,
        Some(m) => {
            let ms = parse_duration_ms(m.get_ref())
                .map_err(|e| loc.error(m, format!("bad `max_age`: {e}")))?;
            if !(1_000..=6 * 3_600_000).contains(&ms) {
                return Err(loc.error(m, "`max_age` must be between 1s and 6h"));
            }
            ms
        }
    };

    let mut destination = |d: Option<&Spanned<String>>, field: &str| {
        d.map(|d| {
            sources.record(format!("{key}.async.{field}"), loc.position(d.span().start));
            crate::invocation::Destination::parse(d.get_ref()).map_err(|e| loc.error(d, e))
        })
        .transpose()
    };
    let on_success = destination(
        raw.async_.as_ref().and_then(|a| a.on_success.as_ref()),
        "on_success",
    )?;
    let on_failure = destination(
        raw.async_.as_ref().and_then(|a| a.on_failure.as_ref()),
        "on_failure",
    )?;

    Ok(FunctionSpec {
        component,
        build,
        routes,
        env,
        memory_bytes,
        timeout_ms,
        concurrency,
        allowed_outbound_hosts,
        on_bucket,
        retries,
        max_age_ms,
        on_success,
        on_failure,
    })
}

/// Environment variables a manifest sets; `STRATO_*` belongs to Strato.
fn validate_env(
    loc: &Locator<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<String>>,
) -> Result<BTreeMap<String, String>, ManifestError> {
    let mut env = BTreeMap::new();
    for (k, v) in raw {
        let kname = k.get_ref();
        crate::spec::check_env_name(kname).map_err(|e| loc.error(k, e))?;
        env.insert(kname.clone(), v.get_ref().clone());
    }
    Ok(env)
}

fn validate_subscription(
    loc: &Locator<'_>,
    raw: &Spanned<RawSubscription>,
    buckets: &BTreeSet<String>,
) -> Result<BucketSubscription, ManifestError> {
    let sub = raw.get_ref();
    let bucket = sub.bucket.get_ref();
    if !buckets.contains(bucket) {
        return Err(loc.error(
            &sub.bucket,
            format!("bucket `{bucket}` is not declared in this manifest; add `[buckets.{bucket}]`"),
        ));
    }
    let mut events = Vec::new();
    match &sub.events {
        None => events = vec![BucketEventKind::Put, BucketEventKind::Delete],
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(loc.error(
                    list,
                    "`events` is empty; use [\"put\"], [\"delete\"] or both",
                ));
            }
            for e in list.get_ref() {
                events.push(match e.get_ref().as_str() {
                    "put" => BucketEventKind::Put,
                    "delete" => BucketEventKind::Delete,
                    other => {
                        return Err(loc.error(
                            e,
                            format!("unknown bucket event `{other}`; use \"put\" or \"delete\""),
                        ));
                    }
                });
            }
        }
    }
    events.sort();
    events.dedup();
    Ok(BucketSubscription {
        bucket: bucket.clone(),
        events,
        prefix: sub.prefix.clone(),
        suffix: sub.suffix.clone(),
    })
}

/// Turns serde's phrasing into advice a user can act on.
fn describe_toml_error(message: &str) -> String {
    let message = message.trim();
    if message.starts_with("unknown field") {
        format!("{message}; remove it or check its spelling")
    } else if message.starts_with("missing field `app`") {
        "missing [app] table; add `[app]` with `name = \"...\"`".to_string()
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ManifestError {
        parse_manifest(text, "strato.toml").unwrap_err()
    }

    #[test]
    fn full_function_parses_with_defaults() {
        let spec = parse_manifest(
            r#"
[app]
name = "demo"

[functions.hello]
component = "hello.wasm"
routes = ["/hello", "/api/*"]
env = { GREETING = "hi" }

[functions.other]
component = "other.wasm"
memory = "64MiB"
timeout = "2s"
concurrency = 5
allowed_outbound_hosts = ["http://127.0.0.1:9"]
build = "make"
"#,
            "strato.toml",
        )
        .unwrap();
        let hello = &spec.functions[&FunctionName::new("hello").unwrap()];
        assert_eq!(hello.memory_bytes, 128 << 20);
        assert_eq!(hello.timeout_ms, 30_000);
        assert_eq!(hello.concurrency, 100);
        assert_eq!(hello.routes.len(), 2);
        assert_eq!(hello.env["GREETING"], "hi");
        let other = &spec.functions[&FunctionName::new("other").unwrap()];
        assert_eq!(other.memory_bytes, 64 << 20);
        assert_eq!(other.timeout_ms, 2_000);
        assert_eq!(other.concurrency, 5);
        assert_eq!(other.build.as_deref(), Some("make"));
    }

    #[test]
    fn buckets_and_subscriptions_parse() {
        let spec = parse_manifest(
            r#"
[app]
name = "media"

[buckets.uploads]

[functions.upper]
component = "u.wasm"
[functions.upper.async]
retries = 4
[[functions.upper.on_bucket]]
bucket = "uploads"
events = ["put"]
prefix = "in/"
suffix = ".txt"
"#,
            "strato.toml",
        )
        .unwrap();
        assert!(spec.buckets.contains("uploads"));
        let f = &spec.functions[&FunctionName::new("upper").unwrap()];
        assert_eq!(f.retries, 4);
        let sub = &f.on_bucket[0];
        assert!(sub.matches("ObjectCreated:Put", "in/a.txt"));
        assert!(sub.matches("ObjectCreated:Copy", "in/a.txt"));
        assert!(!sub.matches("ObjectRemoved:Delete", "in/a.txt"));
        assert!(!sub.matches("ObjectCreated:Put", "out/a.txt"));
        assert!(!sub.matches("ObjectCreated:Put", "in/a.TXT"));
    }

    #[test]
    fn bucket_mistakes_are_located() {
        let base = "[app]\nname = \"a\"\n[buckets.okay]\n[functions.f]\ncomponent = \"f.wasm\"\n";
        let e = err("[app]\nname = \"a\"\n[buckets.Bad_Name]\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("Bad_Name"), "{e}");
        let e = err(&format!(
            "{base}[[functions.f.on_bucket]]\nbucket = \"missing\"\n"
        ));
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("[buckets.missing]"), "{e}");
        let e = err(&format!(
            "{base}[[functions.f.on_bucket]]\nbucket = \"okay\"\nevents = [\"put\", \"copy\"]\n"
        ));
        assert_eq!(e.line, 8, "{e}");
        assert!(e.message.contains("unknown bucket event `copy`"), "{e}");
    }

    #[test]
    fn unknown_key_names_its_line() {
        let e =
            err("[app]\nname = \"a\"\n\n[functions.f]\ncomponent = \"f.wasm\"\ncolour = \"red\"\n");
        assert_eq!(e.line, 6, "{e}");
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(e.to_string().starts_with("strato.toml:6:"), "{e}");
    }

    #[test]
    fn bad_duration_names_its_line() {
        let e =
            err("[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\ntimeout = \"soon\"\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("bad `timeout`"), "{e}");
    }

    #[test]
    fn bad_names_and_routes_are_located() {
        let e = err("[app]\nname = \"Bad App\"\n");
        assert_eq!(e.line, 2, "{e}");
        let e = err("[app]\nname = \"a\"\n[functions.Hello]\ncomponent = \"f.wasm\"\n");
        assert_eq!(e.line, 3, "{e}");
        let e = err(
            "[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\nroutes = [\"nope\"]\n",
        );
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("must start with `/`"), "{e}");
        let e =
            err("[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\nmemory = \"8GiB\"\n");
        assert_eq!(e.line, 5, "{e}");
        let e = err("[app]\nname = \"a\"\n[functions.f]\nroutes = [\"/x\"]\n");
        assert!(e.message.contains("missing field `component`"), "{e}");
        let e = err("[functions.f]\ncomponent = \"x\"\n");
        assert!(e.message.contains("[app]"), "{e}");
    }

    #[test]
    fn duplicate_route_within_app_is_located() {
        let e = err(
            "[app]\nname = \"a\"\n[functions.f]\ncomponent = \"f.wasm\"\nroutes = [\"/x\"]\n[functions.g]\ncomponent = \"g.wasm\"\nroutes = [\"/x\"]\n",
        );
        assert_eq!(e.line, 8, "{e}");
        assert!(e.message.contains("already claimed by function `f`"), "{e}");
    }

    #[test]
    fn source_map_locates_components() {
        let (_, sources) = parse_manifest_with_sources(
            "[app]\nname = \"a\"\n\n[functions.f]\ncomponent = \"f.wasm\"\n",
            "dir/strato.toml",
        )
        .unwrap();
        let e = sources.error_at("functions.f.component", "missing");
        assert_eq!((e.file.as_str(), e.line), ("dir/strato.toml", 5));
    }

    #[test]
    fn async_destinations_parse_and_must_name_declared_targets() {
        let head = "[app]\nname = \"d\"\n[functions.sink]\ncomponent = \"s.wasm\"\n[tasks.t]\nimage = \"x\"\n[functions.f]\ncomponent = \"f.wasm\"\n[functions.f.async]\n";
        let ok = parse_manifest(
            &format!("{head}on_success = \"function:sink\"\non_failure = \"http://127.0.0.1:9/hook\"\nmax_age = \"10m\"\n"),
            "strato.toml",
        )
        .unwrap();
        let f = &ok.functions[&FunctionName::new("f").unwrap()];
        assert_eq!(f.max_age_ms, 600_000);
        assert!(f.on_failure.is_some() && f.on_success.is_some());
        for (line, needle) in [
            ("on_success = \"function:nope\"", "does not declare"),
            ("on_failure = \"task:nope\"", "does not declare"),
            ("on_failure = \"queue:q\"", "not available yet"),
            ("on_failure = \"ftp://x\"", "is not `function:NAME`"),
            ("max_age = \"7h\"", "between 1s and 6h"),
        ] {
            let err = err(&format!("{head}{line}\n"));
            assert_eq!(err.line, 10, "{line}: {err}");
            assert!(err.message.contains(needle), "{line}: {err}");
        }
    }
}
