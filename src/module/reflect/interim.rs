//! Interim responses of a proxied backend (docs/identity-reflection.md, ARCHITECTURE trap 19).
//!
//! mod_proxy_http reads a backend's `101 Switching Protocols` (and any other
//! `1xx`) head into `r->headers_out` and sends it at once with
//! `ap_send_interim_response`, straight to the connection: no output filter
//! runs, and `proxy-interim-response` does not apply to `101`
//! (`modules/proxy/mod_proxy_http.c`). The only place an identity header in
//! such a head can be stopped is before mod_proxy_http parses it.
//!
//! So where reflection is on, mod_proxy's `create_req` hook (run for the
//! fake request through which mod_proxy_http reads each backend response)
//! adds the `AUTHNZ_WSGI_REFLECT_BACKEND` input filter to that fake
//! request. mod_proxy_http reads the heads line by line (`AP_MODE_GETLINE`);
//! the filter swallows the identity lines of interim heads and, for a
//! `101`, keeps their values as the request's identity (the `101` is the
//! whole response of a WebSocket request). Final heads pass untouched (the
//! output filter handles them); after the final or `101` head the filter
//! takes itself out of the chain.

use authnz_core::log_tags as tags;
use std::ffi::CStr;

use authnz_core::reflect::{InterimHeadScanner, LineVerdict};

use crate::ffi;
use crate::httpd::hooks;
use crate::httpd::input_filter::{
    add_input_filter, InputBrigade, InputFilter, InputFilterBody, ReadRequest,
};
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::ReflectHeaders;
use crate::module::request_state::RequestState;
use crate::rlog;

use super::{identity_from, reflection, Reflected};

/// Longest line the filter puts together from pieces before it gives up
/// judging it (mod_proxy_http refuses lines over `ResponseFieldSize`,
/// 8 KiB by default, anyway).
const MAX_LINE: usize = 64 * 1024;

/// The filter's state for one backend response.
pub(super) struct BackendHead {
    /// The client request the backend answers.
    client: Request,
    headers: ReflectHeaders,
    scanner: InterimHeadScanner,
}

/// The input filter on a backend response's fake request.
pub(super) struct BackendHeadFilter;

/// Read one whole line from below into `brigade`: `Ok(Some(line))` with the
/// brigade holding exactly it, `Ok(None)` at the end of the input (the
/// brigade holds what there was).
fn read_line(
    filter: InputFilter,
    brigade: InputBrigade,
    how: ReadRequest,
) -> Result<Option<Vec<u8>>, ffi::apr_status_t> {
    let status = filter.read_below(brigade, how);
    if status != 0 {
        return Err(status);
    }
    let mut line = brigade.to_vec()?;
    if line.ends_with(b"\n") {
        return Ok(Some(line));
    }
    if line.is_empty() {
        return Ok(None);
    }
    // A piece of a longer line (or of a line a filter below split): put the
    // line together so it is judged whole.
    brigade.clear();
    while !line.ends_with(b"\n") && line.len() < MAX_LINE {
        let status = filter.read_below(brigade, how);
        let piece = if status == 0 {
            brigade.to_vec()?
        } else {
            Vec::new()
        };
        brigade.clear();
        if piece.is_empty() {
            break;
        }
        line.extend_from_slice(&piece);
    }
    let status = brigade.append(&line);
    if status != 0 {
        return Err(status);
    }
    Ok(Some(line))
}

/// The `101` head has been read: keep its identity for the log phase.
fn keep_switching_identity(head: &BackendHead) {
    let values = head.scanner.switching_values();
    if values.iter().any(|v| !v.is_empty()) {
        rlog!(
            &head.client,
            Level::Debug,
            tags::INTERIM_IDENTITY_TAKEN,
            "took the identity headers out of the 101 Switching Protocols response to {}",
            String::from_utf8_lossy(head.client.uri())
        );
    }
    let identity = identity_from(head.client, &head.headers, &values[0], &values[1]);
    head.client.state::<RequestState>().reflected = Some(Reflected { identity });
}

impl InputFilterBody for BackendHeadFilter {
    const NAME: &'static CStr = c"AUTHNZ_WSGI_REFLECT_BACKEND";
    const FTYPE: ffi::ap_filter_type = ffi::ap_filter_type_AP_FTYPE_PROTOCOL;
    type Context = BackendHead;

    fn on_read(
        filter: InputFilter,
        head: Option<&mut BackendHead>,
        brigade: InputBrigade,
        how: ReadRequest,
    ) -> ffi::apr_status_t {
        let Some(head) = head else {
            return filter.read_below(brigade, how);
        };
        if !how.is_getline() || head.scanner.is_done() {
            return filter.read_below(brigade, how);
        }
        loop {
            let line = match read_line(filter, brigade, how) {
                Ok(Some(line)) => line,
                Ok(None) => return 0,
                Err(status) => return status,
            };
            match head.scanner.line(&line) {
                LineVerdict::Pass => {
                    if head.scanner.is_done() {
                        if head.scanner.switched() {
                            keep_switching_identity(head);
                        }
                        filter.remove();
                    }
                    return 0;
                }
                LineVerdict::Drop => brigade.clear(),
            }
        }
    }
}

/// mod_proxy's `create_req` (optional hook): `r` is the client request,
/// `backend` the fake request its backend's response is read through.
pub(super) struct WatchBackendHead;

impl hooks::ProxyCreateReq for WatchBackendHead {
    const NAME: &'static str = "proxy create_req";
    const ON_PANIC: hooks::Status = ffi::HOOK_SERVER_ERROR;

    fn run(client: Request, backend: Request) -> hooks::Status {
        if let Some(headers) = reflection(client) {
            let scanner = InterimHeadScanner::new(&[&headers.user, &headers.auth_type]);
            add_input_filter::<BackendHeadFilter>(
                backend,
                BackendHead {
                    client,
                    headers,
                    scanner,
                },
            );
        }
        ffi::HOOK_DECLINED
    }
}
