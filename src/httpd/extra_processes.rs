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

/// A listening socket the parent keeps open across a graceful restart (so
/// connections made while the configuration is read again wait in its
/// queue), in httpd's retained data, which outlives the configuration
/// pool and a reload of this module.
pub struct KeptSocket {
    pub fd: i32,
    pub path: String,
    /// The socket file's (device, inode).
    pub inode: (u64, u64),
}

const KEPT_SLOTS: usize = 64;
const KEPT_PATH: usize = 108;

#[repr(C)]
#[derive(Clone, Copy)]
struct KeptSlot {
    fd: i32,
    path_len: u32,
    dev: u64,
    ino: u64,
    path: [u8; KEPT_PATH],
}

#[repr(C)]
struct KeptSlots {
    slots: [KeptSlot; KEPT_SLOTS],
}

/// The kept sockets' slots; made (zeroed) on first use when `create`.
fn kept_slots(create: bool) -> Option<&'static mut KeptSlots> {
    const KEY: &std::ffi::CStr = c"mod_authnz_wsgi: auth daemon sockets kept across restarts";
    // SAFETY: httpd's retained data is zeroed memory in the process pool,
    // made once per key and found again at every later reading; only the
    // parent's one thread touches it, in post_config and pool cleanups.
    unsafe {
        let mut data = ffi::ap_retained_data_get(KEY.as_ptr());
        if data.is_null() && create {
            data = ffi::ap_retained_data_create(
                KEY.as_ptr(),
                std::mem::size_of::<KeptSlots>() as ffi::apr_size_t,
            );
        }
        data.cast::<KeptSlots>().as_mut()
    }
}

/// Take (and forget) the sockets kept by the previous generation.
pub fn take_kept_sockets() -> Vec<KeptSocket> {
    let Some(kept) = kept_slots(false) else {
        return Vec::new();
    };
    let mut taken = Vec::new();
    for slot in kept.slots.iter_mut() {
        let len = slot.path_len as usize;
        if len > 0 && len <= KEPT_PATH {
            taken.push(KeptSocket {
                fd: slot.fd,
                path: String::from_utf8_lossy(&slot.path[..len]).into_owned(),
                inode: (slot.dev, slot.ino),
            });
        }
        slot.path_len = 0;
    }
    taken
}

/// Keep `sockets` for the next generation; those that do not fit are
/// given back (the caller closes them).
pub fn keep_sockets(sockets: Vec<KeptSocket>) -> Vec<KeptSocket> {
    let Some(kept) = kept_slots(true) else {
        return sockets;
    };
    let mut free = kept.slots.iter_mut().filter(|s| s.path_len == 0);
    let mut left = Vec::new();
    for socket in sockets {
        let bytes = socket.path.as_bytes();
        match free.next() {
            Some(slot) if bytes.len() <= KEPT_PATH => {
                slot.fd = socket.fd;
                slot.dev = socket.inode.0;
                slot.ino = socket.inode.1;
                slot.path[..bytes.len()].copy_from_slice(bytes);
                slot.path_len = bytes.len() as u32;
            }
            _ => left.push(socket),
        }
    }
    left
}
