//! mod_status's optional `status_hook` (`mod_status.h`): a concern writes its
//! section of `/server-status` as a [`StatusSection`], registered with
//! [`register_section`] through the C shim (`APR_OPTIONAL_HOOK` is a
//! macro); the one generic `extern "C"` entry point runs it under the panic
//! boundary and hands it a [`StatusPage`] to write to. Also whether
//! mod_status is loaded at all ([`mod_status_loaded`]).

use std::ffi::{c_int, CStr};

use crate::ffi;
use crate::httpd::guard::guard;
use crate::httpd::hooks::Order;
use crate::httpd::Request;

/// What mod_status asked for.
#[derive(Clone, Copy, Debug)]
pub struct StatusFlags(c_int);

impl StatusFlags {
    /// `?auto`: machine-readable `Key: value` lines, no HTML.
    pub fn short(self) -> bool {
        self.0 & ffi::AP_STATUS_SHORT as c_int != 0
    }

    /// `?notable`: HTML without tables.
    pub fn no_tables(self) -> bool {
        self.0 & ffi::AP_STATUS_NOTABLE as c_int != 0
    }
}

/// The response of a `/server-status` request, written to in order.
#[derive(Clone, Copy)]
pub struct StatusPage(Request);

impl StatusPage {
    /// Write `text` as it is.
    pub fn write(self, text: &str) {
        for chunk in text.as_bytes().chunks(c_int::MAX as usize) {
            // SAFETY: the request is live for the hook call; `chunk` is
            // valid for its length, which fits an int.
            unsafe { ffi::ap_rwrite(chunk.as_ptr().cast(), chunk.len() as c_int, self.0.as_ptr()) };
        }
    }

    /// Write `text` escaped for HTML (`ap_escape_html`); a NUL byte and what
    /// follows it are left out.
    pub fn write_escaped(self, text: &str) {
        let text = text.split('\0').next().unwrap_or("");
        let pool = self.0.pool();
        let copy = pool.strdup(text.as_bytes());
        // SAFETY: `copy` is a NUL-terminated string in the live request
        // pool; ap_escape_html2 returns another such string (or the same).
        let escaped = unsafe { ffi::ap_escape_html2(pool.as_ptr(), copy, 0) };
        if escaped.is_null() {
            return;
        }
        // SAFETY: as above: a NUL-terminated string in the request pool.
        let escaped = unsafe { CStr::from_ptr(escaped) };
        self.write(&escaped.to_string_lossy());
    }
}

/// A section of `/server-status`.
pub trait StatusSection {
    const NAME: &'static str;
    fn write(page: StatusPage, flags: StatusFlags);
}

unsafe extern "C" fn status_entry<S: StatusSection>(
    r: *mut ffi::request_rec,
    flags: c_int,
) -> c_int {
    guard(S::NAME, ffi::HOOK_OK, || {
        // SAFETY: mod_status passes the live request of /server-status.
        if let Some(r) = unsafe { Request::from_raw(r) } {
            S::write(StatusPage(r), StatusFlags(flags));
        }
        ffi::HOOK_OK
    })
}

/// Add `S` to mod_status's page (in `register_hooks`). Harmless when
/// mod_status is not loaded: the hook is never run.
pub fn register_section<S: StatusSection>(order: Order) {
    // SAFETY: the entry point has the hook's C signature and is a static
    // function; the shim registers it with the macro mod_status.h defines.
    unsafe { ffi::authnz_wsgi_hook_status(Some(status_entry::<S>), order.position()) }
}

/// Whether mod_status is loaded (in `post_config`: every module is).
pub fn mod_status_loaded() -> bool {
    // SAFETY: a static C string; httpd searches its list of linked modules.
    !unsafe { ffi::ap_find_linked_module(c"mod_status.c".as_ptr()) }.is_null()
}
