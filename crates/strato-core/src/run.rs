//! Runs: one execution of a function or a task, with its logs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted and durable, not started yet (tasks).
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// Refused before it started (e.g. over the concurrency limit).
    Throttled,
    /// Killed by the kernel for exceeding its memory limit (tasks).
    OomKilled,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::TimedOut,
        RunStatus::Throttled,
        RunStatus::OomKilled,
    ];

    /// The statuses' names, for a hint: `queued, running, ... or oom_killed`.
    pub fn names_hint() -> String {
        let names: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        let (last, rest) = names.split_last().expect("there are statuses");
        format!("{} or {last}", rest.join(", "))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Throttled => "throttled",
            RunStatus::OomKilled => "oom_killed",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        Some(match text {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "timed_out" => RunStatus::TimedOut,
            "throttled" => RunStatus::Throttled,
            "oom_killed" => RunStatus::OomKilled,
            _ => return None,
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A request on the gateway matched one of the function's routes.
    Http,
    /// `strato invoke` / the control API's invoke endpoint.
    Invoke,
    /// An object was written to or removed from a subscribed bucket.
    Bucket,
    /// An asynchronous invocation taken from the durable queue.
    Async,
    /// A batch of messages from a queue the target consumes.
    Queue,
    /// A schedule's slot came.
    Schedule,
    /// A workflow's Task state.
    Workflow,
    /// A service's replica: one run from its start to its stop.
    Service,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Invoke => "invoke",
            Trigger::Bucket => "bucket",
            Trigger::Async => "async",
            Trigger::Queue => "queue",
            Trigger::Schedule => "schedule",
            Trigger::Workflow => "workflow",
            Trigger::Service => "service",
        }
    }

    pub fn parse(text: &str) -> Option<Trigger> {
        match text {
            "http" => Some(Trigger::Http),
            "invoke" => Some(Trigger::Invoke),
            "bucket" => Some(Trigger::Bucket),
            "async" => Some(Trigger::Async),
            "queue" => Some(Trigger::Queue),
            "schedule" => Some(Trigger::Schedule),
            "workflow" => Some(Trigger::Workflow),
            "service" => Some(Trigger::Service),
            _ => None,
        }
    }
}

/// Which standard stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Written by Strato itself about the run (denied requests, traps).
    System,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::System => "system",
        }
    }

    pub fn parse(text: &str) -> LogStream {
        match text {
            "stdout" => LogStream::Stdout,
            "stderr" => LogStream::Stderr,
            _ => LogStream::System,
        }
    }
}

/// One line of a run's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch when the line was written.
    pub ts_ms: i64,
    pub stream: LogStream,
    pub text: String,
}

/// One execution, as recorded in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub app: String,
    pub function: String,
    pub revision: i64,
    pub trigger: Trigger,
    pub status: RunStatus,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Wall time in microseconds from start to the guest's return.
    pub duration_us: i64,
    pub cold_start: bool,
    pub memory_limit_bytes: u64,
    /// Duration rounded up to the next whole millisecond.
    pub billed_ms: i64,
    /// HTTP status answered to the caller, when one was.
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// The bucket event or async invocation this run delivered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// 1 for the first try; retries of the same event or task count up.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// A task's exit code, once it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Time a cold start spent getting its instance or environment ready
    /// (a Lambda function's init duration), in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_us: Option<i64>,
    /// The run's trace (32 hex digits), shared by the chain of work it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The run's own span in that trace (16 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The span that caused the run (a request's caller, the run that
    /// wrote the object, sent the message or started the task), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// CPU time the run's processes used, user and system, in
    /// microseconds (container runs, when the kernel counted it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us: Option<i64>,
    /// How long the work waited between being accepted and the run's
    /// start, in microseconds: an async invocation, bucket event or
    /// message since it was queued, written or sent (across retries, as
    /// Lambda's event age counts), a task run since it was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_us: Option<i64>,
}

fn first_attempt() -> u32 {
    1
}

impl RunRecord {
    /// A record of `app`'s `function` with its figures still zero and its
    /// details unset: a start for struct-update syntax.
    pub fn blank(id: &str, app: &str, function: &str, trigger: Trigger) -> RunRecord {
        RunRecord {
            id: id.to_string(),
            app: app.to_string(),
            function: function.to_string(),
            revision: 0,
            trigger,
            status: RunStatus::Queued,
            started_at_ms: 0,
            duration_us: 0,
            cold_start: false,
            memory_limit_bytes: 0,
            billed_ms: 0,
            http_status: None,
            error: None,
            event_id: None,
            attempt: 1,
            exit_code: None,
            init_us: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            cpu_us: None,
            queued_us: None,
        }
    }

    /// Records where the run sits in its trace.
    pub fn set_span(&mut self, span: &crate::trace::RunSpan) {
        self.trace_id = Some(span.context.trace_hex());
        self.span_id = Some(span.context.span_hex());
        self.parent_span_id = span.parent.map(crate::trace::span_hex);
    }

    /// The trace id a store keeps: none for a run that began its trace,
    /// whose id follows from its run id and span id
    /// ([`crate::trace::trace_id_for_run`]); 33 bytes less per row of
    /// most gateway runs.
    pub fn stored_trace_id(&self) -> Option<&str> {
        match (&self.trace_id, self.parent_span_id.is_none()) {
            (Some(trace), true) if self.derived_trace_id().as_deref() == Some(trace) => None,
            (trace, _) => trace.as_deref(),
        }
    }

    /// Fills in the trace id a store left out (see
    /// [`RunRecord::stored_trace_id`]).
    pub fn fill_trace_id(&mut self) {
        if self.trace_id.is_none() && self.parent_span_id.is_none() {
            self.trace_id = self.derived_trace_id();
        }
    }

    fn derived_trace_id(&self) -> Option<String> {
        let span = u64::from_str_radix(self.span_id.as_deref()?, 16).ok()?;
        Some(format!(
            "{:032x}",
            crate::trace::trace_id_for_run(&self.id, span)
        ))
    }

    /// The run's own trace context, for what it causes next.
    pub fn trace_context(&self) -> Option<crate::trace::TraceContext> {
        crate::trace::context_of(self.trace_id.as_deref()?, self.span_id.as_deref()?)
    }

    /// Billing rounds up to whole milliseconds, with a minimum of one.
    pub fn billed_ms_for(duration_us: i64) -> i64 {
        ((duration_us + 999) / 1000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_rounds_up() {
        assert_eq!(RunRecord::billed_ms_for(0), 1);
        assert_eq!(RunRecord::billed_ms_for(1000), 1);
        assert_eq!(RunRecord::billed_ms_for(1001), 2);
    }

    #[test]
    fn status_round_trips() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
            // The stored name is the JSON name.
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(RunStatus::parse("nope"), None);
        assert_eq!(
            RunStatus::names_hint(),
            "queued, running, succeeded, failed, timed_out, throttled or oom_killed"
        );
    }

    #[test]
    fn a_root_runs_trace_id_is_left_out_and_filled_back_in() {
        let run_id = "r0000000001230000000a";
        let span = crate::trace::RunSpan::begin(
            None,
            crate::trace::trace_id_for_run(run_id, 0xabcdef),
            0xabcdef,
        );
        let mut record: RunRecord = serde_json::from_value(serde_json::json!({
            "id": run_id, "app": "a", "function": "f", "revision": 1, "trigger": "http",
            "status": "succeeded", "started_at_ms": 1, "duration_us": 1, "cold_start": false,
            "memory_limit_bytes": 1, "billed_ms": 1,
        }))
        .unwrap();
        record.set_span(&span);
        let trace = record.trace_id.clone().unwrap();
        assert!(trace.starts_with("0000000001230000000a"), "{trace}");
        assert_eq!(record.stored_trace_id(), None);
        let mut read = record.clone();
        read.trace_id = None;
        read.fill_trace_id();
        assert_eq!(read, record);
        // A trace id that does not follow from the run is kept.
        record.trace_id = Some(format!("{:032x}", 7));
        assert_eq!(record.stored_trace_id(), record.trace_id.as_deref());
        // So is a child's.
        let child = crate::trace::RunSpan::begin(record.trace_context(), 0, 5);
        record.set_span(&child);
        assert_eq!(record.stored_trace_id(), Some(&*format!("{:032x}", 7)));
    }
}
