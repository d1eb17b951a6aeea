//! What the auth daemons' supervisor asks of httpd's main loop and MPM
//! (docs/auth-daemons.md): where the main process is in its life (a stop
//! or a restart clears the configuration pool) and whether the MPM is
//! stopping; and the main server kept for logging.

use std::ffi::c_int;

use crate::ffi;

/// Why the configuration pool is being cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolEnd {
    /// httpd is exiting (a stop).
    Exiting,
    /// The configuration is read again (a restart).
    Restart,
    /// Any other moment (a failed start-up).
    Other,
}

/// Where the main process is, as seen from a cleanup of the configuration
/// pool.
pub fn pool_end() -> PoolEnd {
    // SAFETY: a query of httpd's state, valid at any time.
    let state = unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE as c_int) };
    if state == ffi::AP_SQ_MS_EXITING as c_int {
        PoolEnd::Exiting
    } else if state == ffi::AP_SQ_MS_DESTROY_CONFIG as c_int {
        PoolEnd::Restart
    } else {
        PoolEnd::Other
    }
}

/// Whether the MPM is stopping (a stop or a restart is under way).
pub fn mpm_stopping() -> bool {
    let mut state: c_int = 0;
    // SAFETY: ap_mpm_query writes the int we own.
    let status = unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_MPM_STATE as c_int, &mut state) };
    status == 0 && state == ffi::AP_MPMQ_STOPPING as c_int
}

/// The main server, kept by the supervisor of the auth daemons for one
/// configuration generation (to log against).
#[derive(Clone, Copy)]
pub struct ParentServer(pub crate::httpd::Server);

// SAFETY: used only on Apache's parent's one thread, while the
// configuration it belongs to lives (the supervisor forgets it in a
// cleanup of that configuration's pool).
unsafe impl Send for ParentServer {}
