//! Remembering logins: `--auth-cache-timeout N` (the module's in-process
//! cache, `WSGIAuthCacheTimeout`) and `--shared-cache memcache:HOST:PORT`
//! or `redis:HOST:PORT` (mod_authn_socache with a store several servers
//! share, answered before Python by the `socache` provider).
//!
//! With `--shared-cache`, the provider line becomes `socache wsgi`,
//! `AuthnCacheProvideFor wsgi` lets the module hand its grants to
//! mod_authn_socache, and `AuthnCacheTimeout` is `--auth-cache-timeout`'s
//! value, else mod_authn_socache's default of 300 seconds. Digest works the
//! same way (`AuthDigestProvider socache wsgi`; the store then holds realm
//! hashes, see docs/caching.md).
//!
//! The entries' context (`AuthnCacheContext`, the first part of every key)
//! is the realm: servers that share a store and a realm share logins,
//! whatever address each listens on. mod_authn_socache's default context,
//! `ServerName` and the URL's directory, would keep apart servers of one
//! fleet that listen on their own addresses, and join unrelated sites
//! that listen on `0.0.0.0` (all named `localhost`).

use std::fmt::Write;

use crate::options::{single, Raw};
use crate::quote::conf;
use crate::values::{self, Checked};

/// The longest cache lifetime `WSGIAuthCacheTimeout` accepts.
const MAX_TIMEOUT: u32 = 86_400;
/// mod_authn_socache's own default `AuthnCacheTimeout`.
const DEFAULT_SHARED_TIMEOUT: u32 = 300;

/// The store a shared cache lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memcache,
    Redis,
}

impl Store {
    /// The `AuthnCacheSOCache` provider name.
    pub fn name(self) -> &'static str {
        match self {
            Store::Memcache => "memcache",
            Store::Redis => "redis",
        }
    }

    /// The httpd module that talks to the store.
    pub fn module(self) -> &'static str {
        match self {
            Store::Memcache => "socache_memcache",
            Store::Redis => "socache_redis",
        }
    }
}

/// `--shared-cache`: the store and its servers (`host:port[,host:port...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCache {
    pub store: Store,
    pub servers: String,
}

/// The caching options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caching {
    /// `--auth-cache-timeout`: seconds a granted login is remembered.
    pub timeout: Option<u32>,
    pub shared: Option<SharedCache>,
}

impl Caching {
    /// `AuthnCacheTimeout` for the shared cache.
    pub fn shared_timeout(&self) -> u32 {
        self.timeout.unwrap_or(DEFAULT_SHARED_TIMEOUT)
    }
}

/// One `HOST:PORT` of a store: a host name, an IPv4 address or an IPv6
/// address in brackets, and a port.
fn store_server(value: &str, whole: &str) -> Checked<()> {
    let bad = || {
        format!(
            "--shared-cache: '{whole}' is not memcache:HOST:PORT or redis:HOST:PORT \
             (several servers separated by commas)"
        )
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    values::port("--shared-cache", port).map_err(|_| bad())?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
    if bare.is_empty()
        || !bare.chars().all(allowed)
        || (bare.contains(':') && bare.len() == host.len())
    {
        return Err(bad());
    }
    Ok(())
}

/// The caching options, checked; `has_auth` says whether
/// `--auth-user-script` was given (both caches remember its answers).
pub fn parse(raw: &Raw, has_auth: bool) -> Checked<Caching> {
    let timeout = single(raw, "auth-cache-timeout")
        .map(|v| values::number("--auth-cache-timeout", v, 1, MAX_TIMEOUT))
        .transpose()?;
    let shared = match single(raw, "shared-cache") {
        None => None,
        Some(value) => {
            let (kind, servers) = value.split_once(':').unwrap_or((value, ""));
            let store = match kind {
                "memcache" => Store::Memcache,
                "redis" => Store::Redis,
                _ => {
                    return Err(format!(
                        "--shared-cache: '{value}' is not memcache:HOST:PORT or redis:HOST:PORT"
                    ))
                }
            };
            for server in servers.split(',') {
                store_server(server, value)?;
            }
            Some(SharedCache {
                store,
                servers: servers.to_owned(),
            })
        }
    };
    for (name, given) in [
        ("auth-cache-timeout", timeout.is_some()),
        ("shared-cache", shared.is_some()),
    ] {
        if given && !has_auth {
            return Err(format!(
                "--{name} needs --auth-user-script (the logins it remembers)"
            ));
        }
    }
    Ok(Caching { timeout, shared })
}

/// The modules the shared cache needs.
pub fn modules(caching: &Caching) -> Vec<&'static str> {
    match &caching.shared {
        Some(shared) => vec!["authn_socache", shared.store.module()],
        None => Vec::new(),
    }
}

/// The provider list of `AuthBasicProvider`/`AuthDigestProvider`.
pub fn providers(caching: &Caching) -> &'static str {
    if caching.shared.is_some() {
        "socache wsgi"
    } else {
        "wsgi"
    }
}

/// Server-wide: where mod_authn_socache keeps its entries.
pub fn server_settings(out: &mut String, caching: &Caching) {
    if let Some(shared) = &caching.shared {
        let _ = write!(
            out,
            "AuthnCacheSOCache {}:{}\n\n",
            shared.store.name(),
            shared.servers
        );
    }
}

/// The lines inside the protected `<Location />`, whose `AuthName` is
/// `realm`.
pub fn location_settings(out: &mut String, caching: &Caching, realm: &str) {
    if caching.shared.is_some() {
        let _ = writeln!(
            out,
            "    AuthnCacheProvideFor wsgi\n    AuthnCacheContext {}\n    AuthnCacheTimeout {}",
            conf(realm),
            caching.shared_timeout()
        );
    }
    if let Some(timeout) = caching.timeout {
        let _ = writeln!(out, "    WSGIAuthCacheTimeout {timeout}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests_support::{err, run};

    fn caching(list: &[&str]) -> Caching {
        let mut full = vec!["--auth-user-script", "u.py"];
        full.extend_from_slice(list);
        run(&full).unwrap().caching
    }

    #[test]
    fn cache_options() {
        assert_eq!(caching(&[]), Caching::default());
        assert_eq!(caching(&["--auth-cache-timeout", "60"]).timeout, Some(60));
        let c = caching(&["--shared-cache", "memcache:127.0.0.1:11211"]);
        assert_eq!(
            c.shared,
            Some(SharedCache {
                store: Store::Memcache,
                servers: "127.0.0.1:11211".into()
            })
        );
        assert_eq!(c.shared_timeout(), 300);
        let c = caching(&[
            "--shared-cache",
            "redis:cache-1.example:6379,[::1]:6380",
            "--auth-cache-timeout",
            "30",
        ]);
        assert_eq!(c.shared.as_ref().unwrap().store, Store::Redis);
        assert_eq!(c.shared_timeout(), 30);
        assert_eq!(providers(&c), "socache wsgi");
        assert_eq!(modules(&c), ["authn_socache", "socache_redis"]);
    }

    #[test]
    fn cache_rules() {
        let auth = |list: &[&str]| {
            let mut full = vec!["--auth-user-script", "u.py"];
            full.extend_from_slice(list);
            err(&full)
        };
        for bad in ["0", "86401", "soon"] {
            assert!(
                auth(&["--auth-cache-timeout", bad]).contains("from 1 to 86400"),
                "{bad}"
            );
        }
        for bad in [
            "memcache",
            "memcache:",
            "memcache:host",
            "memcache:host:0",
            "memcache:host:11211,",
            "shmcb",
            "redis:a b:1",
            "redis:::1:6379",
            "redis:\"h\":1",
            "file:/tmp/x",
        ] {
            assert!(
                auth(&["--shared-cache", bad]).starts_with("--shared-cache: '"),
                "{bad}"
            );
        }
        assert_eq!(
            err(&["--auth-cache-timeout", "60"]),
            "--auth-cache-timeout needs --auth-user-script (the logins it remembers)"
        );
        assert!(err(&["--shared-cache", "redis:h:1"])
            .starts_with("--shared-cache needs --auth-user-script"));
    }

    #[test]
    fn written_lines() {
        let c = caching(&[
            "--shared-cache",
            "memcache:h:1",
            "--auth-cache-timeout",
            "9",
        ]);
        let mut server = String::new();
        server_settings(&mut server, &c);
        assert_eq!(server, "AuthnCacheSOCache memcache:h:1\n\n");
        let mut location = String::new();
        location_settings(&mut location, &c, "My site");
        assert_eq!(
            location,
            "    AuthnCacheProvideFor wsgi\n    AuthnCacheContext \"My site\"\n    \
             AuthnCacheTimeout 9\n    WSGIAuthCacheTimeout 9\n"
        );
        let c = caching(&["--auth-cache-timeout", "9"]);
        let mut location = String::new();
        location_settings(&mut location, &c, "My site");
        assert_eq!(location, "    WSGIAuthCacheTimeout 9\n");
        assert_eq!(providers(&c), "wsgi");
    }
}
