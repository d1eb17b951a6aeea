//! What the running MPM says about itself (`ap_mpm_query`, `ap_mpm.h`).

use std::ffi::c_int;

use crate::ffi;

/// Worker threads per child (1 for prefork, or when the MPM does not say).
pub fn threads_per_child() -> usize {
    let mut threads: c_int = 1;
    // SAFETY: ap_mpm_query writes one int for AP_MPMQ_MAX_THREADS.
    let status = unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_MAX_THREADS as c_int, &mut threads) };
    match usize::try_from(threads) {
        Ok(threads) if status == 0 && threads > 0 => threads,
        _ => 1,
    }
}
