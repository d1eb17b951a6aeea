//! Where the lines of one Python call go: in embedded mode to the error
//! log with the request's context (`rlog!`, exactly as before), in an auth
//! daemon process (`daemon_side`) into the reply of the call, as
//! [`LogLine`]s the Apache child writes with the request's context. The
//! text of a captured line is the text the embedded line would have,
//! without the numbered tag (the line carries it apart).
//!
//! [`sink_log!`](crate::sink_log) checks the level before formatting, as
//! `rlog!` does; captured lines are all kept (the child applies its own
//! `LogLevel` when it writes them).

use std::cell::RefCell;

use authnz_core::daemon_frame::{LogLine, MAX_LOG_LINES};
use authnz_core::log_tags as tags;

use crate::httpd::log::{self, Level};
use crate::httpd::Request;
use crate::slog;

/// Where a call's lines go.
#[derive(Clone, Copy)]
pub enum LogSink {
    /// Embedded: the request's error log lines.
    Request(Request),
    /// In a daemon process: this thread's capture ([`Capture`]).
    Captured,
}

/// httpd's number of a level (`APLOG_ERR` = 3 ...).
pub fn level_number(level: Level) -> u8 {
    match level {
        Level::Emerg => 0,
        Level::Error => 3,
        Level::Warning => 4,
        Level::Notice => 5,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

impl LogSink {
    /// Whether a line of `level` is kept.
    pub fn enabled(self, level: Level) -> bool {
        match self {
            LogSink::Request(r) => log::request_enabled(&r, level),
            LogSink::Captured => true,
        }
    }

    /// Write one line (the caller checked [`LogSink::enabled`]).
    pub fn write(self, file: &'static [u8], line: u32, level: Level, tag: u16, text: &str) {
        match self {
            LogSink::Request(r) => log::log_request(&r, file, line, level, tag, text),
            LogSink::Captured => capture(level, tag, text),
        }
    }
}

/// `sink_log!(sink, Level::Error, tag, "text {}", x)`: `rlog!` for a
/// [`LogSink`]; formats only when the line is kept.
#[macro_export]
macro_rules! sink_log {
    ($sink:expr, $level:expr, $tag:expr, $($fmt:tt)+) => {{
        let (sink, level) = ($sink, $level);
        if $crate::python::log_sink::LogSink::enabled(sink, level) {
            $crate::python::log_sink::LogSink::write(
                sink, concat!(file!(), "\0").as_bytes(), line!(), level, $tag,
                &format!($($fmt)+))
        }
    }};
}

/// The lines captured on this thread, and how many did not fit.
struct Captured {
    lines: Vec<LogLine>,
    dropped: usize,
}

thread_local! {
    static CAPTURED: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

fn capture(level: Level, tag: u16, text: &str) {
    let kept = CAPTURED.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return false;
        };
        let Some(c) = c.as_mut() else {
            return false;
        };
        if c.lines.len() + 1 < MAX_LOG_LINES {
            c.lines.push(LogLine {
                level: level_number(level),
                tag,
                text: text.to_owned(),
            });
        } else {
            c.dropped += 1;
        }
        true
    });
    if !kept {
        // No call is capturing on this thread: the server's log.
        slog!(None, level, tag, "{text}");
    }
}

/// While it lives, [`LogSink::Captured`] lines written on this thread are
/// kept for the reply; [`Capture::finish`] hands them over.
pub struct Capture(());

impl Capture {
    pub fn begin() -> Capture {
        CAPTURED.with(|c| {
            *c.borrow_mut() = Some(Captured {
                lines: Vec::new(),
                dropped: 0,
            })
        });
        Capture(())
    }

    /// The lines captured since [`Capture::begin`].
    pub fn finish(self) -> Vec<LogLine> {
        let captured = CAPTURED.with(|c| c.borrow_mut().take());
        std::mem::forget(self);
        let Some(mut captured) = captured else {
            return Vec::new();
        };
        if captured.dropped > 0 {
            captured.lines.push(LogLine {
                level: level_number(Level::Error),
                tag: tags::DAEMON_LINES_DROPPED,
                text: format!(
                    "{} more lines of this call were not sent by the auth daemon process (at \
                     most {MAX_LOG_LINES} per call)",
                    captured.dropped
                ),
            });
        }
        captured.lines
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURED.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c.take();
            }
        });
    }
}
