//! `WSGIAuthCacheTimeout` (docs/caching.md): an in-process cache, per child, of
//! granted Basic results (including a renamed user), of the group sets
//! `groups_for_user` returned and of the realm hashes `get_realm_hash`
//! found (Digest).
//!
//! Keys are HMAC-SHA256 digests under a secret drawn from APR's random source on
//! first use in the child (see `authnz_core::auth_cache`), over the config
//! context, the user and, for Basic, the password (for Digest, the realm).
//! The context is the virtual host (definition file and line, name), where
//! the script directive was configured (its file and line: the section
//! that names the script, not the last section merged into the request),
//! the provider name httpd noted for this call (an `AuthnProviderAlias` /
//! `AuthzProviderAlias` name), the script path, the application group,
//! `AuthName` and the timeout: entries never cross locations, realms or
//! provider aliases. Only granted results, found realm hashes and
//! successful group lookups are stored; denials, unknown users and errors
//! always reach Python. The mutex is held only to look up or
//! store an entry, never across a Python call.
//!
//! Concurrent misses of one key make one Python call: see `answer`.

use authnz_core::log_tags as tags;
use std::ffi::CStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authnz_core::auth_cache::{CacheKey, ExpiringCache, KeyDeriver, KeyKind, SECRET_LEN};
use authnz_core::group_set::GroupSet;
use once_cell::sync::Lazy;

use crate::apr::random::random_bytes;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::ScriptSpec;
use crate::module::status;
use crate::slog;

/// Entries one child keeps at most (both kinds together).
pub const CAPACITY: usize = 10_000;

/// What an entry answers.
#[derive(Clone)]
pub enum Cached {
    /// `check_password` granted; `Some(name)` when it renamed the user.
    Granted(Option<Arc<str>>),
    /// `groups_for_user` returned this set.
    Groups(Arc<GroupSet>),
    /// `get_realm_hash` returned this (validated) hash.
    RealmHash(Arc<[u8]>),
}

struct ProcessCache {
    keys: KeyDeriver,
    entries: Mutex<ExpiringCache<Cached>>,
}

/// Made on first use, which is always in a child: the parent serves no
/// requests, so each child draws its own secret.
static CACHE: Lazy<Option<ProcessCache>> = Lazy::new(|| {
    let mut secret = [0u8; SECRET_LEN];
    if !random_bytes(&mut secret) {
        slog!(
            None,
            Level::Error,
            tags::NO_CACHE_KEY,
            "WSGIAuthCacheTimeout: no random key available (APR's random source failed); the in-process \
             cache is off in child {}",
            std::process::id()
        );
        return None;
    }
    let keys = KeyDeriver::new(&secret);
    secret.iter_mut().for_each(|b| *b = 0);
    Some(ProcessCache {
        keys,
        entries: Mutex::new(ExpiringCache::new(CAPACITY)),
    })
});

/// The note naming the provider httpd is calling (the alias name under
/// `<AuthnProviderAlias>`), for Basic and for groups.
const AUTHN_PROVIDER_NOTE: &CStr = c"authn_provider_name";
const AUTHZ_PROVIDER_NOTE: &CStr = c"authz_provider_name";

/// The key of `user` (with `second`: the password for Basic, the realm for
/// Digest; none for groups) in this request's configuration context, for
/// `spec` run in application group `group` of auth daemon group `daemon`
/// (`None`: embedded).
#[allow(clippy::too_many_arguments)]
fn derive(
    r: Request,
    spec: &ScriptSpec,
    daemon: Option<&str>,
    group: &str,
    timeout: Duration,
    provider_note: &CStr,
    kind: KeyKind,
    user: &[u8],
    second: Option<&[u8]>,
) -> Option<CacheKey> {
    let cache = CACHE.as_ref()?;
    let server = r.server();
    let (defined_in, defined_at) = server.definition();
    let hostname = server.hostname();
    let line = defined_at.to_le_bytes();
    let secs = timeout.as_secs().to_le_bytes();
    // On the stack: a key is derived on every request that consults the
    // cache, hits included.
    let mut fields: [&[u8]; CONTEXT_FIELDS + 2] = [
        defined_in,
        &line,
        hostname,
        spec.configured_at.as_bytes(),
        r.note(provider_note).unwrap_or(b""),
        spec.path.as_bytes(),
        daemon.unwrap_or("").as_bytes(),
        group.as_bytes(),
        r.auth_name().unwrap_or(b""),
        &secs,
        user,
        b"",
    ];
    let used = match second {
        Some(second) => {
            fields[CONTEXT_FIELDS + 1] = second;
            CONTEXT_FIELDS + 2
        }
        None => CONTEXT_FIELDS + 1,
    };
    Some(cache.keys.derive(kind, &fields[..used]))
}

/// Fields of the config context in every key (the user and the password
/// or realm follow them).
const CONTEXT_FIELDS: usize = 10;

/// The key of a Basic login in this request's context.
pub fn basic_key(
    r: Request,
    spec: &ScriptSpec,
    daemon: Option<&str>,
    group: &str,
    timeout: Duration,
    user: &[u8],
    password: &[u8],
) -> Option<CacheKey> {
    derive(
        r,
        spec,
        daemon,
        group,
        timeout,
        AUTHN_PROVIDER_NOTE,
        KeyKind::BasicGrant,
        user,
        Some(password),
    )
}

/// The key of a user's realm hash (Digest) in this request's context.
pub fn digest_key(
    r: Request,
    spec: &ScriptSpec,
    daemon: Option<&str>,
    group: &str,
    timeout: Duration,
    user: &[u8],
    realm: &[u8],
) -> Option<CacheKey> {
    derive(
        r,
        spec,
        daemon,
        group,
        timeout,
        AUTHN_PROVIDER_NOTE,
        KeyKind::RealmHash,
        user,
        Some(realm),
    )
}

/// The key of a user's group set in this request's context.
pub fn groups_key(
    r: Request,
    spec: &ScriptSpec,
    daemon: Option<&str>,
    group: &str,
    timeout: Duration,
    user: &[u8],
) -> Option<CacheKey> {
    derive(
        r,
        spec,
        daemon,
        group,
        timeout,
        AUTHZ_PROVIDER_NOTE,
        KeyKind::Groups,
        user,
        None,
    )
}

/// The live entry for `key`, if any.
pub fn lookup(key: &CacheKey) -> Option<Cached> {
    let cache = CACHE.as_ref()?;
    let now = Instant::now();
    let mut entries = cache.entries.lock().unwrap_or_else(|e| e.into_inner());
    let found = entries.get(key, now);
    status::counting::cache_entries(entries.len());
    found
}

/// Remember `value`, which Python produced in a call that started at
/// `validated_at`, for `ttl`.
pub fn store(key: CacheKey, value: Cached, validated_at: Instant, ttl: Duration) {
    let Some(cache) = CACHE.as_ref() else {
        return;
    };
    let now = Instant::now();
    let mut entries = cache.entries.lock().unwrap_or_else(|e| e.into_inner());
    entries.insert(key, value, validated_at, ttl, now);
    status::counting::cache_entries(entries.len());
}
