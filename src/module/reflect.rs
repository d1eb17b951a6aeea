//! Identity reflection (SPEC §7): an application that does its own login
//! names the user in a response header (`X-Remote-User`, `X-Auth-Type`);
//! Apache logs it as `%u` and the header never reaches the client.
//!
//! - `post_perdir_config`: where reflection is on, request headers with the
//!   configured names (any case, any `-`/`_` spelling) are removed before
//!   anything else (authn, mod_setenvif, the handler, mod_proxy, CGI) sees
//!   them, so an application that echoes request headers cannot be used to
//!   spoof an identity.
//! - `insert_filter` / `insert_error_filter` (really last): the
//!   `AUTHNZ_WSGI_REFLECT` output filter, a content-set filter like
//!   `mod_headers.c`'s FIXUP_HEADERS_OUT/ERR and added after them, so it runs
//!   after `Header set|always`, before mod_cache's CACHE_SAVE (one type
//!   later) and before httpd's HTTP_HEADER filter (and mod_http2's
//!   H2_C2_RESPONSE_OUT), which write the headers. It takes the headers out
//!   of `headers_out` and `err_headers_out` and keeps their validated values
//!   in the request's state. It stays in the chain and checks every
//!   brigade: when a filter after it buffers, the headers are written later
//!   than our first call, and a handler may still add one in between.
//! - `log_transaction`, before mod_log_config (and mod_lua's log hooks):
//!   sets `r->user` and `r->ap_auth_type` on every request of the
//!   internal-redirect chain (mod_log_config's `%u` reads the final one,
//!   other log hooks get the original one), plus `REMOTE_USER` and
//!   `AUTH_TYPE` in the final request's `subprocess_env` for `%{...}e` —
//!   unless Apache itself authenticated the request.
//!
//! No Python is involved.

use std::ffi::{c_char, CStr};
use std::ptr::null;
use std::sync::Arc;

use authnz_core::reflect::{
    decide, request_header_matches, single_reflected_value, ReflectDecision,
};

use crate::apr::Table;
use crate::ffi;
use crate::httpd::filter::{add_output_filter, Brigade, OutputFilter, OutputFilterBody};
use crate::httpd::guard::guard;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::{DirConfig, ReflectHeaders};
use crate::module::request_state::RequestState;
use crate::rlog;

/// An identity taken from a response: validated, so it holds no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Vec<u8>,
    pub auth_type: Option<Vec<u8>>,
}

/// What the filter found in one request's response.
#[derive(Debug, Default)]
pub struct Reflected {
    /// `None`: the response named nobody (or only an invalid value).
    pub identity: Option<Identity>,
}

/// What the filter of one request does, decided when it is inserted.
struct FilterPlan {
    /// The headers to read: this request's location reflects.
    reflect: Option<ReflectHeaders>,
    /// Every header name to remove from the response: those of this
    /// request's location and of any earlier request of the redirect chain
    /// that reflects (an ErrorDocument shares `err_headers_out` with the
    /// request that failed).
    strip: Vec<Arc<str>>,
}

fn reflection(r: Request) -> Option<ReflectHeaders> {
    r.dir_config::<DirConfig>().and_then(DirConfig::reflection)
}

fn plan_for(r: Request) -> Option<FilterPlan> {
    let reflect = reflection(r);
    let mut strip: Vec<Arc<str>> = Vec::new();
    let mut add = |headers: &ReflectHeaders| {
        for name in [&headers.user, &headers.auth_type] {
            if !strip.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                strip.push(name.clone());
            }
        }
    };
    if let Some(headers) = &reflect {
        add(headers);
    }
    let mut earlier = r.prev();
    while let Some(prev) = earlier {
        if let Some(headers) = reflection(prev) {
            add(&headers);
        }
        earlier = prev.prev();
    }
    (!strip.is_empty()).then_some(FilterPlan { reflect, strip })
}

/// Printable preview of a rejected value for the error log.
fn preview(value: &[u8]) -> String {
    let shown = &value[..value.len().min(64)];
    let mut text = shown.escape_ascii().to_string();
    if shown.len() < value.len() {
        text.push_str("...");
    }
    text
}

/// The one valid value of response header `name` in `tables`, or `None`
/// (absent, or invalid: then logged).
fn header_value(r: Request, tables: &[Table], name: &str) -> Option<Vec<u8>> {
    let values: Vec<&[u8]> = tables
        .iter()
        .flat_map(|t| t.get_all(name.as_bytes()))
        .collect();
    match single_reflected_value(&values) {
        Ok(value) => value.map(<[u8]>::to_vec),
        Err(why) => {
            rlog!(
                &r,
                Level::Warning,
                50,
                "dropped response header {name} of {} (value '{}'): {why}; identity reflection \
                 accepts one value of at most {} bytes without control characters",
                String::from_utf8_lossy(r.uri()),
                values.first().map_or_else(String::new, |v| preview(v)),
                authnz_core::reflect::MAX_REFLECTED_LEN
            );
            None
        }
    }
}

/// Read (when `reflect` is given) and remove the identity headers of `r`'s
/// response.
fn take_identity(
    r: Request,
    reflect: Option<&ReflectHeaders>,
    strip: &[Arc<str>],
) -> Option<Identity> {
    let tables = [r.headers_out(), r.err_headers_out()];
    let identity = reflect.and_then(|headers| {
        let user = header_value(r, &tables, &headers.user);
        let auth_type = header_value(r, &tables, &headers.auth_type);
        user.map(|user| Identity { user, auth_type })
    });
    for table in tables {
        for name in strip {
            table.unset(name.as_bytes());
        }
        if let Some(headers) = reflect {
            table.unset(headers.user.as_bytes());
            table.unset(headers.auth_type.as_bytes());
        }
    }
    identity
}

/// The output filter.
pub struct ReflectFilter;

impl OutputFilterBody for ReflectFilter {
    const NAME: &'static CStr = c"AUTHNZ_WSGI_REFLECT";
    const FTYPE: ffi::ap_filter_type = ffi::ap_filter_type_AP_FTYPE_CONTENT_SET;

    fn on_brigade(filter: OutputFilter, brigade: Brigade) -> ffi::apr_status_t {
        if let (Some(r), Some(plan)) = (filter.request(), filter.context::<FilterPlan>()) {
            let found = take_identity(r, plan.reflect.as_ref(), &plan.strip);
            let state = &mut r.state::<RequestState>().reflected;
            match (state.as_mut(), found) {
                (Some(seen), Some(identity)) => seen.identity = Some(identity),
                (Some(_), None) => {}
                (None, identity) => *state = Some(Reflected { identity }),
            }
        }
        filter.pass(brigade)
    }
}

fn insert_filter(r: Request) {
    if r.is_subrequest() {
        // A subrequest's response headers are never sent, nor logged.
        return;
    }
    if let Some(plan) = plan_for(r) {
        add_output_filter::<ReflectFilter, _>(r, plan);
    }
}

/// `insert_filter`: the filter for a normal response.
pub unsafe extern "C" fn insert_output_filter(r: *mut ffi::request_rec) {
    guard("insert_filter", (), || {
        // SAFETY: httpd passes the live request.
        if let Some(r) = unsafe { Request::from_raw(r) } {
            insert_filter(r);
        }
    })
}

/// `insert_error_filter`: `ap_send_error_response` drops the content
/// filters and asks again; the filter must see error responses too.
pub unsafe extern "C" fn insert_error_filter(r: *mut ffi::request_rec) {
    guard("insert_error_filter", (), || {
        // SAFETY: httpd passes the live request.
        if let Some(r) = unsafe { Request::from_raw(r) } {
            insert_filter(r);
        }
    })
}

/// `post_perdir_config`: remove spoofed identity headers from the request.
pub unsafe extern "C" fn strip_request_headers(r: *mut ffi::request_rec) -> i32 {
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

/// The identity a request of the redirect chain yields: what its filter
/// found, else (a reflecting request whose response was never sent, e.g.
/// replaced by an ErrorDocument after `ProxyErrorOverride`) what its
/// handler left in the unsent headers.
fn identity_of(r: Request) -> Option<Identity> {
    if let Some(reflected) = r
        .existing_state::<RequestState>()
        .and_then(|s| s.reflected.as_ref())
    {
        return reflected.identity.clone();
    }
    let headers = reflection(r)?;
    take_identity(r, Some(&headers), &[])
}

fn reflect_into_log(r: Request) {
    let chain = r.redirect_chain();
    let Some((source, identity)) = chain
        .iter()
        .rev()
        .find_map(|&rr| identity_of(rr).map(|identity| (rr, identity)))
    else {
        return;
    };
    let last = chain[chain.len() - 1];
    let apache_user = chain
        .iter()
        .rev()
        .find_map(|rr| rr.user().map(<[u8]>::to_vec));
    let user = String::from_utf8_lossy(&identity.user);
    match decide(apache_user.as_deref(), &identity.user) {
        ReflectDecision::Reflect => {
            for rr in &chain {
                rr.set_user(&identity.user);
                if let Some(auth_type) = &identity.auth_type {
                    rr.set_auth_type(auth_type);
                }
            }
            let env = last.subprocess_env();
            env.set(b"REMOTE_USER", &identity.user);
            if let Some(auth_type) = &identity.auth_type {
                env.set(b"AUTH_TYPE", auth_type);
            }
            rlog!(
                &last,
                Level::Debug,
                53,
                "reflected user '{user}' (auth type '{}') from the response of {}",
                identity
                    .auth_type
                    .as_deref()
                    .map_or_else(|| "-".into(), String::from_utf8_lossy),
                String::from_utf8_lossy(source.uri())
            );
        }
        ReflectDecision::KeepSame => {}
        ReflectDecision::KeepDifferent => rlog!(
            &last,
            Level::Debug,
            51,
            "kept user '{}' that Apache authenticated for {}; the response of {} named '{user}'",
            String::from_utf8_lossy(apache_user.as_deref().unwrap_or_default()),
            String::from_utf8_lossy(last.uri()),
            String::from_utf8_lossy(source.uri())
        ),
    }
}

/// `log_transaction`, ordered before mod_log_config: reflect the identity.
pub unsafe extern "C" fn log_transaction(r: *mut ffi::request_rec) -> i32 {
    guard("log_transaction", ffi::HOOK_DECLINED, || {
        // SAFETY: httpd passes the live (original) request.
        if let Some(r) = unsafe { Request::from_raw(r) } {
            reflect_into_log(r);
        }
        ffi::HOOK_DECLINED
    })
}

/// `aszSucc` for the log hook: run before the modules that log.
#[repr(transparent)]
pub struct HookOrder(pub [*const c_char; 3]);
// SAFETY: the array is immutable and points to static C strings.
unsafe impl Sync for HookOrder {}

/// Modules whose log hooks must see the reflected user.
pub static LOG_BEFORE: HookOrder =
    HookOrder([c"mod_log_config.c".as_ptr(), c"mod_lua.c".as_ptr(), null()]);
