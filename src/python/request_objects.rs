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

use crate::cpython::objects;
use crate::httpd::log::Level;
use crate::httpd::request_slot::RequestSlot;
use crate::httpd::Request;
use crate::python::std_streams::{self, StdName};
use crate::{rlog, slog};

/// A text stream whose lines go to the error log: `environ['wsgi.errors']`
/// of one call, and (`std_streams`) the interpreter's `sys.stdout` and
/// `sys.stderr`. Lines are cut by [`LineBuffer`]: a partial line waits for
/// its end, the end of the call, `flush()` or the size bound.
#[pyclass(module = "authnz_wsgi", frozen)]
pub struct ErrorStream {
    sink: Sink,
    pending: Mutex<LineBuffer>,
}

/// Where an [`ErrorStream`]'s lines go.
enum Sink {
    /// `wsgi.errors`: the call's request while it runs, the server after.
    Call(RequestSlot),
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
            Sink::Call(request) => match request.get() {
                Some(r) => rlog!(&r, Level::Error, tags::SCRIPT_OUTPUT, "{line}"),
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

    /// The request binding of `wsgi.errors` (none for the std streams).
    fn call_request(&self) -> Option<&RequestSlot> {
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
    request: RequestSlot,
    /// true: `var_lookup(name)`; false: `is_https()`.
    var_lookup: bool,
}

#[pymethods]
impl SslLookup {
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: Vec<String>) -> PyResult<Py<PyAny>> {
        let r = self.request.get().ok_or_else(|| {
            PyRuntimeError::new_err("mod_ssl callables are only valid during the call")
        })?;
        if self.var_lookup {
            let [name] = args.as_slice() else {
                return Err(PyRuntimeError::new_err(
                    "var_lookup(name) takes one argument",
                ));
            };
            Ok(r.ssl_var(name).into_pyobject(py)?.unbind())
        } else {
            Ok(pyo3::types::PyBool::new(py, r.is_https())
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
    fn new(py: Python<'_>, r: Request) -> PyResult<Objects> {
        let ssl = |var_lookup| {
            Py::new(
                py,
                SslLookup {
                    request: RequestSlot::new(r),
                    var_lookup,
                },
            )
        };
        Ok(Objects {
            errors: Py::new(
                py,
                ErrorStream {
                    sink: Sink::Call(RequestSlot::new(r)),
                    pending: Mutex::new(LineBuffer::new()),
                },
            )?,
            is_https: ssl(false)?,
            var_lookup: ssl(true)?,
        })
    }

    fn attach(&self, r: Request) {
        if let Some(request) = self.errors.get().call_request() {
            request.set(r);
        }
        self.is_https.get().request.set(r);
        self.var_lookup.get().request.set(r);
    }

    /// Flush what `wsgi.errors` holds and detach all three. The Py handles
    /// are only read (`get` is a shared borrow of a frozen field), so no
    /// GIL is needed to clear the atomics.
    fn detach(&self) {
        self.errors.get().flush_pending();
        if let Some(request) = self.errors.get().call_request() {
            request.clear();
        }
        self.is_https.get().request.clear();
        self.var_lookup.get().request.clear();
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
    pub fn new(py: Python<'_>, r: Request) -> PyResult<CallScope> {
        let idle = IDLE.with(|idle| idle.borrow_mut().take());
        let objects = match idle {
            Some(objects) => {
                objects.attach(r);
                objects
            }
            None => Objects::new(py, r)?,
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
