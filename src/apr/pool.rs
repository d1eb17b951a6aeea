//! `apr_pool_t` wrapper. Rust values placed in a pool are dropped by a pool
//! cleanup (`drop_in_place`), so configuration records may own `String`s and
//! `Arc`s and still live exactly as long as httpd keeps the pool.

use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::ffi;

/// A borrowed APR pool.
#[derive(Clone, Copy)]
pub struct Pool(NonNull<ffi::apr_pool_t>);

unsafe extern "C" fn drop_value<T>(data: *mut c_void) -> ffi::apr_status_t {
    // A panicking destructor must not unwind into APR. This layer sits
    // below httpd's log, so the line goes to stderr, which httpd sends to
    // the main error log.
    let dropped = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `data` is the pointer `alloc` registered for exactly this
        // `T`; APR runs each cleanup once, when the pool is cleared or destroyed.
        unsafe { std::ptr::drop_in_place(data.cast::<T>()) };
    }));
    if dropped.is_err() {
        let _ = catch_unwind(|| {
            eprintln!("mod_authnz_wsgi: internal error while a pool dropped a value; it may leak")
        });
    }
    0
}

impl Pool {
    /// # Safety
    /// `raw` must be a live pool for the lifetime of the returned wrapper.
    pub unsafe fn from_raw(raw: *mut ffi::apr_pool_t) -> Option<Pool> {
        NonNull::new(raw).map(Pool)
    }

    pub fn as_ptr(self) -> *mut ffi::apr_pool_t {
        self.0.as_ptr()
    }

    /// Move `value` into pool memory; it is dropped when the pool is cleared.
    pub fn alloc<T>(self, value: T) -> *mut T {
        let size = std::mem::size_of::<T>().max(1);
        // SAFETY: the pool is live (type invariant); apr_palloc returns memory
        // aligned for any C type (8 bytes on the platforms httpd supports),
        // which covers the configuration records stored here.
        let mem = unsafe { ffi::apr_palloc(self.as_ptr(), size as ffi::apr_size_t) }.cast::<T>();
        assert!(!mem.is_null(), "apr_palloc returned NULL");
        assert!(
            mem.align_offset(std::mem::align_of::<T>()) == 0,
            "pool memory misaligned"
        );
        // SAFETY: `mem` is fresh, large and aligned enough for `T`.
        unsafe { mem.write(value) };
        if std::mem::needs_drop::<T>() {
            // SAFETY: `mem` stays valid until the pool runs this cleanup.
            unsafe {
                ffi::apr_pool_cleanup_register(
                    self.as_ptr(),
                    mem.cast(),
                    Some(drop_value::<T>),
                    Some(ffi::apr_pool_cleanup_null),
                )
            };
        }
        mem
    }

    /// Copy `text` into the pool as a NUL-terminated C string. Interior NULs
    /// cannot be represented: callers validate names before storing them.
    pub fn strdup(self, text: &[u8]) -> *mut c_char {
        // SAFETY: apr_pstrmemdup copies exactly `len` bytes and appends a NUL.
        unsafe {
            ffi::apr_pstrmemdup(
                self.as_ptr(),
                text.as_ptr().cast(),
                text.len() as ffi::apr_size_t,
            )
        }
    }
}
