//! This module's own record (`authnz_wsgi_module`, exported by `lib.rs`) as
//! the httpd layer needs it: for its slots in configuration vectors and
//! its index in log levels. `lib.rs` hands it over first thing in
//! `register_hooks`, before httpd calls anything else of the module.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::ffi;

static RECORD: AtomicPtr<ffi::module> = AtomicPtr::new(null_mut());

/// Remember the module's record (from `register_hooks`).
pub fn set(record: *mut ffi::module) {
    RECORD.store(record, Ordering::Release);
}

/// The module's record (NULL before `register_hooks`).
pub fn get() -> *mut ffi::module {
    RECORD.load(Ordering::Acquire)
}

/// The index httpd assigned to the module (-1 before it did).
pub fn index() -> i32 {
    // SAFETY: NULL or the module's static record, whose index httpd writes
    // once while loading it.
    unsafe { get().as_ref() }.map_or(-1, |m| m.module_index)
}
