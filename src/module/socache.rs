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
//! mod_authn_socache's private per-directory record, whose layout is
//! verified each configuration cycle (`httpd/foreign/authn_socache.rs`).
//! Should that check fail, the
//! hash is made wherever the parsed configuration has `AuthnCacheProvideFor
//! ... wsgi` (or `AuthnCacheEnable`), which is correct but slower where
//! socache caches only for other providers. A login that renamed the user
//! is not stored: mod_authn_socache would grant it under the name the
//! client sent. An entry only ever comes from a Python answer, never from
//! the in-process cache, so it is never older than `AuthnCacheTimeout`
//! measured from a real check.

use authnz_core::log_tags as tags;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};

use authnz_core::basic_entry_hash::BasicEntryHash;
use authnz_core::require_any::ConfigNode;
use authnz_core::socache_policy::directive_enables_wsgi;

use crate::httpd::conftree::parsed_configuration;
use crate::httpd::foreign::authn_socache;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::basic_entry;
use crate::module::status;
use crate::{rlog, slog};

/// The provider name mod_authn_socache's `AuthnCacheProvideFor` matches.
const PROVIDER: &CStr = c"wsgi";

/// Whether the current configuration asks mod_authn_socache to cache `wsgi`.
static WANTED: AtomicBool = AtomicBool::new(false);

/// The socache hand-over's hook: mod_authn_socache is looked at again every
/// configuration cycle (a graceful restart can reload it).
pub fn register() {
    hooks::optional_fn_retrieve::<RetrieveStore>(Order::MIDDLE);
}

/// The `optional_fn_retrieve` hook: fetch `ap_authn_cache_store` again and
/// look at the configuration just read.
struct RetrieveStore;

impl hooks::Retrieve for RetrieveStore {
    const NAME: &'static str = "optional_fn_retrieve";

    fn run() {
        let found = authn_socache::refresh();
        let wanted = found.store && configuration_enables_wsgi(&parsed_configuration());
        WANTED.store(wanted, Ordering::Release);
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
        if wanted && !found.layout_verified {
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

/// Whether mod_authn_socache keeps what we hand it for this request: where
/// its record cannot be read, wherever the configuration enables it.
pub fn socache_stores_here(r: Request) -> bool {
    WANTED.load(Ordering::Acquire)
        && authn_socache::store_available()
        && authn_socache::provides_for(r, PROVIDER) != Some(false)
}

/// Whether any directive in the parsed configuration makes
/// mod_authn_socache cache for `wsgi`.
fn configuration_enables_wsgi(nodes: &[ConfigNode]) -> bool {
    nodes.iter().any(|node| {
        directive_enables_wsgi(&node.directive, &node.args)
            || configuration_enables_wsgi(&node.children)
    })
}

/// After `check_password` granted `user` with `password` (and did not
/// rename the user): store a salted hash of the password, in the scheme
/// `WSGISocacheHash` chose for this request.
pub fn store_basic(r: Request, configured: Option<BasicEntryHash>, user: &CStr, password: &CStr) {
    if !socache_stores_here(r) {
        return;
    }
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
    if !authn_socache::store(r, PROVIDER, user, None, entry.as_c_str()) {
        return;
    }
    status::counting::socache_stored();
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
    if !socache_stores_here(r) || !authn_socache::store(r, PROVIDER, user, Some(realm), realm_hash)
    {
        return;
    }
    status::counting::socache_stored();
    rlog!(
        &r,
        Level::Debug,
        tags::HANDED_TO_SOCACHE,
        "realm hash of '{}' handed to mod_authn_socache",
        String::from_utf8_lossy(user.to_bytes())
    );
}
