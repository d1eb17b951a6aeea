//! The `AUTHNZ_WSGI_REFLECT` output filter: takes the identity headers out
//! of a response before anything writes them, and keeps their validated
//! values in the request's state for the log phase.
//!
//! It is a content-set filter like `mod_headers.c`'s FIXUP_HEADERS_OUT/ERR,
//! inserted (`insert_filter` / `insert_error_filter`, really last) after
//! them, so it runs after `Header set|always`, before mod_cache's
//! CACHE_SAVE (one type later) and before httpd's HTTP_HEADER filter (and
//! mod_http2's H2_C2_RESPONSE_OUT), which write the headers. It stays in the
//! chain and checks every brigade: when a filter after it buffers, the
//! headers are written later than its first call, and a handler may still
//! add one in between; trailers (`r->trailers_out`, which mod_http2 sends
//! when the end of the response passes) are filled as the last brigade of a
//! proxied chunked body arrives.

use authnz_core::log_tags as tags;
use std::ffi::CStr;
use std::sync::Arc;

use crate::ffi;
use crate::httpd::filter::{add_output_filter, Brigade, OutputFilter, OutputFilterBody};
use crate::httpd::hooks;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::ReflectHeaders;
use crate::module::request_state::RequestState;
use crate::rlog;

use super::{identity_from, reflection, Identity, Reflected};

/// What the filter of one request does, decided when it is inserted.
pub(super) struct FilterPlan {
    /// The headers to read: this request's location reflects.
    reflect: Option<ReflectHeaders>,
    /// Every header name to remove from the response: those of this
    /// request's location and of any earlier request of the redirect chain
    /// that reflects (an ErrorDocument shares `err_headers_out` with the
    /// request that failed).
    strip: Vec<Arc<str>>,
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

/// Read (when `reflect` is given) and remove the identity headers of `r`'s
/// response header tables.
pub(super) fn take_identity(
    r: Request,
    reflect: Option<&ReflectHeaders>,
    strip: &[Arc<str>],
) -> Option<Identity> {
    let tables = [r.headers_out(), r.err_headers_out()];
    let identity = reflect.and_then(|headers| {
        let values = |name: &str| -> Vec<&[u8]> {
            tables
                .iter()
                .flat_map(|t| t.get_all(name.as_bytes()))
                .collect()
        };
        identity_from(
            r,
            headers,
            &values(&headers.user),
            &values(&headers.auth_type),
        )
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

/// Remove the identity names from the response's trailers. A trailer never
/// names the user: it arrives after the header section the identity belongs
/// to (RFC 9110 §6.5.1: trailer fields are not merged into the header
/// section unless the field's definition allows it), so it is dropped with
/// a warning.
fn strip_trailers(r: Request, strip: &[Arc<str>]) {
    let Some(trailers) = r.trailers_out() else {
        return;
    };
    for name in strip {
        let values = trailers.get_all(name.as_bytes());
        if values.is_empty() {
            continue;
        }
        rlog!(
            &r,
            Level::Warning,
            tags::TRAILER_DROPPED,
            "dropped trailer field {name} of {} ({} value(s)): identity reflection reads the \
             response header section only, never trailers",
            String::from_utf8_lossy(r.uri()),
            values.len()
        );
        trailers.unset(name.as_bytes());
    }
}

/// The output filter.
pub(super) struct ReflectFilter;

impl OutputFilterBody for ReflectFilter {
    const NAME: &'static CStr = c"AUTHNZ_WSGI_REFLECT";
    const FTYPE: ffi::ap_filter_type = ffi::ap_filter_type_AP_FTYPE_CONTENT_SET;
    type Context = FilterPlan;

    fn on_brigade(
        filter: OutputFilter,
        plan: Option<&FilterPlan>,
        brigade: Brigade,
    ) -> ffi::apr_status_t {
        if let (Some(r), Some(plan)) = (filter.request(), plan) {
            let found = take_identity(r, plan.reflect.as_ref(), &plan.strip);
            strip_trailers(r, &plan.strip);
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
        add_output_filter::<ReflectFilter>(r, plan);
    }
}

/// `insert_filter`: the filter for a normal response.
pub(super) struct InsertFilter;

impl hooks::RequestAction for InsertFilter {
    const NAME: &'static str = "insert_filter";

    fn run(r: Request) {
        insert_filter(r);
    }
}

/// `insert_error_filter`: `ap_send_error_response` drops the content
/// filters and asks again; the filter must see error responses too.
pub(super) struct InsertErrorFilter;

impl hooks::RequestAction for InsertErrorFilter {
    const NAME: &'static str = "insert_error_filter";

    fn run(r: Request) {
        insert_filter(r);
    }
}
