//! Capture of a guest's stdout and stderr, line by line, with a time stamp
//! per line and a cap on total bytes so a chatty guest cannot exhaust memory.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use strato_core::{LogLine, LogStream};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most bytes of output kept per run; the rest is dropped and noted.
pub const MAX_LOG_BYTES: usize = 1 << 20;
/// Longest line kept; longer lines are split.
const MAX_LINE: usize = 16 * 1024;

#[derive(Default)]
struct Buffer {
    lines: Vec<LogLine>,
    partial_out: Vec<u8>,
    partial_err: Vec<u8>,
    bytes: usize,
    truncated: bool,
}

impl Buffer {
    /// Turns an unterminated line of `stream` into a log line.
    fn flush_partial(&mut self, stream: LogStream, ts_ms: i64) {
        let partial = match stream {
            LogStream::Stderr => std::mem::take(&mut self.partial_err),
            _ => std::mem::take(&mut self.partial_out),
        };
        if !partial.is_empty() {
            self.lines.push(LogLine {
                ts_ms,
                stream,
                text: String::from_utf8_lossy(&partial).to_string(),
            });
        }
    }
}

/// The shared sink both streams of one run write into.
#[derive(Clone, Default)]
pub struct LogCapture {
    inner: Arc<Mutex<Buffer>>,
}

pub(crate) use strato_core::time::now_ms;

impl LogCapture {
    pub fn new() -> Self {
        Self::default()
    }

    /// A stream writing into this capture as `stream`.
    pub fn pipe(&self, stream: LogStream) -> LogPipe {
        LogPipe {
            capture: self.clone(),
            stream,
        }
    }

    /// Appends a line written by Strato itself about the run.
    pub fn system(&self, text: impl Into<String>) {
        let mut b = self.inner.lock().expect("log lock");
        b.lines.push(LogLine {
            ts_ms: now_ms(),
            stream: LogStream::System,
            text: text.into(),
        });
    }

    fn write(&self, stream: LogStream, bytes: &[u8]) {
        let mut guard = self.inner.lock().expect("log lock");
        let b = &mut *guard;
        if b.truncated {
            return;
        }
        let room = MAX_LOG_BYTES.saturating_sub(b.bytes);
        let take = bytes.len().min(room);
        b.bytes += take;
        let ts = now_ms();
        let (partial, lines) = match stream {
            LogStream::Stderr => (&mut b.partial_err, &mut b.lines),
            _ => (&mut b.partial_out, &mut b.lines),
        };
        for &byte in &bytes[..take] {
            if byte == b'\n' || partial.len() >= MAX_LINE {
                lines.push(LogLine {
                    ts_ms: ts,
                    stream,
                    text: String::from_utf8_lossy(partial)
                        .trim_end_matches('\r')
                        .to_string(),
                });
                partial.clear();
                if byte == b'\n' {
                    continue;
                }
            }
            partial.push(byte);
        }
        if take < bytes.len() {
            b.truncated = true;
            // Keep the cut-off line before the note saying output stopped.
            b.flush_partial(stream, ts);
            b.lines.push(LogLine {
                ts_ms: ts,
                stream: LogStream::System,
                text: format!("log output over {MAX_LOG_BYTES} bytes; the rest was dropped"),
            });
        }
    }

    /// A copy of the complete lines captured so far.
    pub fn lines_so_far(&self) -> Vec<LogLine> {
        self.inner.lock().expect("log lock").lines.clone()
    }

    /// Everything captured, with unterminated last lines included.
    pub fn take_lines(&self) -> Vec<LogLine> {
        let mut b = self.inner.lock().expect("log lock");
        let ts = now_ms();
        b.flush_partial(LogStream::Stdout, ts);
        b.flush_partial(LogStream::Stderr, ts);
        std::mem::take(&mut b.lines)
    }
}

/// One of a run's output streams, as handed to WASI.
#[derive(Clone)]
pub struct LogPipe {
    capture: LogCapture,
    stream: LogStream,
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.capture.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.capture.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_per_stream_and_keeps_partials() {
        let capture = LogCapture::new();
        capture.write(LogStream::Stdout, b"one\ntw");
        capture.write(LogStream::Stderr, b"err\r\n");
        capture.write(LogStream::Stdout, b"o\nthree");
        let lines = capture.take_lines();
        let texts: Vec<_> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                (LogStream::Stdout, "one"),
                (LogStream::Stderr, "err"),
                (LogStream::Stdout, "two"),
                (LogStream::Stdout, "three")
            ]
        );
    }

    #[test]
    fn caps_total_output() {
        let capture = LogCapture::new();
        let big = vec![b'x'; 1000];
        for _ in 0..(MAX_LOG_BYTES / 1000 + 10) {
            capture.write(LogStream::Stdout, &big);
            capture.write(LogStream::Stdout, b"\n");
        }
        let lines = capture.take_lines();
        assert!(lines.last().unwrap().text.contains("dropped"));
        let kept: usize = lines
            .iter()
            .filter(|l| l.stream == LogStream::Stdout)
            .map(|l| l.text.len())
            .sum();
        assert!(kept <= MAX_LOG_BYTES);
    }
}
