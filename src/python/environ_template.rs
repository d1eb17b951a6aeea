//! Each worker thread keeps a private dict holding the string items of the
//! environ it built last (docs/python-contract.md#environ). A call updates that dict only where
//! this request differs — a changed value, a key the request lacks, a key
//! it adds — and hands the script a copy of it (a C-level copy of the hash
//! table). Most items repeat from one call to the next on a thread (method,
//! protocol, server name and address, a keep-alive client's address, the
//! usual headers), so a call sets a few items instead of all of them, and
//! equal values are the same immutable `str` objects as in the previous
//! call. The script still gets a new dict of its own: what it changes in it
//! reaches neither the thread's dict nor any later call.
//!
//! Which items to set and remove is decided by
//! `authnz_core::environ_reuse`, by the text of each key (never by the
//! identity of the key object) and by the bytes of each value, so the copy
//! always equals a dict built from this request alone. The thread's dict is
//! never handed to Python.

use std::borrow::Cow;
use std::cell::RefCell;

use authnz_core::environ_reuse::{self, KeptEnviron, Sink};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// One string item of this call's environ, before it is made a `str`.
pub struct Item<'a, 'py> {
    pub key: Bound<'py, PyString>,
    pub bytes: Cow<'a, [u8]>,
}

impl environ_reuse::Item for Item<'_, '_> {
    fn key_text(&self) -> &[u8] {
        // Keys are made from Rust strings, so this never fails; an empty
        // text makes the item one that is only set in the copy.
        self.key.to_str().map_or(b"", str::as_bytes)
    }

    fn value(&self) -> &[u8] {
        &self.bytes
    }
}

struct Template {
    dict: Py<PyDict>,
    kept: KeptEnviron<Py<PyString>>,
}

thread_local! {
    // Dropped when the thread ends: `Py` values released without the GIL
    // are queued by pyo3 and released by the next thread that takes it.
    // Only touched with the GIL held.
    static TEMPLATE: RefCell<Option<Template>> = const { RefCell::new(None) };
}

/// The thread's dict, as [`environ_reuse`] updates it.
struct KeptDict<'t, 'py, F> {
    dict: &'t Bound<'py, PyDict>,
    make: &'t F,
}

impl<'a, 'py, F> Sink<Item<'a, 'py>> for KeptDict<'_, 'py, F>
where
    F: Fn(&[u8]) -> PyResult<Bound<'py, PyString>>,
{
    type Held = Py<PyString>;
    type Error = PyErr;

    fn hold(&mut self, item: &Item<'a, 'py>) -> Py<PyString> {
        item.key.clone().unbind()
    }

    fn set(&mut self, item: &Item<'a, 'py>) -> PyResult<()> {
        self.dict.set_item(&item.key, (self.make)(&item.bytes)?)
    }

    fn remove(&mut self, held: &Py<PyString>) -> PyResult<()> {
        self.dict.del_item(held.bind(self.dict.py()))
    }
}

/// This call's environ: a copy of the thread's dict (first made from
/// `base`, the items every environ of the process shares) brought up to
/// date with `items`. `make` turns bytes into the `str` of a value.
pub fn environ_for<'py>(
    py: Python<'py>,
    base: &Bound<'py, PyDict>,
    items: &[Item<'_, 'py>],
    make: impl Fn(&[u8]) -> PyResult<Bound<'py, PyString>>,
) -> PyResult<Bound<'py, PyDict>> {
    TEMPLATE.with(|cell| {
        // No Python code runs while this is borrowed: only str and dict
        // operations on exact str keys, which call no Python methods.
        let mut template = cell.borrow_mut();
        let t = match &mut *template {
            Some(t) => t,
            empty @ None => empty.insert(Template {
                dict: base.copy()?.unbind(),
                kept: KeptEnviron::default(),
            }),
        };
        let dict = t.dict.bind(py).clone();
        let mut sink = KeptDict {
            dict: &dict,
            make: &make,
        };
        let outcome = t.kept.update(items, &mut sink).and_then(|unkept| {
            let env = dict.copy()?;
            for i in unkept {
                env.set_item(&items[i].key, make(&items[i].bytes)?)?;
            }
            Ok(env)
        });
        if outcome.is_err() {
            // A failed update may have left the dict and the record apart:
            // start again from `base` next call.
            *template = None;
        }
        outcome
    })
}
