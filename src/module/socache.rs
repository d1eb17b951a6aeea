//! mod_authn_socache integration (docs/how-it-runs.md#registration-with-httpd): after the `wsgi` provider grants
//! a Basic login or finds a Digest realm hash, hand the result to
//! `ap_authn_cache_store`, so `AuthBasicProvider socache wsgi` (or
//! `AuthDigestProvider socache wsgi`) with `AuthnCacheProvideFor wsgi`
//! answers repeated logins from the cache — shmcb within one server,
//! memcache or redis across servers — without calling Python.
//!
//! The function is mod_authn_socache's optional function, fetched by name in
//! the `optional_fn_retrieve` hook, which httpd runs after every reading of
//! the configuration: a graceful restart may load that module at another
//! address (or not at all), so the pointer is re-written each cycle and
//! never survives one. As httpd's own `mod_authn_file` does, we pass our
//! provider name, the user, no realm for Basic, and data that
//! mod_authn_socache later checks itself: for Basic it runs
//! `ap_password_validate(password, data)`, so we store a salted hash in the
//! scheme of `WSGISocacheHash` (`basic_entry`; never the password, never
//! unsalted SHA-1); for Digest it returns the data as the realm hash, so we
//! store the realm hash with its realm.
//!
//! Hashing costs a few microseconds (`$sha1$`) or a millisecond (bcrypt),
//! so it is only done where mod_authn_socache will keep the result: where the
//! request's merged `AuthnCacheProvideFor` lists `wsgi`. That list lives in
//! mod_authn_socache's private per-directory record; its layout (timeout,
//! provider array, context) has not changed in httpd 2.4, and it is checked
//! each configuration cycle by building a fresh record with the module's
//! own constructor and comparing it with the documented defaults (300
//! seconds, no providers, context "directory"). Should that check fail, the
//! hash is made wherever the parsed configuration has `AuthnCacheProvideFor
//! ... wsgi` (or `AuthnCacheEnable`), which is correct but slower where
//! socache caches only for other providers. A login that renamed the user
//! is not stored: mod_authn_socache would grant it under the name the
//! client sent. An entry only ever comes from a Python answer, never from
//! the in-process cache, so it is never older than `AuthnCacheTimeout`
//! measured from a real check.

use authnz_core::log_tags as tags;
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use authnz_core::basic_entry_hash::BasicEntryHash;
use authnz_core::socache_policy::directive_enables_wsgi;

use crate::ffi;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::server::c_string;
use crate::httpd::Request;
use crate::module::basic_entry;
use crate::{rlog, slog};

/// The provider name mod_authn_socache's `AuthnCacheProvideFor` matches.
const PROVIDER: &CStr = c"wsgi";

/// `ap_authn_cache_store`'s address (0: not loaded), from the current cycle.
static STORE_FN: AtomicUsize = AtomicUsize::new(0);
/// Whether the current configuration asks mod_authn_socache to cache `wsgi`.
static WANTED: AtomicBool = AtomicBool::new(false);
/// mod_authn_socache's module record (its address) when its per-directory
/// record was verified to have the layout of [`SocacheDirConfig`] this
/// cycle; else 0.
static SOCACHE_MODULE: AtomicUsize = AtomicUsize::new(0);

/// mod_authn_socache's per-directory record (`authn_cache_dircfg` in
/// modules/aaa/mod_authn_socache.c), read only after the layout check of
/// [`verified_socache_index`].
#[repr(C)]
struct SocacheDirConfig {
    timeout: ffi::apr_interval_time_t,
    providers: *mut ffi::apr_array_header_t,
    context: *const c_char,
}

/// mod_authn_socache's default `AuthnCacheTimeout` (300 s) in microseconds.
const SOCACHE_DEFAULT_TIMEOUT_US: ffi::apr_interval_time_t = 300_000_000;

/// The socache hand-over's hook: `ap_authn_cache_store` is looked up every
/// configuration cycle (a graceful restart can reload mod_authn_socache).
pub fn register() {
    hooks::optional_fn_retrieve::<RetrieveStore>(Order::MIDDLE);
}

/// The `optional_fn_retrieve` hook: fetch `ap_authn_cache_store` again and
/// look at the configuration just read.
///
/// # Safety
/// Called by httpd after `post_config`, on the parent's only thread.
struct RetrieveStore;

impl hooks::Retrieve for RetrieveStore {
    const NAME: &'static str = "optional_fn_retrieve";

    fn run() {
        // SAFETY: a lookup by name in APR's table of optional functions.
        let found = unsafe { ffi::apr_dynamic_fn_retrieve(c"ap_authn_cache_store".as_ptr()) };
        let address = found.map_or(0, |f| f as usize);
        let wanted = address != 0 && configuration_enables_wsgi();
        let verified = if wanted { verified_socache_module() } else { 0 };
        STORE_FN.store(address, Ordering::Release);
        WANTED.store(wanted, Ordering::Release);
        SOCACHE_MODULE.store(verified, Ordering::Release);
        if wanted && !basic_entry::sha1crypt_supported() {
            slog!(
                None,
                Level::Warning,
                tags::SHA1CRYPT_UNSUPPORTED,
                "this platform's crypt(3) cannot validate $sha1$ hashes; Basic logins are handed \
                 to mod_authn_socache as bcrypt hashes instead (about a millisecond per cached \
                 request)"
            );
        }
        if wanted && verified == 0 {
            slog!(
                None,
                Level::Info,
                tags::SOCACHE_LAYOUT_UNKNOWN,
                "mod_authn_socache's per-directory record does not have the expected layout; \
                 granted logins are hashed for it wherever AuthnCacheProvideFor names wsgi"
            );
        }
    }
}

/// mod_authn_socache's module record (its address), if a record made by
/// its own `create_dir_config` has the layout and defaults
/// [`SocacheDirConfig`] expects; 0 otherwise.
fn verified_socache_module() -> usize {
    // SAFETY: a lookup in httpd's list of loaded modules.
    let module = unsafe { ffi::ap_find_linked_module(c"mod_authn_socache.c".as_ptr()) };
    // SAFETY: NULL or the live module record of a loaded module.
    let Some(module) = (unsafe { module.as_ref() }) else {
        return 0;
    };
    let Some(create) = module.create_dir_config else {
        return 0;
    };
    let mut pool: *mut ffi::apr_pool_t = std::ptr::null_mut();
    // SAFETY: creates a root pool (APR is initialised by httpd); checked below.
    let status = unsafe {
        ffi::apr_pool_create_ex(&mut pool, std::ptr::null_mut(), None, std::ptr::null_mut())
    };
    if status != 0 || pool.is_null() {
        return 0;
    }
    // SAFETY: the module's own constructor, called as httpd calls it (a
    // pool and a directory that may be NULL); it returns a record in `pool`.
    let record = unsafe { create(pool, std::ptr::null_mut()) }.cast::<SocacheDirConfig>();
    // SAFETY: mod_authn_socache's record is at least as large as
    // SocacheDirConfig in every 2.4 release; only after the defaults match
    // is the layout trusted. The context is a C string in the module.
    let matches = unsafe {
        record.as_ref().is_some_and(|c| {
            c.timeout == SOCACHE_DEFAULT_TIMEOUT_US
                && c.providers.is_null()
                && !c.context.is_null()
                && CStr::from_ptr(c.context) == c"directory"
        })
    };
    // SAFETY: the pool was created above and nothing refers to it any more.
    unsafe { ffi::apr_pool_destroy(pool) };
    if matches {
        module as *const ffi::module as usize
    } else {
        0
    }
}

/// Whether mod_authn_socache keeps what we hand it for this request.
fn socache_stores_here(r: Request) -> bool {
    if !WANTED.load(Ordering::Acquire) {
        return false;
    }
    let module = SOCACHE_MODULE.load(Ordering::Acquire);
    if module == 0 {
        return true;
    }
    // SAFETY: the record of mod_authn_socache, loaded in this configuration
    // (the address is taken again every configuration cycle).
    let record =
        unsafe { r.module_dir_config_raw(module as *const ffi::module) }.cast::<SocacheDirConfig>();
    // SAFETY: the slot holds mod_authn_socache's merged record for this
    // request (or NULL), whose layout was verified this cycle; `providers`
    // is NULL or an array of C strings, which ap_array_str_contains reads.
    unsafe {
        record.as_ref().is_some_and(|c| {
            !c.providers.is_null()
                && ffi::ap_array_str_contains(c.providers, PROVIDER.as_ptr()) != 0
        })
    }
}

/// Whether any directive in the parsed configuration tree makes
/// mod_authn_socache cache for `wsgi`.
fn configuration_enables_wsgi() -> bool {
    // SAFETY: ap_conftree is the tree of the configuration httpd has just
    // read, allocated in pconf, which lives until the next cycle; this runs
    // on the parent's only thread right after that reading.
    let root = unsafe { *std::ptr::addr_of!(ffi::ap_conftree) };
    let mut pending = vec![root];
    while let Some(mut node) = pending.pop() {
        // SAFETY: every node of the tree is a live ap_directive_t (see above).
        while let Some(directive) = unsafe { node.as_ref() } {
            // SAFETY: directive and args are NULL or C strings in pconf.
            let (name, args) = unsafe { (c_string(directive.directive), c_string(directive.args)) };
            if directive_enables_wsgi(&name, &args) {
                return true;
            }
            if !directive.first_child.is_null() {
                pending.push(directive.first_child);
            }
            node = directive.next;
        }
    }
    false
}

type StoreFn = unsafe extern "C" fn(
    *mut ffi::request_rec,
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
);

/// `ap_authn_cache_store`, when it exists and keeps our entries for `r`.
fn store_function(r: Request) -> Option<StoreFn> {
    if !socache_stores_here(r) {
        return None;
    }
    let address = STORE_FN.load(Ordering::Acquire);
    if address == 0 {
        return None;
    }
    // SAFETY: `address` came from apr_dynamic_fn_retrieve for
    // "ap_authn_cache_store" in this configuration cycle; mod_auth.h
    // declares that optional function with exactly this signature.
    Some(unsafe { std::mem::transmute::<usize, StoreFn>(address) })
}

/// After `check_password` granted `user` with `password` (and did not
/// rename the user): store a salted hash of the password, in the scheme
/// `WSGISocacheHash` chose for this request.
pub fn store_basic(r: Request, configured: Option<BasicEntryHash>, user: &CStr, password: &CStr) {
    let Some(store) = store_function(r) else {
        return;
    };
    let scheme = basic_entry::effective_scheme(configured);
    if !scheme.stores(password.to_bytes()) {
        rlog!(
            &r,
            Level::Debug,
            tags::PASSWORD_TOO_LONG_TO_SOCACHE,
            "login of '{}' not handed to mod_authn_socache: the password is longer than the \
             {} bytes a {} entry holds",
            String::from_utf8_lossy(user.to_bytes()),
            scheme.max_password_bytes(),
            scheme.name()
        );
        return;
    }
    let entry = match basic_entry::make(scheme, password) {
        Ok(entry) => entry,
        Err(why) => {
            rlog!(
                &r,
                Level::Error,
                tags::SOCACHE_HASH_FAILED,
                "login of '{}' not handed to mod_authn_socache: {why}",
                String::from_utf8_lossy(user.to_bytes())
            );
            return;
        }
    };
    // SAFETY: the request is live; every string is NUL-terminated and
    // outlives the call (mod_authn_socache copies what it keeps); a NULL
    // realm marks a Basic entry.
    unsafe {
        store(
            r.as_ptr(),
            PROVIDER.as_ptr(),
            user.as_ptr(),
            std::ptr::null(),
            entry.as_ptr(),
        )
    };
    rlog!(
        &r,
        Level::Debug,
        tags::HANDED_TO_SOCACHE,
        "granted login of '{}' handed to mod_authn_socache as a salted {} hash",
        String::from_utf8_lossy(user.to_bytes()),
        scheme.name()
    );
}

/// After `get_realm_hash` found `user` in `realm`: store the realm hash
/// (a C string in the request pool).
pub fn store_digest(r: Request, user: &CStr, realm: &CStr, realm_hash: &CStr) {
    let Some(store) = store_function(r) else {
        return;
    };
    // SAFETY: the request is live; user, realm and realm_hash are
    // NUL-terminated strings that outlive the call.
    unsafe {
        store(
            r.as_ptr(),
            PROVIDER.as_ptr(),
            user.as_ptr(),
            realm.as_ptr(),
            realm_hash.as_ptr(),
        )
    };
    rlog!(
        &r,
        Level::Debug,
        tags::HANDED_TO_SOCACHE,
        "realm hash of '{}' handed to mod_authn_socache",
        String::from_utf8_lossy(user.to_bytes())
    );
}
