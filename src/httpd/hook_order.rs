//! Module-name lists for hook ordering (`aszPre`/`aszSucc` of
//! `ap_hook_*`): static, NULL-terminated arrays of C strings.

use std::ffi::c_char;

/// A NULL-terminated list of module names (`mod_wsgi.c`, ...).
#[repr(transparent)]
pub struct HookOrder<const N: usize>(pub [*const c_char; N]);

// SAFETY: the array is immutable and points to static C strings.
unsafe impl<const N: usize> Sync for HookOrder<N> {}

impl<const N: usize> HookOrder<N> {
    /// The list as httpd takes it (`const char * const *`).
    pub fn as_ptr(&'static self) -> *const *const c_char {
        self.0.as_ptr()
    }
}
