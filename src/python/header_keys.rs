//! The environ keys of request headers (`User-Agent` → `HTTP_USER_AGENT`)
//! as Python strings. A header's key text is computed from its name on
//! every call (`authnz_core::environ_keys`); what is remembered is only the
//! `str` object for a key text, so names that differ in case (`User-Agent`,
//! `user-agent`) always get the same key, whatever was seen before.
//!
//! Per process, up to [`REMEMBERED_MAX`] key texts map to one shared
//! object each (header names are chosen by clients, so the map is bounded
//! and hashed with a per-process random seed); past that, a key is a new
//! object per call, which the environ update tells apart by its text only.
//! Each thread also keeps the last few keys it used, so the headers every
//! request carries cost neither the lock nor the hash.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

use authnz_core::environ_keys::write_header_environ_key;
use authnz_core::short_bytes::same_bytes;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Key texts remembered per process; others are made per call.
const REMEMBERED_MAX: usize = 256;
/// Keys a thread keeps at hand (the last ones it had to look up).
const THREAD_KEPT: usize = 16;
/// Key texts longer than this are not kept per thread.
const THREAD_KEY_MAX: usize = 69;

/// (key text, its `str`) pairs, the newest first.
type Recent = Vec<(Vec<u8>, Py<PyString>)>;

thread_local! {
    // Only touched with the GIL held; dropped when the thread ends (pyo3
    // queues the release of its objects for the next thread with the GIL).
    static RECENT: RefCell<Recent> = const { RefCell::new(Vec::new()) };
    /// The key text of the header being looked up, reused between calls.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// FNV-1a over the key text, started from a random seed: key texts are a
/// few bytes long, for which SipHash costs several times more. The map is
/// bounded, so even a crafted set of colliding names costs at most
/// [`REMEMBERED_MAX`] comparisons.
#[derive(Clone)]
struct SeededFnv {
    seed: u64,
}

impl SeededFnv {
    fn new() -> SeededFnv {
        SeededFnv {
            seed: RandomState::new().hash_one(0x6865_6164_6572_u64),
        }
    }
}

struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for SeededFnv {
    type Hasher = FnvHasher;

    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(self.seed ^ 0xcbf2_9ce4_8422_2325)
    }
}

/// Key text → its `str`, shared by the threads of a process.
pub struct HeaderKeys {
    known: Mutex<HashMap<Vec<u8>, Py<PyString>, SeededFnv>>,
}

impl HeaderKeys {
    pub fn new() -> HeaderKeys {
        HeaderKeys {
            known: Mutex::new(HashMap::with_hasher(SeededFnv::new())),
        }
    }

    /// The environ key of header `name`, or `None` when it is not exposed.
    pub fn key<'py>(&self, py: Python<'py>, name: &[u8]) -> Option<Bound<'py, PyString>> {
        SCRATCH.with(|scratch| {
            let mut text = scratch.borrow_mut();
            if !write_header_environ_key(name, &mut text) {
                return None;
            }
            Some(self.key_for_text(py, &text))
        })
    }

    /// The `str` of key text `text` (ASCII).
    pub fn key_for_text<'py>(&self, py: Python<'py>, text: &[u8]) -> Bound<'py, PyString> {
        let kept = RECENT.with(|recent| {
            recent
                .borrow()
                .iter()
                .find(|(seen, _)| same_bytes(seen, text))
                .map(|(_, key)| key.bind(py).clone())
        });
        if let Some(key) = kept {
            return key;
        }
        let key = self.shared_key(py, text);
        if text.len() <= THREAD_KEY_MAX {
            RECENT.with(|recent| {
                let mut recent = recent.borrow_mut();
                if recent.len() == THREAD_KEPT {
                    // The oldest key is released here, with the GIL held.
                    recent.pop();
                }
                recent.insert(0, (text.to_vec(), key.clone().unbind()));
            });
        }
        key
    }

    fn shared_key<'py>(&self, py: Python<'py>, text: &[u8]) -> Bound<'py, PyString> {
        // The lock is never held while calling into Python, so a thread
        // switch inside CPython cannot deadlock on it.
        let lock = || self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = lock().get(text) {
            return known.bind(py).clone();
        }
        let key = PyString::new(py, &String::from_utf8_lossy(text));
        let mut known = lock();
        if known.len() < REMEMBERED_MAX {
            // Another thread may have stored this text meanwhile: keep its
            // object, so the text keeps one object.
            return known
                .entry(text.to_vec())
                .or_insert_with(|| key.clone().unbind())
                .bind(py)
                .clone();
        }
        key
    }
}
