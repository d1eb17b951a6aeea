//! mod_proxy_wstunnel's legacy mode (`ProxyWebsocketFallbackToProxyHttp
//! Off`): for a `ws://` or `wss://` target and a request with `Upgrade`,
//! it sends the request and then copies the backend's bytes to the client
//! as they come, the `101` head included (`modules/proxy/
//! mod_proxy_wstunnel.c`, `proxy_wstunnel_request`). Nothing of httpd sees
//! that head, so where reflection is on such an upgrade is refused: the
//! request loses its `Upgrade` header, and mod_proxy_wstunnel answers
//! `426 Upgrade Required` through the ordinary (filtered) error path. In
//! its default mode mod_proxy_wstunnel hands `ws://` targets to
//! mod_proxy_http, whose `101` the backend-head filter cleans.
//!
//! Which mode applies is read from mod_proxy_wstunnel's private record
//! (`httpd/foreign/proxy_wstunnel.rs`), whose layout is verified each
//! configuration cycle. Should that check fail, every upgrade to a
//! `ws://`/`wss://` target in a reflecting location is refused (and the
//! start-up log says so). Without mod_proxy_http, mod_proxy_wstunnel always tunnels.

use authnz_core::log_tags as tags;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::ffi;
use crate::httpd::foreign::proxy_wstunnel::{self, Found};
use crate::httpd::hooks;
use crate::httpd::log::Level;
use crate::httpd::{Request, Server};
use crate::slog;

/// What `post_config` found of mod_proxy_wstunnel this cycle.
static WSTUNNEL: AtomicU8 = AtomicU8::new(NOT_LOADED);
const NOT_LOADED: u8 = 0;
const LAYOUT_UNKNOWN: u8 = 1;
const LAYOUT_VERIFIED: u8 = 2;
/// Whether mod_proxy_http is loaded (mod_proxy_wstunnel can fall back).
static PROXY_HTTP_LOADED: AtomicBool = AtomicBool::new(false);

/// `post_config`: look at mod_proxy_wstunnel (and mod_proxy_http) again.
pub(super) struct CheckWstunnel;

impl hooks::PostConfig for CheckWstunnel {
    const NAME: &'static str = "post_config";

    fn run(_main: Server) -> hooks::Status {
        PROXY_HTTP_LOADED.store(proxy_wstunnel::proxy_http_loaded(), Ordering::Release);
        let state = match proxy_wstunnel::refresh() {
            Found::NotLoaded => NOT_LOADED,
            Found::LayoutVerified => LAYOUT_VERIFIED,
            Found::LayoutUnknown => {
                slog!(
                    None,
                    Level::Info,
                    tags::WSTUNNEL_LAYOUT_UNKNOWN,
                    "mod_proxy_wstunnel's per-directory record does not have the expected \
                     layout; where WSGIReflectAuth is On, upgrades to ws:// and wss:// targets \
                     are refused"
                );
                LAYOUT_UNKNOWN
            }
        };
        WSTUNNEL.store(state, Ordering::Release);
        ffi::HOOK_OK
    }
}

/// Whether mod_proxy_wstunnel would tunnel `r`'s upgrade without looking
/// at the backend's response.
pub(super) fn tunnels_without_looking(r: Request) -> bool {
    let filename = r.filename();
    let target = |scheme: &[u8]| {
        filename
            .get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    if !(target(b"proxy:ws://") || target(b"proxy:wss://")) {
        return false;
    }
    match WSTUNNEL.load(Ordering::Acquire) {
        NOT_LOADED => false,
        _ if !PROXY_HTTP_LOADED.load(Ordering::Acquire) => true,
        // Fail closed: a record that cannot be read counts as tunnelling.
        _ => proxy_wstunnel::falls_back_to_proxy_http(r) != Some(true),
    }
}
