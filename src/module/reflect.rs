//! Identity reflection (docs/identity-reflection.md): an application that does its own login
//! names the user in a response header (`X-Remote-User`, `X-Auth-Type`);
//! Apache logs it as `%u` and the header never reaches the client.
//!
//! - [`request_strip`]: request headers with the configured names (any case,
//!   any `-`/`_` spelling) are removed where reflection is on, once when the
//!   request's configuration is known and again just before its handler
//!   runs, on the request that runs it.
//! - [`response_filter`]: the `AUTHNZ_WSGI_REFLECT` output filter takes the
//!   identity headers out of the response (header tables and trailers)
//!   before anything writes them.
//! - [`interim`]: mod_proxy_http relays a backend's interim responses
//!   (`101 Switching Protocols`) outside the output filters; an input filter
//!   on the backend's response takes the identity lines out of them first;
//!   [`wstunnel`]: upgrades mod_proxy_wstunnel's legacy mode would tunnel
//!   unseen are refused.
//! - [`log_phase`]: sets `r->user` and `r->ap_auth_type` for the log.
//!
//! No Python is involved.

mod interim;
mod log_phase;
mod request_strip;
mod response_filter;
mod wstunnel;

use authnz_core::log_tags as tags;
use authnz_core::reflect::{single_reflected_value, MAX_REFLECTED_LEN};

use crate::httpd::filter::register_output_filter;
use crate::httpd::hooks::{self, Order};
use crate::httpd::input_filter::register_input_filter;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::{DirConfig, ReflectHeaders};
use crate::rlog;

pub use authnz_core::reflect::{Identity, Reflected};

/// Identity reflection's hooks and filters.
pub fn register() {
    hooks::post_perdir_config::<request_strip::StripBeforeChecks>(Order::FIRST);
    // First, so no other insert_filter hook sees the headers either: the
    // request whose handler runs next, in its final location.
    hooks::insert_filter::<request_strip::StripBeforeHandler>(Order::REALLY_FIRST);
    // Which mod_proxy_wstunnel mode a reflecting location would get.
    hooks::post_config::<wstunnel::CheckWstunnel>(Order::MIDDLE);
    // mod_proxy_http runs it for the request each backend response is read
    // through.
    hooks::proxy_create_req::<interim::WatchBackendHead>(Order::MIDDLE);
    // Last, so the filter sits after every other content-set filter
    // (mod_headers' `Header set|always` included) and still before
    // mod_cache's CACHE_SAVE and the protocol filters.
    hooks::insert_filter::<response_filter::InsertFilter>(Order::REALLY_LAST);
    hooks::insert_error_filter::<response_filter::InsertErrorFilter>(Order::REALLY_LAST);
    hooks::log_transaction::<log_phase::ReflectIntoLog>(
        Order::REALLY_FIRST.before(&log_phase::LOG_BEFORE),
    );
    register_output_filter::<response_filter::ReflectFilter>();
    register_input_filter::<interim::BackendHeadFilter>();
}

/// The header names reflection uses where `r`'s configuration turns it on.
fn reflection(r: Request) -> Option<ReflectHeaders> {
    r.dir_config::<DirConfig>().and_then(DirConfig::reflection)
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

/// The one valid value among `values` of response header `name`, or
/// `None` (absent, or invalid: then logged).
fn valid_value(r: Request, name: &str, values: &[&[u8]]) -> Option<Vec<u8>> {
    match single_reflected_value(values) {
        Ok(value) => value.map(<[u8]>::to_vec),
        Err(why) => {
            rlog!(
                &r,
                Level::Warning,
                tags::BAD_REFLECTED_VALUE,
                "dropped response header {name} of {} (value '{}'): {why}; identity reflection \
                 accepts one value of at most {MAX_REFLECTED_LEN} bytes without control characters",
                String::from_utf8_lossy(r.uri()),
                values.first().map_or_else(String::new, |v| preview(v)),
            );
            None
        }
    }
}

/// The identity named by the values of the user and auth-type headers.
fn identity_from(
    r: Request,
    headers: &ReflectHeaders,
    users: &[&[u8]],
    auth_types: &[&[u8]],
) -> Option<Identity> {
    let user = valid_value(r, &headers.user, users);
    let auth_type = valid_value(r, &headers.auth_type, auth_types);
    user.map(|user| Identity { user, auth_type })
}
