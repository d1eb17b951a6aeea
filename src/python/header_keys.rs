//! The environ keys of request headers (`User-Agent` → `HTTP_USER_AGENT`),
//! remembered per process as Python strings so the usual headers cost one
//! map lookup. Header names are chosen by clients, so the map is bounded
//! and hashed with a per-process random seed. Each thread also keeps the
//! last few names it looked up, compared byte for byte, so the headers
//! every request carries cost neither the lock nor the hash.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::mem::ManuallyDrop;
use std::sync::Mutex;

use authnz_core::environ_keys::header_environ_key;
use authnz_core::short_bytes::same_bytes;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Header names remembered per process; others are computed per request.
const REMEMBERED_MAX: usize = 256;
/// Header names a thread keeps at hand (the last ones it had to look up).
const THREAD_KEPT: usize = 16;
/// Names longer than this are not kept per thread.
const THREAD_NAME_MAX: usize = 64;

/// (header name, its environ key) pairs, the newest first.
type Recent = Vec<(Vec<u8>, Option<Py<PyString>>)>;

thread_local! {
    // Never dropped: see `environ_template`. Only touched with the GIL held.
    static RECENT: RefCell<ManuallyDrop<Recent>> =
        const { RefCell::new(ManuallyDrop::new(Vec::new())) };
}

/// FNV-1a over the name's bytes, started from a random seed: header names
/// are a few bytes long, for which SipHash costs several times more. The
/// map is bounded, so even a crafted set of colliding names costs at most
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

/// Header name (exact spelling) → its environ key, or `None` when the
/// header is never exposed.
pub struct HeaderKeys {
    known: Mutex<HashMap<Vec<u8>, Option<Py<PyString>>, SeededFnv>>,
}

impl HeaderKeys {
    pub fn new() -> HeaderKeys {
        HeaderKeys {
            known: Mutex::new(HashMap::with_hasher(SeededFnv::new())),
        }
    }

    /// The environ key of header `name`, or `None` when it is not exposed.
    pub fn key<'py>(&self, py: Python<'py>, name: &[u8]) -> Option<Bound<'py, PyString>> {
        let kept = RECENT.with(|recent| {
            let recent = recent.borrow();
            recent
                .iter()
                .find(|(seen, _)| same_bytes(seen, name))
                .map(|(_, key)| key.as_ref().map(|k| k.bind(py).clone()))
        });
        if let Some(key) = kept {
            return key;
        }
        let key = self.shared_key(py, name);
        if name.len() <= THREAD_NAME_MAX {
            RECENT.with(|recent| {
                let mut recent = recent.borrow_mut();
                if recent.len() == THREAD_KEPT {
                    // The oldest key is released here, with the GIL held.
                    recent.pop();
                }
                recent.insert(0, (name.to_vec(), key.as_ref().map(|k| k.clone().unbind())));
            });
        }
        key
    }

    fn shared_key<'py>(&self, py: Python<'py>, name: &[u8]) -> Option<Bound<'py, PyString>> {
        // The lock is never held while calling into Python, so a thread
        // switch inside CPython cannot deadlock on it.
        let lock = || self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = lock().get(name) {
            return known.as_ref().map(|key| key.bind(py).clone());
        }
        let key = std::str::from_utf8(name)
            .ok()
            .and_then(header_environ_key)
            .map(|text| PyString::new(py, &text));
        let mut known = lock();
        if known.len() < REMEMBERED_MAX {
            known.insert(name.to_vec(), key.as_ref().map(|k| k.clone().unbind()));
        }
        key
    }
}
