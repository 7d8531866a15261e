//! `[services.NAME]`: container services in the manifest.

use super::task::{argv, cpus, memory, positive_duration};
use super::{Locator, SourceMap, validate_env};
use crate::manifest::ManifestError;
use crate::names::ServiceName;
use crate::route::Route;
use crate::spec::{
    DEFAULT_SERVICE_CONCURRENCY, DEFAULT_SERVICE_IDLE_MS, DEFAULT_SERVICE_MAX_REPLICAS,
    DEFAULT_SERVICE_PORT, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_TASK_MEMORY_BYTES, HealthCheck,
    ServiceSpec,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Most replicas one service may ask for.
const MAX_REPLICAS: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    image: Spanned<String>,
    entrypoint: Option<Spanned<Vec<String>>>,
    command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    port: Option<Spanned<i64>>,
    #[serde(default)]
    routes: Vec<Spanned<String>>,
    memory: Option<Spanned<String>>,
    cpus: Option<Spanned<toml::Value>>,
    concurrency: Option<Spanned<i64>>,
    min_replicas: Option<Spanned<i64>>,
    max_replicas: Option<Spanned<i64>>,
    idle: Option<Spanned<String>>,
    health: Option<Spanned<RawCheck>>,
    liveness: Option<Spanned<RawCheck>>,
    stop_timeout: Option<Spanned<String>>,
}

/// `{ path = "/healthz" }` (HTTP) or `{ tcp = true }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    path: Option<String>,
    tcp: Option<bool>,
}

pub(super) fn validate_service(
    loc: &Locator<'_>,
    sources: &mut SourceMap,
    name: &ServiceName,
    raw: &Spanned<RawService>,
) -> Result<ServiceSpec, ManifestError> {
    let key = format!("services.{name}");
    sources.record(key.clone(), loc.position(raw.span().start));
    let raw = raw.get_ref();
    let image = super::task::image(loc, sources, &key, &raw.image)?;
    let port = match &raw.port {
        None => DEFAULT_SERVICE_PORT,
        Some(p) if (1..=65535).contains(p.get_ref()) => *p.get_ref() as u16,
        Some(p) => return Err(loc.error(p, "`port` must be between 1 and 65535")),
    };
    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        sources.record(format!("{key}.routes.{i}"), loc.position(r.span().start));
        routes.push(Route::parse(r.get_ref()).map_err(|e| loc.error(r, e))?);
    }
    let count = |v: &Option<Spanned<i64>>,
                 field: &str,
                 range: std::ops::RangeInclusive<i64>,
                 default: u32| {
        match v {
            None => Ok(default),
            Some(n) if range.contains(n.get_ref()) => Ok(*n.get_ref() as u32),
            Some(n) => Err(loc.error(
                n,
                format!(
                    "`{field}` must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    };
    let concurrency = count(
        &raw.concurrency,
        "concurrency",
        1..=1000,
        DEFAULT_SERVICE_CONCURRENCY,
    )?;
    let min_replicas = count(&raw.min_replicas, "min_replicas", 0..=MAX_REPLICAS, 0)?;
    let max_replicas = count(
        &raw.max_replicas,
        "max_replicas",
        1..=MAX_REPLICAS,
        DEFAULT_SERVICE_MAX_REPLICAS.max(min_replicas),
    )?;
    if min_replicas > max_replicas {
        let at = raw
            .min_replicas
            .as_ref()
            .expect("set when above the default");
        return Err(loc.error(
            at,
            format!("`min_replicas` ({min_replicas}) is above `max_replicas` ({max_replicas})"),
        ));
    }
    let idle_ms = raw
        .idle
        .as_ref()
        .map(|d| positive_duration(loc, d, "idle"))
        .transpose()?
        .unwrap_or(DEFAULT_SERVICE_IDLE_MS);
    let stop_timeout_ms = raw
        .stop_timeout
        .as_ref()
        .map(|d| positive_duration(loc, d, "stop_timeout"))
        .transpose()?
        .unwrap_or(DEFAULT_STOP_TIMEOUT_MS);
    let check = |c: &Spanned<RawCheck>, field: &str| -> Result<HealthCheck, ManifestError> {
        match (&c.get_ref().path, c.get_ref().tcp) {
            (Some(path), None) if path.starts_with('/') => Ok(HealthCheck::Http { path: path.clone() }),
            (None, Some(true)) => Ok(HealthCheck::Tcp),
            _ => Err(loc.error(
                c,
                format!("`{field}` is {{ path = \"/healthz\" }} (an HTTP GET answering 2xx) or {{ tcp = true }} (the port accepts connections)"),
            )),
        }
    };
    let health = raw
        .health
        .as_ref()
        .map(|c| check(c, "health"))
        .transpose()?
        .unwrap_or(HealthCheck::Tcp);
    let liveness = raw
        .liveness
        .as_ref()
        .map(|c| check(c, "liveness"))
        .transpose()?;
    Ok(ServiceSpec {
        image,
        entrypoint: argv(loc, &raw.entrypoint, "entrypoint")?,
        command: argv(loc, &raw.command, "command")?,
        env: validate_env(loc, &raw.env)?,
        port,
        routes,
        memory_bytes: memory(loc, &raw.memory, DEFAULT_TASK_MEMORY_BYTES)?,
        cpus_milli: cpus(loc, &raw.cpus)?,
        concurrency,
        min_replicas,
        max_replicas,
        idle_ms,
        health,
        liveness,
        stop_timeout_ms,
    })
}
