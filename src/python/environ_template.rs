//! Each worker thread keeps a private dict holding the string items of the
//! environ it built last (SPEC §3.6). A call updates that dict only where
//! this request differs — a changed value, a key the request lacks, a key
//! it adds — and hands the script a copy of it (a C-level copy of the hash
//! table). Most items repeat from one call to the next on a thread (method,
//! protocol, server name and address, a keep-alive client's address, the
//! usual headers), so a call sets a few items instead of all of them, and
//! equal values are the same immutable `str` objects as in the previous
//! call. The script still gets a new dict of its own: what it changes in it
//! reaches neither the thread's dict nor any later call.
//!
//! The thread's dict is never handed to Python. Its entries are matched to
//! this call's by key object (keys are interned per process) and compared
//! by their bytes, so a value is reused only when it is byte-for-byte the
//! request's own. Values longer than [`KEPT_MAX`] bytes and keys beyond the
//! first [`KEYS_MAX`] are set in the copy only, so the memory a thread
//! keeps is bounded whatever clients send.

use std::borrow::Cow;
use std::cell::RefCell;
use std::mem::ManuallyDrop;

use authnz_core::short_bytes::same_bytes;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// The longest value kept in a thread's dict.
pub const KEPT_MAX: usize = 256;
/// The most keys a thread's dict keeps.
pub const KEYS_MAX: usize = 64;

/// One string item of this call's environ, before it is made a `str`.
pub struct Item<'a, 'py> {
    pub key: Bound<'py, PyString>,
    pub bytes: Cow<'a, [u8]>,
}

/// What the thread's dict holds (or last held) under one key.
struct Slot {
    key: Py<PyString>,
    bytes: Vec<u8>,
    /// The call that last named this key.
    seen: u64,
    /// Whether the dict holds the key now.
    present: bool,
}

struct Template {
    dict: Py<PyDict>,
    slots: Vec<Slot>,
    /// Counts calls; a slot not `seen` in this one is removed from `dict`.
    call: u64,
    /// Calls name their keys in the same order: the slot after the last
    /// one matched is almost always the next one wanted.
    next: usize,
}

thread_local! {
    // Never dropped: a worker thread ends with its child process, when
    // releasing Python objects without the GIL is neither possible nor
    // useful. Only touched with the GIL held.
    static TEMPLATE: RefCell<ManuallyDrop<Option<Template>>> =
        const { RefCell::new(ManuallyDrop::new(None)) };
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
        let t = match &mut **template {
            Some(t) => t,
            empty @ None => empty.insert(Template {
                dict: base.copy()?.unbind(),
                slots: Vec::new(),
                call: 0,
                next: 0,
            }),
        };
        let outcome = t.update(py, items, &make).and_then(|unkept| {
            let env = t.dict.bind(py).copy()?;
            for item in unkept {
                env.set_item(&item.key, make(&item.bytes)?)?;
            }
            Ok(env)
        });
        if outcome.is_err() {
            // A failed update may have left the dict and the slots apart:
            // start again from `base` next call.
            **template = None;
        }
        outcome
    })
}

impl Template {
    /// Bring `dict` to exactly this call's kept items; returns the items
    /// not kept, which the caller sets in the copy.
    fn update<'i, 'a, 'py>(
        &mut self,
        py: Python<'py>,
        items: &'i [Item<'a, 'py>],
        make: &impl Fn(&[u8]) -> PyResult<Bound<'py, PyString>>,
    ) -> PyResult<Vec<&'i Item<'a, 'py>>> {
        self.call += 1;
        let call = self.call;
        let dict = self.dict.bind(py).clone();
        let mut unkept = Vec::new();
        for item in items {
            if item.bytes.len() > KEPT_MAX {
                // Not marked seen: a kept older value is removed below.
                unkept.push(item);
                continue;
            }
            let Some(at) = self.slot_for(&item.key, call) else {
                unkept.push(item);
                continue;
            };
            let slot = &mut self.slots[at];
            slot.seen = call;
            if slot.present && same_bytes(&slot.bytes, &item.bytes) {
                continue;
            }
            dict.set_item(&item.key, make(&item.bytes)?)?;
            slot.bytes.clear();
            slot.bytes.extend_from_slice(&item.bytes);
            slot.present = true;
        }
        for slot in &mut self.slots {
            if slot.present && slot.seen != call {
                dict.del_item(slot.key.bind(py))?;
                slot.present = false;
            }
        }
        Ok(unkept)
    }

    /// The slot of `key`: its own, else a free one (or a new one while
    /// there are fewer than [`KEYS_MAX`]); `None` when all are taken.
    fn slot_for(&mut self, key: &Bound<'_, PyString>, call: u64) -> Option<usize> {
        let same = |slot: &Slot| slot.key.as_ptr() == key.as_ptr();
        let at = match self.slots.get(self.next) {
            Some(slot) if same(slot) => Some(self.next),
            _ => self.slots.iter().position(same),
        };
        let at = at.or_else(|| {
            let free = self
                .slots
                .iter()
                .position(|slot| !slot.present && slot.seen != call);
            let fresh = Slot {
                key: key.clone().unbind(),
                bytes: Vec::new(),
                seen: call,
                present: false,
            };
            match free {
                Some(i) => {
                    // The old key object is released here, with the GIL held.
                    self.slots[i] = fresh;
                    Some(i)
                }
                None if self.slots.len() < KEYS_MAX => {
                    self.slots.push(fresh);
                    Some(self.slots.len() - 1)
                }
                None => None,
            }
        })?;
        self.next = at + 1;
        Some(at)
    }
}
