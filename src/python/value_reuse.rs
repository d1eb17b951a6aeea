//! Environ values that repeat from one call to the next on a worker thread
//! (the method, the protocol, the server's name and address, a keep-alive
//! client's address, the usual header values) are handed out as the Python
//! string made for the previous call instead of being decoded again. A
//! `str` is immutable, so an equal string is the same value to a script.
//!
//! Each thread keeps, per environ key, the last value it made, and reuses it
//! only when the bytes are equal: the key is merely where to look. Values
//! longer than [`KEPT_MAX`] bytes are never kept, and at most [`KEYS_MAX`]
//! keys per thread, so the memory kept is bounded whatever clients send.

use std::cell::RefCell;
use std::mem::ManuallyDrop;

use pyo3::prelude::*;
use pyo3::types::PyString;

/// The longest value kept for reuse.
pub const KEPT_MAX: usize = 256;
/// The most keys one thread keeps a value for.
pub const KEYS_MAX: usize = 64;

struct Kept {
    /// The environ key object's address: a hint, the bytes decide.
    key: usize,
    bytes: Vec<u8>,
    text: Py<PyString>,
}

/// One thread's kept values. Calls set their keys in the same order, so
/// the entry after the last one used is almost always the next one wanted.
struct Values {
    kept: Vec<Kept>,
    next: usize,
}

impl Values {
    fn position(&self, key: usize) -> Option<usize> {
        match self.kept.get(self.next) {
            Some(k) if k.key == key => Some(self.next),
            _ => self.kept.iter().position(|k| k.key == key),
        }
    }
}

thread_local! {
    // Never dropped: a worker thread ends with its child process, when
    // releasing Python objects without the GIL is neither possible nor
    // useful. Only touched with the GIL held.
    static VALUES: RefCell<ManuallyDrop<Values>> =
        const { RefCell::new(ManuallyDrop::new(Values { kept: Vec::new(), next: 0 })) };
}

/// The `str` for `bytes` under environ key `key`: the one this thread made
/// last time for that key when the bytes are equal, else a new one from
/// `make`, kept for next time when it is short enough.
pub fn reuse_or_make<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyString>,
    bytes: &[u8],
    make: impl FnOnce() -> PyResult<Bound<'py, PyString>>,
) -> PyResult<Bound<'py, PyString>> {
    if bytes.len() > KEPT_MAX {
        return make();
    }
    let key = key.as_ptr() as usize;
    let (at, found) = VALUES.with(|values| {
        let mut values = values.borrow_mut();
        let at = values.position(key);
        if let Some(i) = at {
            values.next = i + 1;
        }
        let found = at
            .map(|i| &values.kept[i])
            .filter(|k| k.bytes == bytes)
            .map(|k| k.text.bind(py).clone());
        (at, found)
    });
    if let Some(text) = found {
        return Ok(text);
    }
    let text = make()?;
    VALUES.with(|values| {
        let mut values = values.borrow_mut();
        match at {
            Some(i) => {
                let slot = &mut values.kept[i];
                slot.bytes.clear();
                slot.bytes.extend_from_slice(bytes);
                // The previous string is released here, with the GIL held.
                slot.text = text.clone().unbind();
            }
            None if values.kept.len() < KEYS_MAX => {
                values.kept.push(Kept {
                    key,
                    bytes: bytes.to_vec(),
                    text: text.clone().unbind(),
                });
                values.next = values.kept.len();
            }
            None => {}
        }
    });
    Ok(text)
}
