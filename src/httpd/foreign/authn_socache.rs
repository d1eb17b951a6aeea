//! mod_authn_socache (`modules/aaa/mod_authn_socache.c`) as the `wsgi`
//! provider hands it answers: its optional function
//! `ap_authn_cache_store`, fetched again each configuration cycle, and
//! its private per-directory record, read to learn whether the request's
//! merged `AuthnCacheProvideFor` names a provider. That record's layout
//! (timeout, provider array, context) has not changed in httpd 2.4 and is
//! verified each cycle against the documented defaults: 300 seconds, no
//! providers, context "directory".

use std::ffi::{c_char, CStr};
use std::ptr::null;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ffi;
use crate::httpd::foreign::{loaded, VerifiedModule};
use crate::httpd::Request;

/// `authn_cache_dircfg`, the start of mod_authn_socache's record.
#[repr(C)]
struct DirRecord {
    timeout: ffi::apr_interval_time_t,
    providers: *mut ffi::apr_array_header_t,
    context: *const c_char,
}

/// The default `AuthnCacheTimeout` (300 s) in microseconds.
const DEFAULT_TIMEOUT_US: ffi::apr_interval_time_t = 300_000_000;

type StoreFn = unsafe extern "C" fn(
    *mut ffi::request_rec,
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
);

/// `ap_authn_cache_store`'s address (0: not loaded), from the current cycle.
static STORE_FN: AtomicUsize = AtomicUsize::new(0);
/// mod_authn_socache, when its record's layout was verified this cycle.
static VERIFIED: VerifiedModule = VerifiedModule::none();

/// What [`refresh`] found this cycle.
pub struct Found {
    /// `ap_authn_cache_store` exists (mod_authn_socache is loaded).
    pub store: bool,
    /// Its per-directory record has the expected layout.
    pub layout_verified: bool,
}

/// Look at mod_authn_socache again. Call from `optional_fn_retrieve`, on
/// the parent's only thread, every configuration cycle.
pub fn refresh() -> Found {
    // SAFETY: a lookup by name in APR's table of optional functions.
    let found = unsafe { ffi::apr_dynamic_fn_retrieve(c"ap_authn_cache_store".as_ptr()) };
    let address = found.map_or(0, |f| f as usize);
    STORE_FN.store(address, Ordering::Release);
    let verified = loaded(c"mod_authn_socache.c").filter(|module| {
        // SAFETY: DirRecord is the start of authn_cache_dircfg in every 2.4
        // release; only the defaults are compared, the context as a C
        // string the module's constructor set.
        let defaults = unsafe {
            module.check_fresh_dir_record::<DirRecord>(|c| {
                c.timeout == DEFAULT_TIMEOUT_US
                    && c.providers.is_null()
                    && !c.context.is_null()
                    && CStr::from_ptr(c.context) == c"directory"
            })
        };
        defaults == Some(true)
    });
    VERIFIED.set(verified);
    Found {
        store: address != 0,
        layout_verified: verified.is_some(),
    }
}

/// Whether `r`'s merged `AuthnCacheProvideFor` names `provider`; `None`
/// when the record's layout is not verified this cycle.
pub fn provides_for(r: Request, provider: &CStr) -> Option<bool> {
    // SAFETY: VERIFIED holds mod_authn_socache, verified for DirRecord.
    let record = unsafe { VERIFIED.dir_record::<DirRecord>(r) }?;
    Some(record.is_some_and(|c| {
        // SAFETY: `providers` is NULL (checked) or the module's array of C
        // strings, which ap_array_str_contains reads.
        !c.providers.is_null()
            && unsafe { ffi::ap_array_str_contains(c.providers, provider.as_ptr()) } != 0
    }))
}

/// Whether `ap_authn_cache_store` exists this cycle.
pub fn store_available() -> bool {
    STORE_FN.load(Ordering::Acquire) != 0
}

/// `ap_authn_cache_store(r, provider, user, realm, data)`: mod_authn_socache
/// copies what it keeps. A Basic entry has no realm. `false` when the
/// function does not exist this cycle.
pub fn store(r: Request, provider: &CStr, user: &CStr, realm: Option<&CStr>, data: &CStr) -> bool {
    let address = STORE_FN.load(Ordering::Acquire);
    if address == 0 {
        return false;
    }
    // SAFETY: `address` came from apr_dynamic_fn_retrieve for
    // "ap_authn_cache_store" in this configuration cycle; mod_auth.h
    // declares that optional function with exactly this signature.
    let store = unsafe { std::mem::transmute::<usize, StoreFn>(address) };
    // SAFETY: the request is live; every string is NUL-terminated and
    // outlives the call; a NULL realm marks a Basic entry.
    unsafe {
        store(
            r.as_ptr(),
            provider.as_ptr(),
            user.as_ptr(),
            realm.map_or(null(), CStr::as_ptr),
            data.as_ptr(),
        )
    };
    true
}
