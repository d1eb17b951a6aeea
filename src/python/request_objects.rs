//! Python objects handed to scripts in `environ` that reach back into the
//! request: `wsgi.errors`, `mod_ssl.is_https` and `mod_ssl.var_lookup`;
//! `wsgi.errors`'s type, [`ErrorStream`], is also the interpreter's
//! `sys.stdout` and `sys.stderr` (see `std_streams`).
//! They hold the request only while the Python call runs; the [`CallScope`]
//! detaches them afterwards (then `wsgi.errors` writes to the server log and
//! the `mod_ssl` callables raise).
//!
//! When a call ends and nothing but the scope refers to the three objects
//! (the script kept neither them nor its environ), no Python code can reach
//! them any more — they support neither weak references nor the garbage
//! collector's object lists — so the thread keeps them for its next call
//! instead of freeing them and making new ones. Objects a script kept stay
//! detached for good.

use authnz_core::log_tags as tags;
use std::cell::RefCell;
use std::sync::Mutex;

use authnz_core::log_lines::LineBuffer;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cpython::objects;
use crate::httpd::log::Level;
use crate::httpd::request_slot::RequestSlot;
use crate::httpd::Request;
use crate::python::log_sink::LogSink;
use crate::python::std_streams::{self, StdName};
use crate::{sink_log, slog};

/// A text stream whose lines go to the error log: `environ['wsgi.errors']`
/// of one call, and (`std_streams`) the interpreter's `sys.stdout` and
/// `sys.stderr`. Lines are cut by [`LineBuffer`]: a partial line waits for
/// its end, the end of the call, `flush()` or the size bound.
#[pyclass(module = "authnz_wsgi", frozen)]
pub struct ErrorStream {
    sink: Sink,
    pending: Mutex<LineBuffer>,
}

/// What a call's objects are bound to while the call runs: the request
/// (embedded), or, in an auth daemon process, the call's captured lines
/// and what the Apache child sent of the request (`mod_ssl`'s answers).
pub enum CallTarget {
    Request(RequestSlot),
    Captured {
        attached: AtomicBool,
        https: AtomicBool,
        /// `SSL_*` variables the child sent (name, value).
        ssl_vars: Mutex<Vec<(String, String)>>,
    },
}

/// What a call is made for: see [`CallTarget`].
#[derive(Clone, Copy)]
pub enum Binding<'a> {
    Request(Request),
    /// A call in an auth daemon process: whether the request came over
    /// TLS, and the `SSL_*` variables the child sent.
    Captured {
        https: bool,
        ssl_vars: &'a [(String, String)],
    },
}

impl Binding<'_> {
    /// Where the call's lines go.
    pub fn log(self) -> LogSink {
        match self {
            Binding::Request(r) => LogSink::Request(r),
            Binding::Captured { .. } => LogSink::Captured,
        }
    }
}

impl CallTarget {
    fn new(binding: Binding<'_>) -> CallTarget {
        match binding {
            Binding::Request(r) => CallTarget::Request(RequestSlot::new(r)),
            Binding::Captured { https, ssl_vars } => CallTarget::Captured {
                attached: AtomicBool::new(true),
                https: AtomicBool::new(https),
                ssl_vars: Mutex::new(ssl_vars.to_vec()),
            },
        }
    }

    /// Bind to `binding`; false when it is of the other kind.
    fn attach(&self, binding: Binding<'_>) -> bool {
        match (self, binding) {
            (CallTarget::Request(slot), Binding::Request(r)) => {
                slot.set(r);
                true
            }
            (
                CallTarget::Captured {
                    attached,
                    https: h,
                    ssl_vars: v,
                },
                Binding::Captured { https, ssl_vars },
            ) => {
                h.store(https, Ordering::Relaxed);
                let mut vars = v.lock().unwrap_or_else(|e| e.into_inner());
                vars.clear();
                vars.extend_from_slice(ssl_vars);
                attached.store(true, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    fn detach(&self) {
        match self {
            CallTarget::Request(slot) => slot.clear(),
            CallTarget::Captured { attached, .. } => attached.store(false, Ordering::Release),
        }
    }

    /// Where a line goes now: `None` once the call is over.
    fn log(&self) -> Option<LogSink> {
        match self {
            CallTarget::Request(slot) => slot.get().map(LogSink::Request),
            CallTarget::Captured { attached, .. } => attached
                .load(Ordering::Acquire)
                .then_some(LogSink::Captured),
        }
    }
}

/// Where an [`ErrorStream`]'s lines go.
enum Sink {
    /// `wsgi.errors`: the call's request (or captured lines) while it
    /// runs, the server after.
    Call(CallTarget),
    /// `sys.stdout` / `sys.stderr`: the call running on the writing thread,
    /// if any (`std_streams` keeps its partial lines); otherwise the
    /// stream another embedder had installed (`previous`), or the server's
    /// error log through `pending`.
    Std {
        name: StdName,
        previous: Option<Py<PyAny>>,
    },
}

impl ErrorStream {
    /// `sys.stdout` or `sys.stderr`, handing writes made outside a call to
    /// `previous` when there is one.
    pub(crate) fn std(name: StdName, previous: Option<Py<PyAny>>) -> Self {
        ErrorStream {
            sink: Sink::Std { name, previous },
            pending: Mutex::new(LineBuffer::new()),
        }
    }

    /// One line to the log, for text that no call on this thread holds.
    fn emit(&self, line: &str) {
        match &self.sink {
            Sink::Call(target) => match target.log() {
                Some(log) => sink_log!(log, Level::Error, tags::SCRIPT_OUTPUT, "{line}"),
                None => slog!(None, Level::Error, tags::SCRIPT_OUTPUT, "{line}"),
            },
            Sink::Std { name, .. } => slog!(None, Level::Error, name.tag(), "{line}"),
        }
    }

    fn push(&self, text: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(text, |line| self.emit(line));
    }

    /// Write out a last line that had no newline.
    pub(crate) fn flush_pending(&self) {
        let partial = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_partial();
        if let Some(line) = partial {
            self.emit(&line);
        }
    }

    /// The binding of `wsgi.errors` (none for the std streams).
    fn call_target(&self) -> Option<&CallTarget> {
        match &self.sink {
            Sink::Call(request) => Some(request),
            Sink::Std { .. } => None,
        }
    }

    /// The stream another embedder installed, when a write outside our
    /// calls goes there.
    fn previous<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        match &self.sink {
            Sink::Std {
                previous: Some(previous),
                ..
            } => Some(previous.bind(py).clone()),
            _ => None,
        }
    }
}

#[pymethods]
impl ErrorStream {
    fn write(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<usize> {
        let count = text.len()?;
        let text = text.to_string_lossy();
        if let Sink::Std { name, .. } = &self.sink {
            if std_streams::write_in_call(*name, &text) {
                return Ok(count);
            }
            if let Some(previous) = self.previous(py) {
                previous.call_method1(intern!(py, "write"), (text.as_ref(),))?;
                return Ok(count);
            }
        }
        self.push(&text);
        Ok(count)
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(py, line?.cast::<PyString>()?)?;
        }
        Ok(())
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        if let Sink::Std { name, .. } = &self.sink {
            if std_streams::flush_in_call(*name) {
                return Ok(());
            }
            if let Some(previous) = self.previous(py) {
                previous.call_method0(intern!(py, "flush"))?;
                return Ok(());
            }
        }
        self.flush_pending();
        Ok(())
    }

    /// Nothing to close: the stream lives as long as the interpreter.
    fn close(&self) {}

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    fn isatty(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    /// The error log is not a file this process may write to directly.
    fn fileno(&self, py: Python<'_>) -> PyResult<i32> {
        let unsupported = py.import("io")?.getattr("UnsupportedOperation")?;
        Err(PyErr::from_value(unsupported.call1((
            "this stream writes to Apache's error log and has no file descriptor",
        ))?))
    }

    #[getter]
    fn name(&self) -> &'static str {
        match &self.sink {
            Sink::Call(_) => "<wsgi.errors>",
            Sink::Std { name, .. } => name.stream_name(),
        }
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    /// Text that cannot be UTF-8 (lone surrogates) is logged with U+FFFD.
    #[getter]
    fn errors(&self) -> &'static str {
        "replace"
    }
}

/// `environ['mod_ssl.is_https']` and `environ['mod_ssl.var_lookup']`.
#[pyclass(module = "authnz_wsgi", frozen)]
pub struct SslLookup {
    target: CallTarget,
    /// true: `var_lookup(name)`; false: `is_https()`.
    var_lookup: bool,
}

#[pymethods]
impl SslLookup {
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: Vec<String>) -> PyResult<Py<PyAny>> {
        if self.target.log().is_none() {
            return Err(PyRuntimeError::new_err(
                "mod_ssl callables are only valid during the call",
            ));
        }
        if self.var_lookup {
            let [name] = args.as_slice() else {
                return Err(PyRuntimeError::new_err(
                    "var_lookup(name) takes one argument",
                ));
            };
            let value = match &self.target {
                CallTarget::Request(slot) => slot.get().and_then(|r| r.ssl_var(name)),
                CallTarget::Captured { ssl_vars, .. } => ssl_vars
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone()),
            };
            Ok(value.into_pyobject(py)?.unbind())
        } else {
            let https = match &self.target {
                CallTarget::Request(slot) => slot.get().is_some_and(|r| r.is_https()),
                CallTarget::Captured { https, .. } => https.load(Ordering::Relaxed),
            };
            Ok(pyo3::types::PyBool::new(py, https)
                .to_owned()
                .into_any()
                .unbind())
        }
    }
}

/// The request-bound objects of one Python call; dropping the scope detaches
/// them from the request.
pub struct CallScope {
    objects: Option<Objects>,
}

struct Objects {
    errors: Py<ErrorStream>,
    is_https: Py<SslLookup>,
    var_lookup: Py<SslLookup>,
}

thread_local! {
    // A finished call's objects, detached, that nothing else refers to.
    // Only touched with the GIL held; dropped when the thread ends (pyo3
    // queues the release of its objects for the next thread with the GIL).
    static IDLE: RefCell<Option<Objects>> = const { RefCell::new(None) };
}

impl Objects {
    fn new(py: Python<'_>, binding: Binding<'_>) -> PyResult<Objects> {
        let ssl = |var_lookup| {
            Py::new(
                py,
                SslLookup {
                    target: CallTarget::new(binding),
                    var_lookup,
                },
            )
        };
        Ok(Objects {
            errors: Py::new(
                py,
                ErrorStream {
                    sink: Sink::Call(CallTarget::new(binding)),
                    pending: Mutex::new(LineBuffer::new()),
                },
            )?,
            is_https: ssl(false)?,
            var_lookup: ssl(true)?,
        })
    }

    /// Bind the objects to `binding`; false when they were made for the
    /// other kind of call (they stay detached then).
    fn attach(&self, binding: Binding<'_>) -> bool {
        self.errors
            .get()
            .call_target()
            .is_some_and(|t| t.attach(binding))
            && self.is_https.get().target.attach(binding)
            && self.var_lookup.get().target.attach(binding)
    }

    /// Flush what `wsgi.errors` holds and detach all three. The Py handles
    /// are only read (`get` is a shared borrow of a frozen field), so no
    /// GIL is needed to clear the atomics.
    fn detach(&self) {
        self.errors.get().flush_pending();
        if let Some(target) = self.errors.get().call_target() {
            target.detach();
        }
        self.is_https.get().target.detach();
        self.var_lookup.get().target.detach();
    }

    /// Whether the scope holds the only reference to each object. `py`
    /// proves the GIL is held, so no other thread changes the counts.
    fn unshared(&self, py: Python<'_>) -> bool {
        objects::is_only_reference(py, &self.errors)
            && objects::is_only_reference(py, &self.is_https)
            && objects::is_only_reference(py, &self.var_lookup)
    }
}

impl CallScope {
    pub fn new(py: Python<'_>, binding: Binding<'_>) -> PyResult<CallScope> {
        let idle = IDLE.with(|idle| idle.borrow_mut().take());
        let objects = match idle {
            Some(objects) if objects.attach(binding) => objects,
            _ => Objects::new(py, binding)?,
        };
        Ok(CallScope {
            objects: Some(objects),
        })
    }

    fn objects(&self) -> &Objects {
        // Only `end` and `drop` take the objects, both consuming the scope.
        self.objects
            .as_ref()
            .expect("a live CallScope holds its objects")
    }

    pub fn errors(&self, py: Python<'_>) -> Py<ErrorStream> {
        self.objects().errors.clone_ref(py)
    }

    pub fn is_https(&self, py: Python<'_>) -> Py<SslLookup> {
        self.objects().is_https.clone_ref(py)
    }

    pub fn var_lookup(&self, py: Python<'_>) -> Py<SslLookup> {
        self.objects().var_lookup.clone_ref(py)
    }

    /// The call is over: detach the objects and, when nothing else refers
    /// to them, keep them for this thread's next call.
    pub fn end(mut self, py: Python<'_>) {
        if let Some(objects) = self.objects.take() {
            objects.detach();
            if objects.unshared(py) {
                IDLE.with(|idle| *idle.borrow_mut() = Some(objects));
            }
        }
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        if let Some(objects) = self.objects.take() {
            objects.detach();
        }
    }
}
