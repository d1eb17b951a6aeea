//! "Who is first" across the parent and every child it forks, for one
//! reading of the configuration: one word of APR anonymous shared memory
//! (`apr_shm_create` without a file name, an `mmap(MAP_SHARED|MAP_ANON)` on
//! Linux), made in the configuration pool before the children are forked
//! and removed with that pool, so each start or restart begins unclaimed.
//! The first child to [`claim`] it gets `true`, every other `false`.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::apr::Pool;
use crate::ffi;

/// The shared word of the current configuration cycle (NULL: none).
static CURRENT: AtomicPtr<AtomicBool> = AtomicPtr::new(null_mut());

/// Forgets the shared word as its pool is cleared (registered after the
/// segment's own cleanup, so it runs first).
struct Forget;

impl Drop for Forget {
    fn drop(&mut self) {
        CURRENT.store(null_mut(), Ordering::Release);
    }
}

/// Make a new, unclaimed word in `pool` (the parent's configuration pool,
/// before any child of this cycle is forked). `false` when APR cannot make
/// shared memory; [`claim`] then answers `true` everywhere.
pub fn renew(pool: Pool) -> bool {
    CURRENT.store(null_mut(), Ordering::Release);
    let mut shm: *mut ffi::apr_shm_t = null_mut();
    let size = std::mem::size_of::<AtomicBool>() as ffi::apr_size_t;
    // SAFETY: an anonymous segment (NULL file name) allocated in a live
    // pool; APR writes the segment handle into `shm`.
    let status = unsafe { ffi::apr_shm_create(&mut shm, size, std::ptr::null(), pool.as_ptr()) };
    if status != 0 || shm.is_null() {
        return false;
    }
    // SAFETY: `shm` is the segment just made; its base address is valid,
    // page-aligned memory of at least `size` bytes until the pool's cleanup.
    let base = unsafe { ffi::apr_shm_baseaddr_get(shm) }.cast::<AtomicBool>();
    if base.is_null() {
        return false;
    }
    // SAFETY: as above; no other process has seen the word yet.
    unsafe { base.write(AtomicBool::new(false)) };
    pool.alloc(Forget);
    CURRENT.store(base, Ordering::Release);
    true
}

/// Whether this process is the first to ask in this configuration cycle
/// (`true` too when there is no shared word).
pub fn claim() -> bool {
    let word = CURRENT.load(Ordering::Acquire);
    // SAFETY: non-NULL only while the segment is mapped (Forget clears it
    // before the pool unmaps the segment); forked children inherit both.
    match unsafe { word.as_ref() } {
        Some(word) => !word.swap(true, Ordering::AcqRel),
        None => true,
    }
}
