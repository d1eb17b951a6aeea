//! `WSGIUserNameEncoding utf-8` for the `wsgi` authn provider
//! (docs/directives.md#wsgiusernameencoding): after `check_password` or
//! `get_realm_hash` answered for a name the client did not send as UTF-8,
//! Apache's user (`r->user`) becomes the UTF-8 encoding of the name as
//! Python saw it; such an answer is not handed to mod_authn_socache, which
//! looks up by the bytes the client sent and would grant them unchanged.
//! (The in-process cache keys by the decoded text there: `authn`,
//! `authz_group`; reflection re-encodes a reflected name: `reflect`.)

use authnz_core::log_tags as tags;
use authnz_core::user_name_encoding::UserNameEncoding;

use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::socache;
use crate::rlog;

/// Under `WSGIUserNameEncoding utf-8`, make Apache's user the UTF-8
/// encoding of the name as Python saw it when the client sent `user` in
/// another encoding. Whether it did: then mod_authn_socache, which looks up
/// by the bytes the client sent, must not be handed the answer.
pub fn re_encode_user(r: Request, encoding: UserNameEncoding, user: &[u8]) -> bool {
    let name = encoding.user_name(user);
    if name.as_ref() == user {
        return false;
    }
    rlog!(
        &r,
        Level::Debug,
        tags::USER_NAME_RE_ENCODED,
        "user name '{}' was not sent as UTF-8; Apache's user is its UTF-8 encoding \
         (WSGIUserNameEncoding utf-8)",
        user.escape_ascii()
    );
    r.set_user(&name);
    true
}

/// The debug line of an answer kept from mod_authn_socache because the
/// user name was re-encoded (where mod_authn_socache caches for `wsgi`).
pub fn log_not_socached(r: Request, what: &str, user: &[u8]) {
    if !socache::socache_stores_here(r) {
        return;
    }
    rlog!(
        &r,
        Level::Debug,
        tags::RE_ENCODED_NOT_SOCACHED,
        "{what} of '{}' not handed to mod_authn_socache: it would answer it later under the \
         bytes the client sent, not the UTF-8 name (WSGIUserNameEncoding utf-8)",
        user.escape_ascii()
    );
}
