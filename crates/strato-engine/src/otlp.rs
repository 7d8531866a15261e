//! OpenTelemetry export over OTLP/HTTP (JSON encoding): each finished run
//! as a span, its log lines as log records, sent in batches to
//! `--otlp-endpoint` (`/v1/traces`, `/v1/logs`).
//!
//! Spans are written after the fact, with the ids Strato chose when the run
//! began (they are in the run's record and its children's), so this
//! encodes the OTLP messages directly rather than driving a live SDK
//! tracer, which would choose its own ids. Attributes follow the
//! OpenTelemetry FaaS conventions (`faas.trigger`, `faas.invocation_id`,
//! `faas.coldstart`, ...); a run fed by queue messages links to each
//! message's span. Export never slows a run: a full buffer drops spans
//! and counts them.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use strato_core::{LogLine, LogStream, RunRecord, RunStatus, TraceContext, Trigger};
use strato_store::{Execution, ExecutionEnd, ExecutionStatus};
use tokio::sync::mpsc;

/// Where and how spans go.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The receiver's base URL (`http://127.0.0.1:4318`); `/v1/traces` and
    /// `/v1/logs` are appended.
    pub endpoint: String,
    /// Longest a span waits before its batch is sent.
    pub flush_every: Duration,
}

/// One finished run to export, a workflow execution or a service's
/// request (each kept as a run's record is, so all batch alike).
struct Exported {
    record: RunRecord,
    logs: Vec<LogLine>,
    links: Vec<TraceContext>,
    shape: Shape,
}

/// What an exported span stands for.
enum Shape {
    Run,
    /// A workflow execution, by name.
    Execution(String),
    /// A request a service's replica (the record's id) answered.
    Request {
        method: String,
        path: String,
    },
}

/// A request a service answered, to export as a span.
pub(crate) struct ServedRequest<'a> {
    pub app: &'a str,
    pub service: &'a str,
    pub replica: &'a str,
    pub span: &'a strato_core::RunSpan,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub started_at_ms: i64,
    pub duration_us: i64,
}

/// Most runs buffered for export; past it, spans are dropped (counted).
const BUFFER: usize = 8192;
/// Most spans in one request.
const BATCH: usize = 512;

/// Counts of what export did, for `/metrics`.
#[derive(Default)]
pub(crate) struct ExportCounters {
    pub spans_sent: AtomicU64,
    pub spans_dropped: AtomicU64,
    pub failures: AtomicU64,
}

/// Sends finished runs to an OTLP receiver from a background task.
pub(crate) struct OtlpExporter {
    tx: mpsc::Sender<Exported>,
    pub counters: Arc<ExportCounters>,
}

impl OtlpExporter {
    pub(crate) fn spawn(config: OtlpConfig) -> OtlpExporter {
        let (tx, rx) = mpsc::channel(BUFFER);
        let counters = Arc::new(ExportCounters::default());
        tokio::spawn(send_batches(config, rx, counters.clone()));
        OtlpExporter { tx, counters }
    }

    /// Queues a finished run (a span, with its lines and the spans it
    /// links to); never waits.
    pub(crate) fn export(&self, record: &RunRecord, logs: &[LogLine], links: Vec<TraceContext>) {
        if record.trace_id.is_none() {
            return;
        }
        self.queue(Exported {
            record: record.clone(),
            logs: logs.to_vec(),
            links,
            shape: Shape::Run,
        });
    }

    /// Queues an ended workflow execution as the span its Task states'
    /// runs hang from.
    pub(crate) fn export_execution(&self, e: &Execution, end: &ExecutionEnd) {
        if e.trace_id.is_none() {
            return;
        }
        let record = RunRecord {
            revision: e.revision,
            status: match end.status {
                ExecutionStatus::Succeeded => RunStatus::Succeeded,
                ExecutionStatus::TimedOut => RunStatus::TimedOut,
                ExecutionStatus::Running | ExecutionStatus::Failed | ExecutionStatus::Aborted => {
                    RunStatus::Failed
                }
            },
            started_at_ms: e.started_ms,
            duration_us: (end.stopped_ms - e.started_ms).max(0) * 1000,
            error: end.error.clone(),
            trace_id: e.trace_id.clone(),
            span_id: e.span_id.clone(),
            parent_span_id: e.parent_span_id.clone(),
            ..RunRecord::blank(&e.id, &e.app, &e.workflow, Trigger::Workflow)
        };
        self.queue(Exported {
            record,
            logs: Vec::new(),
            links: Vec::new(),
            shape: Shape::Execution(e.name.clone()),
        });
    }

    /// Queues a request a service answered, as a server span.
    pub(crate) fn export_request(&self, r: &ServedRequest<'_>) {
        let mut record = RunRecord {
            status: if r.status < 500 {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            started_at_ms: r.started_at_ms,
            duration_us: r.duration_us,
            http_status: Some(r.status),
            ..RunRecord::blank(r.replica, r.app, r.service, Trigger::Service)
        };
        record.set_span(r.span);
        self.queue(Exported {
            record,
            logs: Vec::new(),
            links: Vec::new(),
            shape: Shape::Request {
                method: r.method.to_string(),
                path: r.path.to_string(),
            },
        });
    }

    fn queue(&self, item: Exported) {
        if self.tx.try_send(item).is_err() {
            self.counters.spans_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn send_batches(
    config: OtlpConfig,
    mut rx: mpsc::Receiver<Exported>,
    counters: Arc<ExportCounters>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client builds");
    let base = config.endpoint.trim_end_matches('/').to_string();
    let mut batch: Vec<Exported> = Vec::new();
    loop {
        let first = match rx.recv().await {
            Some(item) => item,
            None => return,
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + config.flush_every;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        let spans = traces_request(&batch);
        let logs = logs_request(&batch);
        let count = batch.len() as u64;
        batch.clear();
        let sent = post(&client, &format!("{base}/v1/traces"), &spans).await;
        let logged = match &logs {
            Some(logs) => post(&client, &format!("{base}/v1/logs"), logs).await,
            None => Ok(()),
        };
        match sent.and(logged) {
            Ok(()) => {
                counters.spans_sent.fetch_add(count, Ordering::Relaxed);
            }
            Err(e) => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                counters.spans_dropped.fetch_add(count, Ordering::Relaxed);
                tracing::warn!(error = %e, endpoint = %base, spans = count, "OTLP export failed; these spans are dropped");
            }
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

/// OpenTelemetry's `faas.trigger` for how a run started.
fn faas_trigger(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Http | Trigger::Service => "http",
        Trigger::Queue => "pubsub",
        Trigger::Bucket => "datasource",
        Trigger::Schedule => "timer",
        Trigger::Invoke | Trigger::Async | Trigger::Workflow => "other",
    }
}

/// OTLP's span kind: a server for requests, a consumer for delivered
/// events and messages, internal otherwise.
fn span_kind(trigger: Trigger) -> u8 {
    match trigger {
        Trigger::Http | Trigger::Invoke | Trigger::Service => 2,
        Trigger::Queue | Trigger::Bucket | Trigger::Async => 5,
        Trigger::Schedule | Trigger::Workflow => 1,
    }
}

fn attr(key: &str, value: Value) -> Value {
    let value = match value {
        Value::Bool(b) => json!({ "boolValue": b }),
        // OTLP's JSON encodes 64-bit integers as strings.
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n }),
        Value::String(s) => json!({ "stringValue": s }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": value })
}

fn nanos(ms: i64) -> i64 {
    ms.saturating_mul(1_000_000)
}

/// One run (or workflow execution) as an OTLP span.
fn span(item: &Exported) -> Value {
    let r = &item.record;
    let start = nanos(r.started_at_ms);
    let end = start + r.duration_us.max(0) * 1000;
    let attributes = match &item.shape {
        Shape::Run => run_attributes(item),
        Shape::Execution(name) => execution_attributes(r, name),
        Shape::Request { method, path } => request_attributes(r, method, path),
    };
    let ok = r.status == RunStatus::Succeeded;
    let mut status = json!({ "code": if ok { 1 } else { 2 } });
    if let Some(error) = &r.error {
        status["message"] = json!(error);
    }
    let kind = match item.shape {
        Shape::Run => span_kind(r.trigger),
        Shape::Execution(_) => 1,
        Shape::Request { .. } => 2,
    };
    let mut span = json!({
        "traceId": r.trace_id,
        "spanId": r.span_id,
        "name": format!("{}/{}", r.app, r.function),
        "kind": kind,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": end.to_string(),
        "attributes": attributes,
        "status": status,
    });
    if let Some(parent) = &r.parent_span_id {
        span["parentSpanId"] = json!(parent);
    }
    if !item.links.is_empty() {
        span["links"] = item
            .links
            .iter()
            .map(|l| json!({ "traceId": l.trace_hex(), "spanId": l.span_hex() }))
            .collect();
    }
    span
}

/// A service request's attributes, by the HTTP server conventions.
fn request_attributes(r: &RunRecord, method: &str, path: &str) -> Vec<Value> {
    vec![
        attr("http.request.method", json!(method)),
        attr("url.path", json!(path)),
        attr("http.response.status_code", json!(r.http_status)),
        attr("strato.app", json!(r.app)),
        attr("strato.service", json!(r.function)),
        attr("strato.replica", json!(r.id)),
    ]
}

/// A workflow execution's attributes (Strato's own: OpenTelemetry has no
/// workflow conventions yet).
fn execution_attributes(r: &RunRecord, name: &str) -> Vec<Value> {
    vec![
        attr("strato.app", json!(r.app)),
        attr("strato.workflow", json!(r.function)),
        attr("strato.execution.id", json!(r.id)),
        attr("strato.execution.name", json!(name)),
        attr("strato.status", json!(r.status.as_str())),
    ]
}

/// A run's attributes, by the FaaS (and, for queue batches, messaging)
/// conventions.
fn run_attributes(item: &Exported) -> Vec<Value> {
    let r = &item.record;
    let mut attributes = vec![
        attr("faas.trigger", json!(faas_trigger(r.trigger))),
        attr("faas.invocation_id", json!(r.id)),
        attr("faas.coldstart", json!(r.cold_start)),
        attr("faas.name", json!(r.function)),
        attr("faas.max_memory", json!(r.memory_limit_bytes)),
        attr("strato.app", json!(r.app)),
        attr("strato.trigger", json!(r.trigger.as_str())),
        attr("strato.status", json!(r.status.as_str())),
        attr("strato.attempt", json!(r.attempt)),
        attr("strato.billed_ms", json!(r.billed_ms)),
    ];
    if let Some(status) = r.http_status {
        attributes.push(attr("http.response.status_code", json!(status)));
    }
    if let Some(code) = r.exit_code {
        attributes.push(attr("process.exit.code", json!(code)));
    }
    if let Some(init) = r.init_us {
        attributes.push(attr("strato.init_us", json!(init)));
    }
    if let Some(event) = &r.event_id {
        attributes.push(attr("strato.event_id", json!(event)));
    }
    if r.trigger == Trigger::Queue {
        attributes.push(attr("messaging.operation.type", json!("process")));
        attributes.push(attr(
            "messaging.batch.message_count",
            json!(item.links.len()),
        ));
    }
    attributes
}

/// The resource a batch's spans or logs come from: one per app.
fn resource(app: &str) -> Value {
    json!({ "attributes": [
        attr("service.name", json!(app)),
        attr("service.namespace", json!("strato")),
        attr("cloud.provider", json!("strato")),
    ]})
}

/// Items grouped by app, in first-seen order.
fn by_app(batch: &[Exported]) -> Vec<(&str, Vec<&Exported>)> {
    let mut groups: Vec<(&str, Vec<&Exported>)> = Vec::new();
    for item in batch {
        match groups.iter_mut().find(|(app, _)| *app == item.record.app) {
            Some((_, items)) => items.push(item),
            None => groups.push((&item.record.app, vec![item])),
        }
    }
    groups
}

const SCOPE: &str = "strato";

/// An `ExportTraceServiceRequest` for a batch.
fn traces_request(batch: &[Exported]) -> Value {
    let resource_spans: Vec<Value> = by_app(batch)
        .into_iter()
        .map(|(app, items)| {
            json!({
                "resource": resource(app),
                "scopeSpans": [{
                    "scope": { "name": SCOPE, "version": env!("CARGO_PKG_VERSION") },
                    "spans": items.into_iter().map(span).collect::<Vec<_>>(),
                }],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

/// An `ExportLogsServiceRequest` for a batch's lines, if it has any.
fn logs_request(batch: &[Exported]) -> Option<Value> {
    if batch.iter().all(|i| i.logs.is_empty()) {
        return None;
    }
    let resource_logs: Vec<Value> = by_app(batch)
        .into_iter()
        .map(|(app, items)| {
            let records: Vec<Value> = items
                .iter()
                .flat_map(|item| {
                    item.logs.iter().map(move |line| {
                        let (severity, number) = match line.stream {
                            LogStream::Stdout => ("INFO", 9),
                            LogStream::Stderr => ("ERROR", 17),
                            LogStream::System => ("WARN", 13),
                        };
                        json!({
                            "timeUnixNano": nanos(line.ts_ms).to_string(),
                            "severityText": severity,
                            "severityNumber": number,
                            "body": { "stringValue": line.text },
                            "traceId": item.record.trace_id,
                            "spanId": item.record.span_id,
                            "attributes": [
                                attr("strato.run_id", json!(item.record.id)),
                                attr("log.iostream", json!(line.stream.as_str())),
                            ],
                        })
                    })
                })
                .collect();
            json!({
                "resource": resource(app),
                "scopeLogs": [{ "scope": { "name": SCOPE }, "logRecords": records }],
            })
        })
        .collect();
    Some(json!({ "resourceLogs": resource_logs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, trigger: Trigger, span: &str, parent: Option<&str>) -> RunRecord {
        RunRecord {
            id: id.into(),
            app: "shop".into(),
            function: "checkout".into(),
            revision: 1,
            trigger,
            status: RunStatus::Failed,
            started_at_ms: 1_700_000_000_000,
            duration_us: 2500,
            cold_start: true,
            memory_limit_bytes: 128 << 20,
            billed_ms: 3,
            http_status: Some(500),
            error: Some("boom".into()),
            event_id: None,
            attempt: 2,
            exit_code: None,
            init_us: Some(900),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some(span.into()),
            parent_span_id: parent.map(str::to_string),
            cpu_us: None,
            queued_us: None,
        }
    }

    /// The value of a span's attribute `key`, if it has one.
    fn attribute_of(span: &Value, key: &str) -> Option<Value> {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
    }

    #[test]
    fn a_run_is_a_span_with_faas_attributes() {
        let link = TraceContext::parse_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .unwrap();
        let batch = vec![Exported {
            record: record(
                "r1",
                Trigger::Queue,
                "00f067aa0ba902b7",
                Some("53995c3f42cd8ad8"),
            ),
            logs: vec![LogLine {
                ts_ms: 1_700_000_000_001,
                stream: LogStream::Stderr,
                text: "oops".into(),
            }],
            links: vec![link],
            shape: Shape::Run,
        }];
        let request = traces_request(&batch);
        let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["spanId"], "00f067aa0ba902b7");
        assert_eq!(span["parentSpanId"], "53995c3f42cd8ad8");
        assert_eq!(span["kind"], 5);
        assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(span["endTimeUnixNano"], "1700000000002500000");
        assert_eq!(span["status"], json!({"code": 2, "message": "boom"}));
        assert_eq!(span["links"][0]["spanId"], "b7ad6b7169203331");
        let attribute = |key: &str| attribute_of(span, key);
        assert_eq!(
            attribute("faas.trigger"),
            Some(json!({"stringValue": "pubsub"}))
        );
        assert_eq!(
            attribute("faas.coldstart"),
            Some(json!({"boolValue": true}))
        );
        assert_eq!(
            attribute("faas.invocation_id"),
            Some(json!({"stringValue": "r1"}))
        );
        assert_eq!(attribute("strato.attempt"), Some(json!({"intValue": "2"})));
        assert_eq!(
            request["resourceSpans"][0]["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "shop"}})
        );
        let logs = logs_request(&batch).unwrap();
        let line = &logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(line["body"]["stringValue"], "oops");
        assert_eq!(line["spanId"], "00f067aa0ba902b7");
        assert_eq!(line["severityText"], "ERROR");
    }

    #[test]
    fn a_root_span_has_no_parent_and_no_lines_make_no_logs() {
        let batch = vec![Exported {
            record: record("r2", Trigger::Http, "00f067aa0ba902b7", None),
            logs: Vec::new(),
            links: Vec::new(),
            shape: Shape::Run,
        }];
        let request = traces_request(&batch);
        let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert!(span.get("parentSpanId").is_none());
        assert!(span.get("links").is_none());
        assert_eq!(span["kind"], 2);
        assert!(logs_request(&batch).is_none());
    }

    #[test]
    fn a_service_request_is_a_server_span_with_http_attributes() {
        let mut record = record("r9", Trigger::Service, "00f067aa0ba902b9", None);
        record.http_status = Some(404);
        let batch = vec![Exported {
            record,
            logs: Vec::new(),
            links: Vec::new(),
            shape: Shape::Request {
                method: "GET".into(),
                path: "/x".into(),
            },
        }];
        let request = traces_request(&batch);
        let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["kind"], 2);
        let value = |key: &str| attribute_of(span, key);
        assert_eq!(value("url.path"), Some(json!({"stringValue": "/x"})));
        assert_eq!(
            value("http.response.status_code"),
            Some(json!({"intValue": "404"}))
        );
        assert_eq!(value("faas.trigger"), None);
    }

    #[test]
    fn an_execution_is_an_internal_span_named_for_its_workflow() {
        let mut record = record("x1", Trigger::Workflow, "00f067aa0ba902b8", Some("aa"));
        record.function = "orders".into();
        let batch = vec![Exported {
            record,
            logs: Vec::new(),
            links: Vec::new(),
            shape: Shape::Execution("order-7".into()),
        }];
        let request = traces_request(&batch);
        let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(
            (span["name"].as_str(), span["kind"].as_i64()),
            (Some("shop/orders"), Some(1))
        );
        let keys: Vec<&str> = span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["key"].as_str())
            .collect();
        assert!(keys.contains(&"strato.execution.name"), "{keys:?}");
        assert!(!keys.contains(&"faas.trigger"), "{keys:?}");
    }
}
