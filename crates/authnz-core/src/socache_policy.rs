//! Decisions about mod_authn_socache (docs/how-it-runs.md#registration-with-httpd) that need no httpd: whether
//! the configuration asks it to cache for the `wsgi` provider. The hash a
//! Basic entry is stored as is `basic_entry_hash`'s concern.

use crate::require_words::require_words;

/// The provider name mod_authn_socache's `AuthnCacheProvideFor` must list.
pub const PROVIDER_NAME: &[u8] = b"wsgi";

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
}
