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
//! Which mode applies is in mod_proxy_wstunnel's private per-directory
//! record, `{ unsigned fallback_to_proxy_http:1, fallback_to_proxy_http_set:1 }`
//! since 2.4.47. Each configuration cycle a record made by the module's own
//! constructor is checked for the documented default (fallback on, not
//! set: the first word reads 1); only then is the flag read from requests'
//! records. Should the check fail, every upgrade to a `ws://`/`wss://`
//! target in a reflecting location is refused (and the start-up log says
//! so). Without mod_proxy_http, mod_proxy_wstunnel always tunnels.

use authnz_core::log_tags as tags;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::ffi;
use crate::httpd::hooks;
use crate::httpd::log::Level;
use crate::httpd::{Request, Server};
use crate::slog;

/// mod_proxy_wstunnel is not loaded.
const NOT_LOADED: usize = 0;
/// Loaded, but its record does not look as expected.
const LAYOUT_UNKNOWN: usize = 1;

/// [`NOT_LOADED`], [`LAYOUT_UNKNOWN`], or mod_proxy_wstunnel's module record
/// (its address; its record's layout verified this cycle).
static WSTUNNEL: AtomicUsize = AtomicUsize::new(NOT_LOADED);
/// Whether mod_proxy_http is loaded (mod_proxy_wstunnel can fall back).
static PROXY_HTTP_LOADED: AtomicBool = AtomicBool::new(false);

/// The first word of mod_proxy_wstunnel's record as made by its constructor:
/// `fallback_to_proxy_http` (bit 0) on, `fallback_to_proxy_http_set` off.
const DEFAULT_RECORD_WORD: u32 = 1;

fn loaded(name: &std::ffi::CStr) -> Option<&'static ffi::module> {
    // SAFETY: a lookup in httpd's list of loaded modules; the result is NULL
    // or the module's record, which lives as long as the configuration.
    unsafe { ffi::ap_find_linked_module(name.as_ptr()).as_ref() }
}

/// The first word of a record made by mod_proxy_wstunnel's constructor.
fn default_record_word(module: &ffi::module) -> Option<u32> {
    let create = module.create_dir_config?;
    let mut pool: *mut ffi::apr_pool_t = std::ptr::null_mut();
    // SAFETY: creates a root pool (APR is initialised by httpd); checked below.
    let status = unsafe {
        ffi::apr_pool_create_ex(&mut pool, std::ptr::null_mut(), None, std::ptr::null_mut())
    };
    if status != 0 || pool.is_null() {
        return None;
    }
    // SAFETY: the module's own constructor, called as httpd calls it; the
    // record (at least one word in every release that has the directive)
    // is read before the pool that holds it is destroyed.
    let word = unsafe {
        create(pool, std::ptr::null_mut())
            .cast::<u32>()
            .as_ref()
            .copied()
    };
    // SAFETY: the pool was created above and nothing refers to it any more.
    unsafe { ffi::apr_pool_destroy(pool) };
    word
}

/// `post_config`: look at mod_proxy_wstunnel (and mod_proxy_http) again.
pub(super) struct CheckWstunnel;

impl hooks::PostConfig for CheckWstunnel {
    const NAME: &'static str = "post_config";

    fn run(_main: Server) -> hooks::Status {
        PROXY_HTTP_LOADED.store(loaded(c"mod_proxy_http.c").is_some(), Ordering::Release);
        let state = match loaded(c"mod_proxy_wstunnel.c") {
            None => NOT_LOADED,
            Some(module) if default_record_word(module) == Some(DEFAULT_RECORD_WORD) => {
                module as *const ffi::module as usize
            }
            Some(_) => {
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
        LAYOUT_UNKNOWN => true,
        module => {
            if !PROXY_HTTP_LOADED.load(Ordering::Acquire) {
                return true;
            }
            // SAFETY: the record of mod_proxy_wstunnel, loaded in this
            // configuration (its address is taken again every cycle).
            let record =
                unsafe { r.module_dir_config_raw(module as *const ffi::module) }.cast::<u32>();
            // SAFETY: the slot holds mod_proxy_wstunnel's merged record for
            // this request (or NULL), whose layout was verified this cycle.
            unsafe { record.as_ref() }.is_none_or(|word| word & 1 == 0)
        }
    }
}
