//! Decisions about mod_authn_socache (SPEC §5) that need no httpd: whether
//! the configuration asks it to cache for the `wsgi` provider, and whether
//! a Basic password can be represented by the salted hash we store.
//!
//! mod_authn_socache validates a cached Basic entry with
//! `apr_password_validate`, so what we store must be a hash that function
//! understands. We store bcrypt (`$2y$`, cost [`BCRYPT_COST`]); see the
//! README for the measured cost of each candidate scheme. bcrypt reads only
//! the first 72 bytes of a password, so a longer password is never stored:
//! its cache entry would also accept any password sharing those 72 bytes.

use crate::require_words::require_words;

/// bcrypt's work factor for cache entries (2^4 rounds, the minimum APR
/// accepts): about a millisecond per validation here.
pub const BCRYPT_COST: u32 = 4;

/// bcrypt ignores password bytes beyond this many.
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;

/// The provider name mod_authn_socache's `AuthnCacheProvideFor` must list.
pub const PROVIDER_NAME: &[u8] = b"wsgi";

/// Whether a granted Basic password may be stored as a bcrypt hash.
pub fn basic_password_storable(password: &[u8]) -> bool {
    password.len() <= BCRYPT_MAX_PASSWORD_BYTES
}

/// Whether one configuration directive (name and raw argument string, as in
/// httpd's parsed tree) may make mod_authn_socache cache for `wsgi`:
/// `AuthnCacheProvideFor` listing `wsgi` (compared exactly, as
/// mod_authn_socache does), or `AuthnCacheEnable`, which lets `.htaccess`
/// files (invisible at start-up) name providers.
pub fn directive_enables_wsgi(directive: &str, args: &str) -> bool {
    if directive.eq_ignore_ascii_case("AuthnCacheEnable") {
        return true;
    }
    directive.eq_ignore_ascii_case("AuthnCacheProvideFor")
        && require_words(args.as_bytes())
            .iter()
            .any(|w| w == PROVIDER_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provide_for_must_name_wsgi_exactly() {
        assert!(directive_enables_wsgi("AuthnCacheProvideFor", "wsgi"));
        assert!(directive_enables_wsgi("authncacheprovidefor", "file wsgi"));
        assert!(directive_enables_wsgi(
            "AuthnCacheProvideFor",
            "file \"wsgi\""
        ));
        assert!(!directive_enables_wsgi("AuthnCacheProvideFor", "file"));
        assert!(!directive_enables_wsgi("AuthnCacheProvideFor", "WSGI"));
        assert!(!directive_enables_wsgi(
            "AuthnCacheProvideFor",
            "wsgi-group"
        ));
        assert!(!directive_enables_wsgi("AuthBasicProvider", "socache wsgi"));
        assert!(directive_enables_wsgi("AuthnCacheEnable", ""));
    }

    #[test]
    fn long_passwords_are_not_stored() {
        assert!(basic_password_storable(b""));
        assert!(basic_password_storable(&[b'x'; 72]));
        assert!(!basic_password_storable(&[b'x'; 73]));
    }
}
