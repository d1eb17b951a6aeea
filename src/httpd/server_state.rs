//! Where httpd is in its life (`ap_state_query`, `http_main.h`) and what it
//! says of itself (version, banner).

use std::ffi::c_int;

use crate::ffi;

/// Whether the configuration is being read for the first time at start-up
/// (httpd reads it twice; the server runs with the second reading).
pub fn is_first_reading() -> bool {
    // SAFETY: a query of httpd's state, valid at any time.
    let state = unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int) };
    state == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int
}

/// httpd's version as `(major, minor, patch)` (`ap_get_server_revision`).
pub fn revision() -> [i32; 3] {
    let mut version = ffi::ap_version_t {
        major: 0,
        minor: 0,
        patch: 0,
        add_string: std::ptr::null(),
    };
    // SAFETY: ap_get_server_revision fills the struct we own.
    unsafe { ffi::ap_get_server_revision(&mut version) };
    [version.major, version.minor, version.patch]
}

/// The banner `ServerTokens` allows (`ap_get_server_banner`).
pub fn banner() -> String {
    // SAFETY: ap_get_server_banner returns a static C string.
    unsafe { crate::httpd::server::c_string(ffi::ap_get_server_banner()) }
}

/// Whether httpd runs as one process (`-X`, `-DONE_PROCESS`): the MPM
/// serves in the main process itself, which drops to `User` like a child
/// and has no main loop that reaps or restarts anything. The MPMs decide
/// it from the same two defines.
pub fn one_process() -> bool {
    ["DEBUG", "ONE_PROCESS"].iter().any(|name| {
        let name = std::ffi::CString::new(*name).unwrap_or_default();
        // SAFETY: reads httpd's table of -D defines with a C string we own.
        unsafe { ffi::ap_exists_config_define(name.as_ptr()) != 0 }
    })
}
