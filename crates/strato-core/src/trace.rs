//! W3C trace context: which trace a run belongs to and which span caused it.
//!
//! Every run carries a [`TraceContext`]: its trace id (shared by the whole
//! chain of work), its own span id, and (in its record) its parent's span
//! id. The context travels in the forms each peer speaks: a W3C
//! `traceparent` header (gateway, wasm functions, OTLP), the X-Ray form
//! (`_X_AMZN_TRACE_ID`, `Lambda-Runtime-Trace-Id`, `X-Amzn-Trace-Id`, SQS's
//! `AWSTraceHeader`), and `TRACEPARENT` in a task's environment. Ids come
//! from the caller (this crate does no IO, randomness included).

use std::fmt;

/// A position in a trace: the trace and one span of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
}

impl TraceContext {
    /// A context from ids; `None` if either is zero (W3C calls an all-zero
    /// id invalid).
    pub fn new(trace_id: u128, span_id: u64, sampled: bool) -> Option<TraceContext> {
        (trace_id != 0 && span_id != 0).then_some(TraceContext {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// A span of the same trace, caused by this one.
    pub fn child(&self, span_id: u64) -> TraceContext {
        TraceContext {
            span_id: span_id.max(1),
            ..*self
        }
    }

    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lower-case hex digits.
    pub fn span_hex(&self) -> String {
        span_hex(self.span_id)
    }

    /// Parses a W3C `traceparent` (`00-<trace>-<span>-<flags>`). Versions
    /// above 00 are read by their first four fields, as the spec asks.
    pub fn parse_traceparent(text: &str) -> Option<TraceContext> {
        let text = text.trim();
        let mut parts = text.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let rest = parts.next();
        if version.len() != 2 || version == "ff" || !is_lower_hex(version) {
            return None;
        }
        if version == "00" && rest.is_some() {
            return None;
        }
        if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        if ![trace, span, flags].iter().all(|p| is_lower_hex(p)) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        TraceContext::new(
            u128::from_str_radix(trace, 16).ok()?,
            u64::from_str_radix(span, 16).ok()?,
            flags & 1 == 1,
        )
    }

    /// The W3C `traceparent` form.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.sampled as u8
        )
    }

    /// Parses X-Ray's header form
    /// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`).
    /// Without a `Parent`, the context is the trace's root: `None`, since a
    /// run needs a span to hang from (a caller starts a new span instead).
    pub fn parse_xray(text: &str) -> Option<TraceContext> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = true;
        for field in text.split(';') {
            let (key, value) = field.trim().split_once('=')?;
            match key {
                "Root" => {
                    let mut parts = value.split('-');
                    let (version, time, unique) = (parts.next()?, parts.next()?, parts.next()?);
                    if version != "1"
                        || parts.next().is_some()
                        || time.len() != 8
                        || unique.len() != 24
                        || !is_hex(time)
                        || !is_hex(unique)
                    {
                        return None;
                    }
                    root = u128::from_str_radix(&format!("{time}{unique}"), 16).ok();
                }
                "Parent" if value.len() == 16 && is_hex(value) => {
                    parent = u64::from_str_radix(value, 16).ok();
                }
                "Sampled" => sampled = value != "0",
                _ => {}
            }
        }
        TraceContext::new(root?, parent?, sampled)
    }

    /// X-Ray's header form: the first 8 hex digits of the trace id are
    /// its epoch part, the other 24 its unique part.
    pub fn xray(&self) -> String {
        let hex = self.trace_hex();
        format!(
            "Root=1-{}-{};Parent={:016x};Sampled={}",
            &hex[..8],
            &hex[8..],
            self.span_id,
            self.sampled as u8
        )
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// A span id as 16 lower-case hex digits.
pub fn span_hex(span_id: u64) -> String {
    format!("{span_id:016x}")
}

/// The id of a trace a run begins: the run id's 20 hex digits (`r` and
/// a millisecond time and counter, see the engine's run ids) then the
/// low 12 of `random` (the run's span id). The trace's root run is then
/// found by its id, so runs need an index by trace only when they have a
/// parent (most gateway requests do not: indexing every run cost 15 % of
/// gateway throughput), and its record need not keep the trace id at all
/// (see [`crate::RunRecord::stored_trace_id`]).
pub fn trace_id_for_run(run_id: &str, random: u64) -> u128 {
    let digits = run_id.get(1..21).filter(|d| is_hex(d));
    let high = digits.and_then(|d| u128::from_str_radix(d, 16).ok());
    match high {
        Some(high) => (high << 48) | u128::from(random & 0xffff_ffff_ffff),
        // Not a run id of that shape: an ordinary random trace.
        None => u128::from(random) << 64 | u128::from(random.rotate_left(17)),
    }
    .max(1)
}

/// The (sampled) context of a recorded span, from its hex ids.
pub fn context_of(trace_hex: &str, span_hex: &str) -> Option<TraceContext> {
    let trace = parse_trace_id(trace_hex)?;
    let span = u64::from_str_radix(span_hex, 16).ok()?;
    TraceContext::new(trace, span, true)
}

/// The id of the run that began trace `trace_hex`, if Strato began it.
pub fn root_run_id(trace_hex: &str) -> Option<String> {
    let digits = trace_hex.get(..20)?;
    is_hex(digits).then(|| format!("r{digits}"))
}

/// A trace id of 32 hex digits, as `strato trace` and the API take it.
pub fn parse_trace_id(text: &str) -> Option<u128> {
    (text.len() == 32 && is_hex(text))
        .then(|| u128::from_str_radix(text, 16).ok())
        .flatten()
        .filter(|id| *id != 0)
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a run sits in its trace, as its record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpan {
    /// The run's own context (its span id is the run's).
    pub context: TraceContext,
    /// The span that caused the run, if any (none: the run began the trace).
    pub parent: Option<u64>,
}

impl RunSpan {
    /// The span of a run caused by `parent` (or starting a trace of its
    /// own with `new_trace` when there is none), with `span_id` its own.
    pub fn begin(parent: Option<TraceContext>, new_trace: u128, span_id: u64) -> RunSpan {
        match parent {
            Some(parent) => RunSpan {
                context: parent.child(span_id),
                parent: Some(parent.span_id()),
            },
            None => RunSpan {
                context: TraceContext::new(new_trace.max(1), span_id.max(1), true)
                    .expect("ids are non-zero"),
                parent: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_refuses_malformed_ones() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = TraceContext::parse_traceparent(text).unwrap();
        assert_eq!(cx.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(cx.span_hex(), "00f067aa0ba902b7");
        assert!(cx.sampled());
        assert_eq!(cx.traceparent(), text);
        // A later version with more fields is read by its first four.
        assert_eq!(
            TraceContext::parse_traceparent(&format!("01{}-extra", &text[2..])),
            Some(cx)
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn xray_form_maps_onto_the_same_ids() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let cx = TraceContext::parse_xray(header).unwrap();
        assert_eq!(cx.trace_hex(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(cx.span_hex(), "53995c3f42cd8ad8");
        assert_eq!(cx.xray(), header);
        assert_eq!(
            TraceContext::parse_traceparent(&cx.traceparent()),
            Some(cx),
            "both forms name one context"
        );
        assert!(
            !TraceContext::parse_xray(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
            )
            .unwrap()
            .sampled()
        );
        assert_eq!(
            TraceContext::parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793"),
            None
        );
        assert_eq!(TraceContext::parse_xray("Root=2-x-y;Parent=1"), None);
    }

    #[test]
    fn a_run_hangs_from_its_parent_or_starts_a_trace() {
        let parent = TraceContext::new(7, 9, true).unwrap();
        let span = RunSpan::begin(Some(parent), 1234, 42);
        assert_eq!(span.context.trace_id(), 7);
        assert_eq!(span.context.span_id(), 42);
        assert_eq!(span.parent, Some(9));
        let root = RunSpan::begin(None, 1234, 42);
        assert_eq!(root.context.trace_id(), 1234);
        assert_eq!(root.parent, None);
        assert_eq!(parse_trace_id(&root.context.trace_hex()), Some(1234));
        assert_eq!(parse_trace_id("xyz"), None);
    }

    #[test]
    fn a_trace_a_run_begins_names_the_run() {
        let run = "r018f2a3b4c5d00000007";
        let trace = TraceContext::new(trace_id_for_run(run, 0xabcdef), 1, true).unwrap();
        assert_eq!(trace.trace_hex(), "018f2a3b4c5d00000007000000abcdef");
        assert_eq!(root_run_id(&trace.trace_hex()).as_deref(), Some(run));
        assert_ne!(trace_id_for_run("task-x", 5), 0);
    }
}
