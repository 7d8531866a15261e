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
use crate::spec::{
    AppSpec, DEFAULT_CONCURRENCY, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS, FunctionSpec,
    MAX_MEMORY_BYTES,
};
use crate::units::{parse_duration_ms, parse_size_bytes};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

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
    functions: BTreeMap<Spanned<String>, Spanned<RawFunction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
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

    let mut functions = BTreeMap::new();
    for (name, raw_fn) in &raw.functions {
        let fname = FunctionName::new(name.get_ref().clone())
            .map_err(|e| loc.error(name, format!("{e} (in [functions.{}])", name.get_ref())))?;
        let spec = validate_function(&loc, &mut sources, &fname, raw_fn)?;
        functions.insert(fname, spec);
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
    Ok((AppSpec { app, functions }, sources))
}

fn validate_function(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &FunctionName,
    raw: &Spanned<RawFunction>,
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

    let mut env = BTreeMap::new();
    for (k, v) in &raw.env {
        let kname = k.get_ref();
        if kname.is_empty()
            || kname.contains('=')
            || kname.contains('\0')
            || kname.as_bytes()[0].is_ascii_digit()
        {
            return Err(loc.error(
                k,
                format!("env name `{kname}` is not valid; use letters, digits and `_`, not starting with a digit"),
            ));
        }
        if kname.starts_with("STRATO_") {
            return Err(loc.error(
                k,
                format!("env name `{kname}` is reserved: Strato sets STRATO_* itself"),
            ));
        }
        env.insert(kname.clone(), v.get_ref().clone());
    }

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

    Ok(FunctionSpec {
        component,
        build,
        routes,
        env,
        memory_bytes,
        timeout_ms,
        concurrency,
        allowed_outbound_hosts,
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
}
