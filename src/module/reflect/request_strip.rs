//! The request side of identity reflection: where reflection is on, request
//! headers with the configured names (any case, any `-`/`_` spelling) are
//! removed, so an application that echoes request headers cannot be used to
//! spoof an identity.
//!
//! Twice, because a request can change location after its configuration was
//! first known:
//!
//! - `post_perdir_config` (first): before anything else of the request
//!   (authn, mod_setenvif, mod_rewrite's per-directory rules) sees them.
//!   Internal redirects (ErrorDocument, per-directory rewrites, `Action`)
//!   run this again and share `headers_in` with the request they replace;
//!   a subrequest (mod_include) strips its own copy.
//! - `insert_filter` (really first): httpd runs it right before the handler
//!   of the request that runs one (`ap_invoke_handler`, subrequests
//!   included), with that request's final configuration. mod_dir's
//!   DirectoryIndex and FallbackResource (fixups) and mod_negotiation's
//!   MultiViews (type_checker) promote a lookup subrequest into the request
//!   with `ap_internal_fast_redirect`, which takes the subrequest's
//!   configuration but keeps the request's own, unstripped `headers_in`
//!   (`modules/http/http_request.c`): only here is the request that
//!   finally runs the handler known for sure. A request whose headers were
//!   already cleaned when its configuration was merged is left alone, so a
//!   header the server itself sets for the application afterwards
//!   (`RequestHeader set X-Remote-User ...`, mod_headers' fixups) still
//!   reaches it.
//!
//! Both refuse a WebSocket upgrade that mod_proxy_wstunnel's legacy mode
//! would tunnel without any look at the backend's `101` (see `wstunnel`).
//! Both also remove the CGI variables such headers become (`HTTP_X_REMOTE_USER`)
//! from `subprocess_env`: mod_include adds the page's CGI variables to its
//! own request before it runs `include virtual`, and a subrequest starts
//! with a copy of that environment, which mod_cgi passes on as it is. And
//! both set `proxy-interim-response Suppress`: mod_proxy relays a backend's
//! `1xx` interim responses (103 Early Hints) with `ap_send_interim_response`,
//! which bypasses every output filter.

use crate::ffi;
use crate::httpd::hooks;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::ReflectHeaders;
use crate::module::request_state::RequestState;
use crate::rlog;
use authnz_core::log_tags as tags;

use authnz_core::reflect::request_header_matches;

use super::{reflection, wstunnel};

/// When a strip runs.
#[derive(Clone, Copy)]
enum Moment {
    /// The request's configuration has just been merged.
    ConfigurationKnown,
    /// The request's handler is about to run.
    HandlerNext,
}

/// Whether `key` names one of the identity headers (any spelling).
fn spells_identity(headers: &ReflectHeaders, key: &[u8]) -> bool {
    request_header_matches(&headers.user, key) || request_header_matches(&headers.auth_type, key)
}

/// Remove the CGI variables (`HTTP_` + the header name) the identity
/// headers would have become.
fn strip_environment(r: Request, headers: &ReflectHeaders) {
    let env = r.subprocess_env();
    let spoofed: Vec<Vec<u8>> = env
        .iter()
        .map(|(key, _)| key)
        .filter(|key| {
            key.strip_prefix(b"HTTP_")
                .is_some_and(|name| spells_identity(headers, name))
        })
        .map(<[u8]>::to_vec)
        .collect();
    for key in spoofed {
        env.unset(&key);
        rlog!(
            &r,
            Level::Info,
            tags::ENVIRONMENT_VARIABLE_REMOVED,
            "removed environment variable {} from {}: a request header of that name reached \
             the environment before the request came to this location (mod_include does that)",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(r.uri())
        );
    }
}

/// Refuse an upgrade mod_proxy_wstunnel would tunnel unseen.
fn refuse_raw_tunnel(r: Request) {
    let headers_in = r.headers_in();
    if headers_in.get_all(b"Upgrade").is_empty() || !wstunnel::tunnels_without_looking(r) {
        return;
    }
    headers_in.unset(b"Upgrade");
    rlog!(
        &r,
        Level::Warning,
        tags::UPGRADE_REFUSED,
        "refused the protocol upgrade of {} to {}: mod_proxy_wstunnel \
         (ProxyWebsocketFallbackToProxyHttp Off) would copy the backend's 101 response to the \
         client unseen, identity headers included; proxy WebSockets through mod_proxy_http \
         (the default) where WSGIReflectAuth is On",
        String::from_utf8_lossy(r.uri()),
        String::from_utf8_lossy(r.filename())
    );
}

fn strip(r: Request, headers: &ReflectHeaders, moment: Moment) {
    r.subprocess_env()
        .set(b"proxy-interim-response", b"Suppress");
    strip_environment(r, headers);
    refuse_raw_tunnel(r);
    let headers_in = r.headers_in();
    let spoofed: Vec<Vec<u8>> = headers_in
        .iter()
        .map(|(key, _)| key)
        .filter(|key| spells_identity(headers, key))
        .map(<[u8]>::to_vec)
        .collect();
    for key in spoofed {
        headers_in.unset(&key);
        let key = String::from_utf8_lossy(&key);
        let uri = String::from_utf8_lossy(r.uri());
        match moment {
            Moment::ConfigurationKnown => rlog!(
                &r,
                Level::Info,
                tags::REQUEST_HEADER_REMOVED,
                "removed request header {key} from {}{uri}: with WSGIReflectAuth On identities \
                 come only from the application's response",
                if r.is_subrequest() {
                    "the subrequest for "
                } else {
                    ""
                }
            ),
            Moment::HandlerNext => rlog!(
                &r,
                Level::Info,
                tags::LATE_REQUEST_HEADER_REMOVED,
                "removed request header {key} from {uri} just before its handler ran: the \
                 request was switched to this location after its headers had been checked \
                 (DirectoryIndex, FallbackResource and MultiViews do that); with WSGIReflectAuth \
                 On identities come only from the application's response"
            ),
        }
    }
}

/// `post_perdir_config`: remove spoofed identity headers from the request.
pub(super) struct StripBeforeChecks;

impl hooks::RequestHook for StripBeforeChecks {
    const NAME: &'static str = "post_perdir_config";
    const ON_PANIC: hooks::Status = ffi::HOOK_SERVER_ERROR;

    fn run(r: Request) -> hooks::Status {
        if let Some(headers) = reflection(r) {
            strip(r, &headers, Moment::ConfigurationKnown);
            r.state::<RequestState>().identity_headers_stripped = true;
        }
        ffi::HOOK_DECLINED
    }
}

/// `insert_filter`, before any other: remove spoofed identity headers from
/// the request whose handler runs next, unless they were removed when its
/// configuration was merged.
pub(super) struct StripBeforeHandler;

impl hooks::RequestAction for StripBeforeHandler {
    const NAME: &'static str = "insert_filter";

    fn run(r: Request) {
        let already = r
            .existing_state::<RequestState>()
            .is_some_and(|s| s.identity_headers_stripped);
        if already {
            return;
        }
        if let Some(headers) = reflection(r) {
            strip(r, &headers, Moment::HandlerNext);
        }
    }
}
