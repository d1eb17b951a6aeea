//! `sys.stdout` and `sys.stderr` (docs/how-it-runs.md): what a script prints reaches
//! Apache's error log as lines, as under mod_wsgi. Both are
//! [`ErrorStream`]s, the writer type of `wsgi.errors`, installed once per
//! interpreter by [`install_std_streams`] (before the first script is
//! loaded, and by whoever starts or attaches to the interpreter).
//!
//! - During a call on the writing thread ([`CallOutputScope`]: the script
//!   function and the reading of its result) a line carries the request's
//!   context (`[client ...]`), under tag 100 (`sys.stdout`, `STDOUT_LINE`) or 101 (`STDERR_LINE`)
//!   (`sys.stderr`); the call's partial lines are written when it ends.
//!   This thread-local state is the only per-call part; the line cutting
//!   is `wsgi.errors`'s own ([`LineBuffer`]).
//! - Outside a call (a script's import, a thread a script started) lines
//!   go to the main server's error log; a partial line waits for its end,
//!   `flush()`, the size bound, or the end of the script load that wrote it.
//! - Where another embedder had already replaced the streams (mod_wsgi's
//!   log objects, when this module runs in mod_wsgi's interpreter), writes
//!   made outside our calls are handed to those, so the application
//!   mod_wsgi hosts keeps its own behaviour.
//!
//! Nothing is hidden: a script that prints a password writes it to the log.

use authnz_core::log_tags as tags;
use std::cell::RefCell;
use std::sync::OnceLock;

use authnz_core::log_lines::LineBuffer;
use pyo3::prelude::*;
use pyo3::sync::OnceLockExt;

use crate::httpd::log::Level;
use crate::python::errors::describe;
use crate::python::log_sink::LogSink;
use crate::python::request_objects::ErrorStream;
use crate::{sink_log, slog};

/// Which of the two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdName {
    Stdout,
    Stderr,
}

impl StdName {
    const BOTH: [StdName; 2] = [StdName::Stdout, StdName::Stderr];

    /// The log tag of the stream's lines.
    pub fn tag(self) -> u16 {
        match self {
            StdName::Stdout => tags::STDOUT_LINE,
            StdName::Stderr => tags::STDERR_LINE,
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            StdName::Stdout => "stdout",
            StdName::Stderr => "stderr",
        }
    }

    /// `sys.__stdout__` / `sys.__stderr__`: what the interpreter started with.
    fn original_attribute(self) -> &'static str {
        match self {
            StdName::Stdout => "__stdout__",
            StdName::Stderr => "__stderr__",
        }
    }

    /// The stream's `name`, as Python's own streams call themselves.
    pub fn stream_name(self) -> &'static str {
        match self {
            StdName::Stdout => "<stdout>",
            StdName::Stderr => "<stderr>",
        }
    }
}

/// What the call running on this thread has printed and not yet logged.
struct CallOutput {
    log: LogSink,
    stdout: LineBuffer,
    stderr: LineBuffer,
}

impl CallOutput {
    fn buffer(&mut self, name: StdName) -> &mut LineBuffer {
        match name {
            StdName::Stdout => &mut self.stdout,
            StdName::Stderr => &mut self.stderr,
        }
    }
}

thread_local! {
    /// Set while a call runs on this thread ([`CallOutputScope`]).
    static CALL: RefCell<Option<CallOutput>> = const { RefCell::new(None) };
}

/// While it lives, what this thread prints belongs to the call for its
/// request: from after the script is found (its import is not part of the
/// call) until the result has been read (iterating what `groups_for_user`
/// returned is). Dropping it logs the call's partial lines.
pub struct CallOutputScope(());

impl CallOutputScope {
    pub fn begin(log: LogSink) -> CallOutputScope {
        CALL.with(|call| {
            if let Ok(mut call) = call.try_borrow_mut() {
                *call = Some(CallOutput {
                    log,
                    stdout: LineBuffer::new(),
                    stderr: LineBuffer::new(),
                });
            }
        });
        CallOutputScope(())
    }
}

impl Drop for CallOutputScope {
    fn drop(&mut self) {
        let finished = CALL.with(|call| call.try_borrow_mut().ok().and_then(|mut c| c.take()));
        if let Some(mut output) = finished {
            for name in StdName::BOTH {
                if let Some(line) = output.buffer(name).take_partial() {
                    sink_log!(output.log, Level::Error, name.tag(), "{line}");
                }
            }
        }
    }
}

/// Write `text` for the call running on this thread; false when there is
/// none (the caller writes outside a call).
pub(crate) fn write_in_call(name: StdName, text: &str) -> bool {
    CALL.with(|call| {
        let Ok(mut call) = call.try_borrow_mut() else {
            return false;
        };
        let Some(output) = call.as_mut() else {
            return false;
        };
        let log = output.log;
        output.buffer(name).push(text, |line| {
            sink_log!(log, Level::Error, name.tag(), "{line}")
        });
        true
    })
}

/// `flush()` for the call running on this thread; false when there is none.
pub(crate) fn flush_in_call(name: StdName) -> bool {
    CALL.with(|call| {
        let Ok(mut call) = call.try_borrow_mut() else {
            return false;
        };
        let Some(output) = call.as_mut() else {
            return false;
        };
        if let Some(line) = output.buffer(name).take_partial() {
            sink_log!(output.log, Level::Error, name.tag(), "{line}");
        }
        true
    })
}

/// The two streams once installed (empty when installing failed).
static STREAMS: OnceLock<Vec<Py<ErrorStream>>> = OnceLock::new();

/// Make `sys.stdout` and `sys.stderr` write to the error log. Safe to call
/// more than once and from any thread holding the GIL: the first call
/// installs (another caller waits for it without holding the GIL), the
/// others return at once. A failure is logged (tag 102) and leaves the
/// interpreter's streams as they were.
pub fn install_std_streams(py: Python<'_>) {
    STREAMS.get_or_init_py_attached(py, || match install(py) {
        Ok(streams) => streams,
        Err(err) => {
            slog!(
                None,
                Level::Error,
                tags::STD_STREAMS_NOT_REPLACED,
                "sys.stdout and sys.stderr could not be replaced; what scripts print does not \
                 reach the error log: {}",
                describe(py, &err)
            );
            Vec::new()
        }
    });
}

fn install(py: Python<'_>) -> PyResult<Vec<Py<ErrorStream>>> {
    let sys = py.import("sys")?;
    let mut made = Vec::with_capacity(2);
    for name in StdName::BOTH {
        let current = sys.getattr(name.attribute())?;
        let original = sys.getattr(name.original_attribute())?;
        // Streams someone else installed (not the interpreter's own, not
        // None) keep what is written outside our calls.
        let previous = (!current.is_none() && !current.is(&original)).then(|| current.unbind());
        made.push(Py::new(py, ErrorStream::std(name, previous))?);
    }
    for (name, stream) in StdName::BOTH.into_iter().zip(&made) {
        sys.setattr(name.attribute(), stream.clone_ref(py))?;
    }
    Ok(made)
}

/// Log the partial lines written outside a call (a script's import has
/// just finished). The GIL orders this with the writers.
pub fn flush_outside(_py: Python<'_>) {
    for stream in STREAMS.get().into_iter().flatten() {
        stream.get().flush_pending();
    }
}
