//! The log phase of identity reflection: `log_transaction`, ordered before
//! mod_log_config (and mod_lua's log hooks), sets `r->user` and
//! `r->ap_auth_type` on every request of the internal-redirect chain
//! (mod_log_config's `%u` reads the final one, other log hooks get the
//! original one), plus `REMOTE_USER` and `AUTH_TYPE` in the final request's
//! `subprocess_env` for `%{...}e` — unless Apache itself authenticated the
//! request.

use authnz_core::log_tags as tags;
use std::ptr::null;

use authnz_core::reflect::{decide, ReflectDecision};
use authnz_core::user_name_encoding::UserNameEncoding;

use crate::ffi;
use crate::httpd::hook_order::HookOrder;
use crate::httpd::hooks;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::DirConfig;
use crate::module::request_state::RequestState;
use crate::rlog;

use super::response_filter::take_identity;
use super::{reflection, Identity};

/// The identity a request of the redirect chain yields: what its filter
/// (or, for a `101`, its backend-head filter) found, else (a reflecting
/// request whose response was never sent, e.g. replaced by an ErrorDocument
/// after `ProxyErrorOverride`) what its handler left in the unsent headers.
fn identity_of(r: Request) -> Option<Identity> {
    let reflected = r
        .existing_state::<RequestState>()
        .and_then(|s| s.reflected.as_ref().map(|seen| seen.identity.clone()));
    if let Some(identity) = reflected {
        return identity;
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
    // A header value is text in Latin-1 (PEP 3333, RFC 9110) unless it is
    // valid UTF-8: under `WSGIUserNameEncoding utf-8` (where the response
    // came from) the user is that text in UTF-8, as for a login.
    let identity = Identity {
        user: source
            .dir_config::<DirConfig>()
            .map_or(UserNameEncoding::AsSent, DirConfig::user_name_encoding)
            .user_name(&identity.user)
            .into_owned(),
        ..identity
    };
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
                tags::USER_REFLECTED,
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
            tags::APACHE_USER_KEPT,
            "kept user '{}' that Apache authenticated for {}; the response of {} named '{user}'",
            String::from_utf8_lossy(apache_user.as_deref().unwrap_or_default()),
            String::from_utf8_lossy(last.uri()),
            String::from_utf8_lossy(source.uri())
        ),
    }
}

/// `log_transaction`, ordered before mod_log_config: reflect the identity.
pub(super) struct ReflectIntoLog;

impl hooks::RequestHook for ReflectIntoLog {
    const NAME: &'static str = "log_transaction";
    const ON_PANIC: hooks::Status = ffi::HOOK_DECLINED;

    /// `r` is the original request (the one httpd logs).
    fn run(r: Request) -> hooks::Status {
        reflect_into_log(r);
        ffi::HOOK_DECLINED
    }
}

/// Modules whose log hooks must see the reflected user (`aszSucc` of the
/// log hook: it runs before them).
pub(super) static LOG_BEFORE: HookOrder<3> =
    HookOrder([c"mod_log_config.c".as_ptr(), c"mod_lua.c".as_ptr(), null()]);
