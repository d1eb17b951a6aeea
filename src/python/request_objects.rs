//! Python objects handed to scripts in `environ` that reach back into the
//! request: `wsgi.errors`, `mod_ssl.is_https` and `mod_ssl.var_lookup`.
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

use std::cell::RefCell;
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

    fn set(&self, r: Request) {
        self.0.store(r.as_ptr(), Ordering::Release);
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
                    request: BoundRequest::new(r),
                    var_lookup,
                },
            )
        };
        Ok(Objects {
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

    fn attach(&self, r: Request) {
        self.errors.get().request.set(r);
        self.is_https.get().request.set(r);
        self.var_lookup.get().request.set(r);
    }

    /// Flush what `wsgi.errors` holds and detach all three. The Py handles
    /// are only read (`get` is a shared borrow of a frozen field), so no
    /// GIL is needed to clear the atomics.
    fn detach(&self) {
        self.errors.get().flush_pending();
        self.errors.get().request.clear();
        self.is_https.get().request.clear();
        self.var_lookup.get().request.clear();
    }

    /// Whether the scope holds the only reference to each object. `py`
    /// proves the GIL is held, so no other thread changes the counts.
    fn unshared(&self, _py: Python<'_>) -> bool {
        let only_ours = |object: *mut pyo3::ffi::PyObject| {
            // SAFETY: a live object we hold a strong reference to.
            unsafe { pyo3::ffi::Py_REFCNT(object) == 1 }
        };
        only_ours(self.errors.as_ptr())
            && only_ours(self.is_https.as_ptr())
            && only_ours(self.var_lookup.as_ptr())
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
