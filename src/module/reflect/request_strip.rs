//! The request side of identity reflection: where reflection is on, request
//! headers with the configured names (any case, any `-`/`_` spelling) are
//! removed in `post_perdir_config`, before anything else (authn,
//! mod_setenvif, the handler, mod_proxy, CGI) sees them, so an application
//! that echoes request headers cannot be used to spoof an identity.

use authnz_core::reflect::request_header_matches;

use crate::ffi;
use crate::httpd::guard::guard;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::rlog;

use super::reflection;

/// `post_perdir_config`: remove spoofed identity headers from the request.
pub unsafe extern "C" fn strip_before_checks(r: *mut ffi::request_rec) -> i32 {
    guard("post_perdir_config", ffi::HOOK_SERVER_ERROR, || {
        // SAFETY: httpd passes the live request.
        let Some(r) = (unsafe { Request::from_raw(r) }) else {
            return ffi::HOOK_DECLINED;
        };
        let Some(headers) = reflection(r) else {
            return ffi::HOOK_DECLINED;
        };
        // mod_proxy relays a backend's 1xx interim responses (103 Early
        // Hints) with ap_send_interim_response, which bypasses every output
        // filter: suppress them here so their headers cannot carry an
        // identity to the client.
        r.subprocess_env()
            .set(b"proxy-interim-response", b"Suppress");
        let headers_in = r.headers_in();
        let spoofed: Vec<Vec<u8>> = headers_in
            .entries()
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| {
                request_header_matches(&headers.user, key)
                    || request_header_matches(&headers.auth_type, key)
            })
            .map(<[u8]>::to_vec)
            .collect();
        for key in spoofed {
            headers_in.unset(&key);
            rlog!(
                &r,
                Level::Info,
                52,
                "removed request header {} from {}: with WSGIReflectAuth On identities come only \
                 from the application's response",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(r.uri())
            );
        }
        ffi::HOOK_DECLINED
    })
}
