//! What kind of function a `[functions.NAME]` table declares: a wasm
//! component, or a Lambda function from code on a runtime or from an image,
//! exactly one; and the Lambda environment settings.

use super::{Locator, RawFunction, SourceMap};
use crate::lambda::{
    DEFAULT_IDLE_MS, DEFAULT_INIT_TIMEOUT_MS, LambdaRuntime, LambdaSource, LambdaSpec,
};
use crate::manifest::ManifestError;
use crate::spec::FunctionKind;
use crate::units::parse_duration_ms;
use toml::Spanned;

/// The function's kind, its component path (wasm) and its Lambda spec.
pub(super) struct Kind {
    pub kind: FunctionKind,
    pub component: String,
    pub lambda: Option<LambdaSpec>,
}

const ONE_OF: &str = "a function is exactly one of: `component` (a wasm component), \
    `runtime` with `handler` and `code` (a Lambda handler), or `image` (a Lambda container image)";

pub(super) fn validate_kind(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    key: &str,
    table: &Spanned<RawFunction>,
    concurrency: u32,
) -> Result<Kind, ManifestError> {
    let raw = table.get_ref();
    let given: Vec<&Spanned<String>> = [&raw.component, &raw.runtime, &raw.image]
        .into_iter()
        .flatten()
        .collect();
    match given.as_slice() {
        [] => return Err(loc.error(table, format!("{ONE_OF}; this one has none"))),
        [_] => {}
        [_, second, ..] => {
            return Err(loc.error(second, format!("{ONE_OF}; this one sets more than one")));
        }
    }
    if let Some(component) = &raw.component {
        sources.record(
            format!("{key}.component"),
            loc.position(component.span().start),
        );
        let path = component.get_ref().trim().to_string();
        if path.is_empty() {
            return Err(loc.error(
                component,
                "`component` is empty; give the path of a wasm32-wasip2 component, e.g. \"target/wasm32-wasip2/release/app.wasm\"",
            ));
        }
        let lambda_only = [
            ("handler", raw.handler.as_ref().map(|s| s.span())),
            ("code", raw.code.as_ref().map(|s| s.span())),
            ("idle", raw.idle.as_ref().map(|s| s.span())),
            ("min_warm", raw.min_warm.as_ref().map(|s| s.span())),
            ("init_timeout", raw.init_timeout.as_ref().map(|s| s.span())),
        ];
        if let Some((name, Some(span))) = lambda_only.into_iter().find(|(_, s)| s.is_some()) {
            return Err(loc.error_span(
                span,
                format!("`{name}` is for Lambda functions (`runtime` or `image`), not wasm components; remove it"),
            ));
        }
        return Ok(Kind {
            kind: FunctionKind::Wasm,
            component: path,
            lambda: None,
        });
    }
    if let Some(h) = raw.allowed_outbound_hosts.first() {
        return Err(loc.error(
            h,
            "`allowed_outbound_hosts` applies to wasm components; a Lambda function reaches Strato's API and S3 (its container's platform network)",
        ));
    }
    let source = match (&raw.runtime, &raw.image) {
        (Some(runtime), _) => code_source(loc, sources, key, raw, runtime)?,
        (None, Some(image)) => {
            if let Some(code) = &raw.code {
                return Err(loc.error(
                    code,
                    "`code` is for `runtime` functions; an image carries its code",
                ));
            }
            let name = image.get_ref().trim();
            if name.is_empty() {
                return Err(loc.error(
                    image,
                    "`image` is empty; name an image from `strato image ls`, e.g. \"my-fn:1\"",
                ));
            }
            sources.record(format!("{key}.image"), loc.position(image.span().start));
            LambdaSource::Image {
                image: name.to_string(),
                handler: non_empty(loc, raw.handler.as_ref(), "handler")?,
            }
        }
        (None, None) => unreachable!("one of component, runtime, image is set"),
    };
    let idle_ms = match &raw.idle {
        None => DEFAULT_IDLE_MS,
        Some(t) => {
            let ms = parse_duration_ms(t.get_ref())
                .map_err(|e| loc.error(t, format!("bad `idle`: {e}")))?;
            if ms > 24 * 3_600_000 {
                return Err(loc.error(
                    t,
                    "`idle` must be at most 24h (`0s` tears an environment down after each use)",
                ));
            }
            ms
        }
    };
    let init_timeout_ms = match &raw.init_timeout {
        None => DEFAULT_INIT_TIMEOUT_MS,
        Some(t) => {
            let ms = parse_duration_ms(t.get_ref())
                .map_err(|e| loc.error(t, format!("bad `init_timeout`: {e}")))?;
            if ms == 0 || ms > 15 * 60_000 {
                return Err(loc.error(t, "`init_timeout` must be between 1ms and 15m"));
            }
            ms
        }
    };
    let min_warm = match &raw.min_warm {
        None => 0,
        Some(n) => {
            let v = *n.get_ref();
            if v < 0 || v as u64 > concurrency as u64 {
                return Err(loc.error(
                    n,
                    format!("`min_warm` must be between 0 and the function's `concurrency` ({concurrency})"),
                ));
            }
            v as u32
        }
    };
    Ok(Kind {
        kind: FunctionKind::Lambda,
        component: String::new(),
        lambda: Some(LambdaSpec {
            source,
            idle_ms,
            min_warm,
            init_timeout_ms,
        }),
    })
}

/// `runtime` + `handler` + `code`.
fn code_source(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    key: &str,
    raw: &RawFunction,
    runtime: &Spanned<String>,
) -> Result<LambdaSource, ManifestError> {
    let Some(parsed) = LambdaRuntime::parse(runtime.get_ref().trim()) else {
        let known: Vec<&str> = LambdaRuntime::ALL.iter().map(|r| r.as_str()).collect();
        return Err(loc.error(
            runtime,
            format!(
                "unknown `runtime` {:?}; Strato builds these from Debian 12 packages: {} (or bring an image with `image = ...`)",
                runtime.get_ref(),
                known.join(", ")
            ),
        ));
    };
    let handler = match (non_empty(loc, raw.handler.as_ref(), "handler")?, parsed) {
        (Some(h), _) => h,
        // A custom runtime's bootstrap decides what the handler means.
        (None, LambdaRuntime::Provided) => "bootstrap".to_string(),
        (None, _) => {
            return Err(loc.error(
                runtime,
                "a `runtime` function needs `handler`, as AWS names it: \"app.handler\" (file app.py or app.js, function handler)",
            ));
        }
    };
    let Some(code) = &raw.code else {
        return Err(loc.error(
            runtime,
            "a `runtime` function needs `code`, the directory holding the handler (e.g. \"src\"), relative to strato.toml",
        ));
    };
    let dir = code.get_ref().trim();
    if dir.is_empty() || dir.split('/').any(|part| part == "..") || dir.starts_with('/') {
        return Err(loc.error(
            code,
            "`code` must be a directory inside the app's directory, e.g. \"src\"",
        ));
    }
    sources.record(format!("{key}.code"), loc.position(code.span().start));
    Ok(LambdaSource::Code {
        runtime: parsed,
        handler,
        code: dir.to_string(),
    })
}

fn non_empty(
    loc: &Locator<'_>,
    value: Option<&Spanned<String>>,
    name: &str,
) -> Result<Option<String>, ManifestError> {
    match value {
        Some(v) if v.get_ref().trim().is_empty() => {
            Err(loc.error(v, format!("`{name}` is empty; remove it or give a value")))
        }
        Some(v) => Ok(Some(v.get_ref().trim().to_string())),
        None => Ok(None),
    }
}
