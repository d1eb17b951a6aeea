//! `server_rec` wrapper: module configuration lookup and the few server
//! fields the module reads.

use std::ffi::{c_void, CStr};
use std::ptr::NonNull;

use crate::ffi;
use crate::httpd::module_config::ServerRecord;
use crate::httpd::module_record;

/// A borrowed virtual-host record.
#[derive(Clone, Copy)]
pub struct Server(NonNull<ffi::server_rec>);

/// A module's slot in a configuration vector (`ap_get_module_config`,
/// through the C shim).
///
/// # Safety
/// `vector` must be NULL or a live `ap_conf_vector_t` built by httpd for
/// the loaded modules, and `module` NULL or a loaded module's record.
pub unsafe fn module_config_slot(
    vector: *mut ffi::ap_conf_vector_t,
    module: *const ffi::module,
) -> *mut c_void {
    // SAFETY: per the contract above, `module` is NULL or a live record.
    let index = unsafe { module.as_ref() }.map_or(-1, |m| m.module_index);
    // A module without an index (-1: not loaded) has no slot.
    if vector.is_null() || index < 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: a live vector and a loaded module's record (contract above).
    unsafe { ffi::authnz_wsgi_get_module_config(vector, module) }
}

impl Server {
    /// # Safety
    /// `raw` must be a live server record for the lifetime of the wrapper.
    pub unsafe fn from_raw(raw: *mut ffi::server_rec) -> Option<Server> {
        NonNull::new(raw).map(Server)
    }

    pub fn as_ptr(self) -> *mut ffi::server_rec {
        self.0.as_ptr()
    }

    /// The configuration pool (`s->process->pconf`): cleared when the
    /// configuration is read again (each restart), inherited by the
    /// children forked after it was filled.
    pub fn config_pool(self) -> Option<crate::apr::Pool> {
        // SAFETY: the server is live; `process` is NULL or httpd's process
        // record, whose `pconf` is NULL or the live configuration pool.
        unsafe {
            let process = (*self.as_ptr()).process.as_ref()?;
            crate::apr::Pool::from_raw(process.pconf)
        }
    }

    /// `name` in httpd's runtime directory (`DefaultRuntimeDir`,
    /// `ap_runtime_dir_relative`), allocated in the configuration pool.
    pub fn runtime_dir_relative(self, name: &str) -> Option<String> {
        let pool = self.config_pool()?;
        let name = std::ffi::CString::new(name).ok()?;
        // SAFETY: pconf is live; the result is NULL or a C string in it.
        let full = unsafe { ffi::ap_runtime_dir_relative(pool.as_ptr(), name.as_ptr()) };
        if full.is_null() {
            return None;
        }
        // SAFETY: NULL-checked C string in pconf.
        Some(
            unsafe { CStr::from_ptr(full) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    /// Our module's server configuration for this server.
    pub fn module_config<T: ServerRecord>(&self) -> Option<&T> {
        // SAFETY: the server is live and module_config is its config vector;
        // our slot holds a `T` allocated by create_server_config in pconf.
        unsafe {
            let slot = module_config_slot((*self.as_ptr()).module_config, module_record::get());
            slot.cast::<T>().as_ref()
        }
    }

    /// `ServerName` (may be empty).
    pub fn hostname(&self) -> &[u8] {
        // SAFETY: server_hostname is NULL or a C string in pconf, which
        // lives as long as the configuration this server record belongs to.
        unsafe { pconf_bytes((*self.as_ptr()).server_hostname) }
    }

    /// Whether `name` (a request's host name, which httpd lower-cases) is
    /// one this virtual host was configured with: its `ServerName`, a
    /// `ServerAlias`, or a match of a wildcard `ServerAlias`.
    pub fn answers_to(self, name: &str) -> bool {
        if name.as_bytes().eq_ignore_ascii_case(self.hostname()) {
            return true;
        }
        let Ok(name) = std::ffi::CString::new(name) else {
            return false;
        };
        // SAFETY: the server is live; names and wild_names are NULL or
        // arrays of C strings in pconf.
        let (names, wild) = unsafe {
            let raw = &*self.as_ptr();
            (pconf_strings(raw.names), pconf_strings(raw.wild_names))
        };
        let matches_pattern = |pattern: &&CStr| {
            // SAFETY: two NUL-terminated strings; ap_strcasecmp_match only
            // reads them and returns 0 on a match.
            unsafe { ffi::ap_strcasecmp_match(name.as_ptr(), pattern.as_ptr()) == 0 }
        };
        names
            .iter()
            .any(|alias| alias.to_bytes().eq_ignore_ascii_case(name.to_bytes()))
            || wild.iter().any(matches_pattern)
    }

    /// `ServerAdmin` (may be empty).
    pub fn admin(&self) -> &[u8] {
        // SAFETY: as `hostname`.
        unsafe { pconf_bytes((*self.as_ptr()).server_admin) }
    }
}

/// The bytes of a configuration string (`""` for NULL). The server
/// records and their strings live in pconf, for as long as the process
/// serves with that configuration; callers use them within a request or a
/// configuration pass, never across a restart.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string in pconf.
unsafe fn pconf_bytes(ptr: *const std::ffi::c_char) -> &'static [u8] {
    if ptr.is_null() {
        b""
    } else {
        // SAFETY: per the contract above.
        unsafe { std::ffi::CStr::from_ptr(ptr) }.to_bytes()
    }
}

/// The strings of an APR array of `char *` (none for NULL).
///
/// # Safety
/// `array` must be NULL or a live `apr_array_header_t` whose elements are
/// C strings in pconf.
unsafe fn pconf_strings(array: *const ffi::apr_array_header_t) -> Vec<&'static CStr> {
    // SAFETY: per the contract above.
    let Some(array) = (unsafe { array.as_ref() }) else {
        return Vec::new();
    };
    let count = usize::try_from(array.nelts).unwrap_or(0);
    let elements = array.elts.cast::<*const std::ffi::c_char>();
    (0..count)
        // SAFETY: `elts` holds `nelts` pointers; each is NULL or a C string.
        .map(|i| unsafe { *elements.add(i) })
        .filter(|p| !p.is_null())
        // SAFETY: non-NULL C strings in pconf.
        .map(|p| unsafe { CStr::from_ptr(p) })
        .collect()
}

/// A NULL-safe, Latin-1-lossless copy of a C string owned by httpd.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string.
pub unsafe fn c_string(ptr: *const std::ffi::c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        // SAFETY: non-NULL and NUL-terminated per the contract.
        String::from_utf8_lossy(unsafe { CStr::from_ptr(ptr) }.to_bytes()).into_owned()
    }
}

impl Server {
    /// Where this virtual host is defined (`defn_name`, `defn_line_number`):
    /// tells apart virtual hosts that share a name.
    pub fn definition(&self) -> (&[u8], u32) {
        // SAFETY: both fields are plain data of the live server record; the
        // name is NULL or a C string in pconf.
        unsafe {
            let raw = &*self.as_ptr();
            (pconf_bytes(raw.defn_name), raw.defn_line_number)
        }
    }
}
