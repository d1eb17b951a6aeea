//! Python objects handed to scripts in `environ` that reach back into the
//! request: `wsgi.errors`, `mod_ssl.is_https` and `mod_ssl.var_lookup`.
//! They hold the request only while the Python call runs; the [`CallScope`]
//! detaches them afterwards (then `wsgi.errors` writes to the server log and
//! the `mod_ssl` callables raise).

use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::ffi;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::{rlog, slog};

/// A request pointer that the scope clears when the call ends.
struct BoundRequest(AtomicPtr<ffi::request_rec>);

impl BoundRequest {
    fn new(r: Request) -> Self {
        BoundRequest(AtomicPtr::new(r.as_ptr()))
    }

    fn get(&self) -> Option<Request> {
        // SAFETY: the pointer is either NULL or the request of the call that
        // is running now (the scope clears it before the request ends).
        unsafe { Request::from_raw(self.0.load(Ordering::Acquire)) }
    }

    fn clear(&self) {
        self.0.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// `environ['wsgi.errors']`: a text stream whose lines go to the error log
/// with the request's context.
#[pyclass(module = "authnz_wsgi", frozen)]
pub struct ErrorStream {
    request: BoundRequest,
    pending: std::sync::Mutex<String>,
}

impl ErrorStream {
    fn emit(&self, line: &str) {
        match self.request.get() {
            Some(r) => rlog!(&r, Level::Error, 40, "{line}"),
            None => slog!(None, Level::Error, 40, "{line}"),
        }
    }
}

#[pymethods]
impl ErrorStream {
    fn write(&self, text: &str) -> usize {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push_str(text);
        while let Some(pos) = pending.find('\n') {
            let line: String = pending.drain(..=pos).collect();
            self.emit(line.trim_end_matches('\n'));
        }
        text.chars().count()
    }

    fn writelines(&self, lines: Vec<String>) {
        for line in lines {
            self.write(&line);
        }
    }

    fn flush(&self) {
        self.flush_pending();
    }
}

/// `environ['mod_ssl.is_https']` and `environ['mod_ssl.var_lookup']`.
#[pyclass(module = "authnz_wsgi", frozen)]
pub struct SslLookup {
    request: BoundRequest,
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
    errors: Py<ErrorStream>,
    is_https: Py<SslLookup>,
    var_lookup: Py<SslLookup>,
}

impl CallScope {
    pub fn new(py: Python<'_>, r: Request) -> PyResult<CallScope> {
        let ssl = |var_lookup| {
            Py::new(
                py,
                SslLookup {
                    request: BoundRequest::new(r),
                    var_lookup,
                },
            )
        };
        Ok(CallScope {
            errors: Py::new(
                py,
                ErrorStream {
                    request: BoundRequest::new(r),
                    pending: std::sync::Mutex::new(String::new()),
                },
            )?,
            is_https: ssl(false)?,
            var_lookup: ssl(true)?,
        })
    }

    pub fn errors(&self, py: Python<'_>) -> Py<ErrorStream> {
        self.errors.clone_ref(py)
    }

    pub fn is_https(&self, py: Python<'_>) -> Py<SslLookup> {
        self.is_https.clone_ref(py)
    }

    pub fn var_lookup(&self, py: Python<'_>) -> Py<SslLookup> {
        self.var_lookup.clone_ref(py)
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        // The Py handles are only read (`get` is a shared borrow of a frozen
        // field), so no GIL is needed to clear the atomics.
        self.errors.get().flush_pending();
        self.errors.get().request.clear();
        self.is_https.get().request.clear();
        self.var_lookup.get().request.clear();
    }
}

impl ErrorStream {
    /// Write out a last line that had no newline.
    fn flush_pending(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.is_empty() {
            let line = std::mem::take(&mut *pending);
            drop(pending);
            self.emit(&line);
        }
    }
}
