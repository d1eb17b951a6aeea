//! mod_proxy_wstunnel's private per-directory record
//! (`modules/proxy/mod_proxy_wstunnel.c`): `{ unsigned
//! fallback_to_proxy_http:1, fallback_to_proxy_http_set:1 }` since 2.4.47,
//! the setting of `ProxyWebsocketFallbackToProxyHttp`. Verified each cycle
//! against the documented default (fallback on, not set: the first word
//! reads 1) before it is read from requests.

use crate::httpd::foreign::{loaded, VerifiedModule};
use crate::httpd::Request;

/// The first word of a record as made by the module's constructor.
const DEFAULT_RECORD_WORD: u32 = 1;

/// mod_proxy_wstunnel, when its record's layout was verified this cycle.
static VERIFIED: VerifiedModule = VerifiedModule::none();

/// What [`refresh`] found this cycle.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Found {
    NotLoaded,
    /// Loaded, but a fresh record does not look as documented.
    LayoutUnknown,
    LayoutVerified,
}

/// Look at mod_proxy_wstunnel again. Call from `post_config`, on the
/// parent's only thread, every configuration cycle.
pub fn refresh() -> Found {
    let Some(module) = loaded(c"mod_proxy_wstunnel.c") else {
        VERIFIED.set(None);
        return Found::NotLoaded;
    };
    // SAFETY: every release with the directive has at least one word of
    // bit fields; only the default is compared.
    let verified =
        unsafe { module.check_fresh_dir_record::<u32>(|word| *word == DEFAULT_RECORD_WORD) };
    if verified == Some(true) {
        VERIFIED.set(Some(module));
        Found::LayoutVerified
    } else {
        VERIFIED.set(None);
        Found::LayoutUnknown
    }
}

/// Whether `r`'s `ProxyWebsocketFallbackToProxyHttp` is on; `None` when
/// the layout is not verified this cycle. A request without the module's
/// record counts as off (it would tunnel).
pub fn falls_back_to_proxy_http(r: Request) -> Option<bool> {
    // SAFETY: VERIFIED holds mod_proxy_wstunnel, verified for a u32 word.
    let word = unsafe { VERIFIED.dir_record::<u32>(r) }?;
    Some(word.is_some_and(|word| word & 1 == 1))
}

/// Whether mod_proxy_http is loaded (mod_proxy_wstunnel can fall back).
pub fn proxy_http_loaded() -> bool {
    loaded(c"mod_proxy_http.c").is_some()
}
