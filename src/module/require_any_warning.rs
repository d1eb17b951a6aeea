//! The start-up warning for the group recipe that admits every valid user
//! (docs/authorization.md#the-requireany-trap; the judgement is `authnz_core::require_any`): one warning
//! (`AUTHNZ_WSGI0103`) per section of the configuration whose `Require`
//! lines let the group check be bypassed, naming files and lines and the
//! fix.
//!
//! Which hooks see a configuration (server/main.c): under `apache2 -t` it
//! is read once and `test_config` runs, before any log file is open, so the
//! warnings go to stderr. At start-up it is read twice, and `post_config`
//! runs after each reading with the logs open; the first reading only
//! checks, so the warnings are logged after the second one (and after every
//! reading of a graceful or full restart), each once, to the main server's
//! error log at its `LogLevel`.

use authnz_core::log_tags as tags;
use std::ffi::c_int;

use authnz_core::require_any::find_require_any_traps;

use crate::ffi;
use crate::httpd::conftree::parsed_configuration;
use crate::httpd::guard::guard;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::Server;
use crate::slog;

/// Register the two hooks (from `register_hooks`).
pub fn register() {
    hooks::test_config(test_config, Order::MIDDLE);
    hooks::post_config(post_config, Order::MIDDLE);
}

/// Log a warning for every section of the configuration just read.
fn warn(server: Option<Server>) {
    for warning in find_require_any_traps(&parsed_configuration()) {
        slog!(
            server,
            Level::Warning,
            tags::REQUIRE_ANY_TRAP,
            "{}",
            warning.message
        );
    }
}

/// `apache2 -t` (and `-S`, `-D DUMP_...`): the configuration was read once.
unsafe extern "C" fn test_config(_pconf: *mut ffi::apr_pool_t, _s: *mut ffi::server_rec) {
    guard("test_config", (), || {
        // No log file is open yet: NULL logs to stderr.
        warn(None);
    });
}

/// Start-up and restarts, after the logs are open.
unsafe extern "C" fn post_config(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard("post_config", ffi::HOOK_OK, || {
        // SAFETY: a query of httpd's state, valid at any time.
        let state = unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int) };
        if state == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int {
            // The first of the two readings at start-up: the second one,
            // which the server runs with, warns.
            return ffi::HOOK_OK;
        }
        // SAFETY: httpd passes the live main server record.
        warn(unsafe { Server::from_raw(s) });
        ffi::HOOK_OK
    })
}
