//! Threads as CPython names them: the current thread's id, and raising an
//! exception asynchronously in another thread (the `WSGIScriptTimeout`
//! watchdog's interrupt).

use pyo3::ffi as pyffi;
use pyo3::prelude::*;

/// The current thread's Python thread id (`threading.get_ident()`).
pub fn current_ident() -> u64 {
    // SAFETY: a plain query of the calling thread's id, allowed without the
    // GIL.
    (unsafe { pyffi::PyThread_get_thread_ident() }) as u64
}

/// Raise `exception` (an exception class; `None` withdraws a pending one)
/// in every thread state whose thread id is `thread_id`, the next time it
/// runs Python code. Returns how many thread states were modified.
pub fn raise_in(_py: Python<'_>, thread_id: u64, exception: Option<&Bound<'_, PyAny>>) -> i32 {
    let exception = exception.map_or(std::ptr::null_mut(), |e| e.as_ptr());
    // SAFETY: the GIL is held (`_py`); the exception is NULL or a live object
    // borrowed for the call; any thread id is accepted.
    unsafe { pyffi::PyThreadState_SetAsyncExc(thread_id as _, exception) }
}
