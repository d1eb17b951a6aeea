//! Object-level calls pyo3 does not offer: a call through the vectorcall
//! protocol, a `str` decoded from Latin-1 in one step, and whether a
//! reference is the only one.

use pyo3::prelude::*;
use pyo3::types::PyString;

/// The most arguments [`vectorcall`] passes after the first.
pub const MAX_ARGS: usize = 3;

/// `callable(first, *rest)` through the vectorcall protocol: no argument
/// tuple is built for a Python function.
pub fn vectorcall<'py>(
    py: Python<'py>,
    callable: &Bound<'py, PyAny>,
    first: &Bound<'py, PyAny>,
    rest: &[Bound<'py, PyAny>],
) -> PyResult<Bound<'py, PyAny>> {
    if rest.len() > MAX_ARGS {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "too many arguments for a script function",
        ));
    }
    let mut pointers = [std::ptr::null_mut::<pyo3::ffi::PyObject>(); 1 + MAX_ARGS];
    pointers[0] = first.as_ptr();
    for (slot, arg) in pointers[1..].iter_mut().zip(rest) {
        *slot = arg.as_ptr();
    }
    // SAFETY: the GIL is held (`py`); `callable` and every argument are live
    // objects borrowed for the call; the first `1 + rest.len()` entries of
    // the array are those arguments, and there are no keyword names. The
    // result is a new reference, or NULL with an exception set, which
    // from_owned_ptr_or_err turns into Err.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyObject_Vectorcall(
                callable.as_ptr(),
                pointers.as_ptr(),
                1 + rest.len(),
                std::ptr::null_mut(),
            ),
        )
    }
}

/// A Python `str` holding `bytes` as Latin-1 code points, made in one C
/// call (no intermediate Rust `String`).
pub fn latin1_str<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: pointer and length describe a live byte slice, which
    // PyUnicode_DecodeLatin1 copies; it returns a new reference, or NULL
    // with an exception set, which from_owned_ptr_or_err turns into Err.
    let text = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyUnicode_DecodeLatin1(
                bytes.as_ptr().cast(),
                bytes.len() as pyo3::ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }?;
    Ok(text.cast_into::<PyString>()?)
}

/// Whether `object` is referenced only by the caller's reference. `_py`
/// proves the GIL is held, so no other thread changes the count.
pub fn is_only_reference<T>(_py: Python<'_>, object: &Py<T>) -> bool {
    // SAFETY: a live object the caller holds a strong reference to.
    unsafe { pyo3::ffi::Py_REFCNT(object.as_ptr()) == 1 }
}
