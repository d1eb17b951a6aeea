//! Where httpd is in its life (`ap_state_query`, `http_main.h`).

use std::ffi::c_int;

use crate::ffi;

/// Whether the configuration is being read for the first time at start-up
/// (httpd reads it twice; the server runs with the second reading).
pub fn is_first_reading() -> bool {
    // SAFETY: a query of httpd's state, valid at any time.
    let state = unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int) };
    state == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int
}
