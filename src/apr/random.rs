//! APR's random source (`apr_generate_random_bytes`: the kernel's
//! `getrandom(2)` or `/dev/urandom` on Debian's APR).

use crate::ffi;

/// Fill `buf` with random bytes; `false` if APR could not.
pub fn random_bytes(buf: &mut [u8]) -> bool {
    // SAFETY: APR writes exactly `buf.len()` bytes into `buf`.
    let status =
        unsafe { ffi::apr_generate_random_bytes(buf.as_mut_ptr(), buf.len() as ffi::apr_size_t) };
    status == 0
}
