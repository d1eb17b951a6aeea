//! httpd's auth provider registry (`mod_auth.h`): authn providers
//! (`check_password`, `get_realm_hash`) and authz providers
//! (`check_authorization`, `parse_require_line`). A concern writes a
//! provider's body as a trait implementation on a type of its own; the
//! provider record with its `extern "C"` entry points is generic here
//! ([`authn_record`], [`authz_record`]): they turn httpd's raw arguments into
//! safe ones and run the body under the panic boundary, so a concern holds
//! no raw pointer and no `unsafe`. (The pattern of `hooks.rs`.)

use std::ffi::{c_char, c_void, CStr};
use std::ptr::null;

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::cmd::Cmd;
use crate::httpd::expr::StringExpr;
use crate::httpd::guard::guard;
use crate::httpd::Request;

/// What an authn provider answers (`authn_status`).
pub type AuthnStatus = ffi::authn_status;

/// What an authz provider answers (`authz_status`).
pub type AuthzStatus = ffi::authz_status;

/// An authn provider: Basic (and mod_auth_form) ask `check_password`,
/// Digest and `AuthBasicUseDigestAlgorithm MD5` ask `get_realm_hash`.
pub trait AuthnProvider {
    /// Names the provider in the log line of a panic.
    const NAME: &'static str;
    fn check_password(r: Request, user: &CStr, password: &CStr) -> AuthnStatus;
    /// `Ok` with the hash copied into the request pool (see
    /// [`RealmHash`]), or the status to answer instead.
    fn get_realm_hash(r: Request, user: &CStr, realm: &CStr) -> Result<RealmHash, AuthnStatus>;
}

/// A realm hash copied into a request's pool, as `get_realm_hash` hands it
/// to httpd.
#[derive(Clone, Copy)]
pub struct RealmHash(*const c_char);

impl RealmHash {
    /// Copy `hash` into `r`'s pool.
    pub fn copy_into(r: Request, hash: &[u8]) -> RealmHash {
        RealmHash(r.pool().strdup(hash))
    }

    /// The copy, alive as long as the request.
    pub fn as_c_str(&self) -> &CStr {
        // SAFETY: made by copy_into: a NUL-terminated copy in a request
        // pool, which outlives every use during the request.
        unsafe { CStr::from_ptr(self.0) }
    }
}

/// The value of a `Require` line that its provider parsed at configuration
/// time: nothing, or an `ap_expr` string expression.
#[derive(Clone, Copy)]
pub enum ParsedLine {
    Nothing,
    Expr(StringExpr),
}

/// An authz provider: `Require <name> <arguments>`.
pub trait AuthzProvider {
    /// Names the provider in the log line of a panic.
    const NAME: &'static str;
    /// What httpd reports when parsing panics.
    const PARSE_PANIC: &'static CStr;
    /// Parse the arguments once, at configuration time; `Err` is the
    /// message httpd reports for the line.
    fn parse(cmd: Cmd, arguments: &CStr) -> Result<ParsedLine, String>;
    /// Decide for `r`, with what `parse` returned for this line.
    fn check(r: Request, parsed: ParsedLine) -> AuthzStatus;
}

/// The provider record of `P`.
pub const fn authn_record<P: AuthnProvider>() -> ffi::authn_provider {
    ffi::authn_provider {
        check_password: Some(check_password_entry::<P>),
        get_realm_hash: Some(get_realm_hash_entry::<P>),
    }
}

/// The provider record of `P`.
pub const fn authz_record<P: AuthzProvider>() -> ffi::authz_provider {
    ffi::authz_provider {
        check_authorization: Some(check_authorization_entry::<P>),
        parse_require_line: Some(parse_require_line_entry::<P>),
    }
}

/// One provider record and the name it is registered under.
#[derive(Clone, Copy)]
pub enum Provider {
    Authn(&'static CStr, &'static ffi::authn_provider),
    Authz(&'static CStr, &'static ffi::authz_provider),
}

/// How a provider is registered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// In `register_hooks`: counted by httpd as an `AP_AUTH_INTERNAL_PER_CONF`
    /// provider.
    Counted,
    /// Again, replacing another module's provider of the same name (a later
    /// registration of a name wins); not counted a second time.
    Replacing,
}

/// Register `provider`.
pub fn register(pool: Pool, provider: Provider, how: Registration) {
    let (group, version, name, record) = match provider {
        Provider::Authn(name, record) => (
            ffi::AUTHN_PROVIDER_GROUP.as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr(),
            name,
            record as *const ffi::authn_provider as *const c_void,
        ),
        Provider::Authz(name, record) => (
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr(),
            name,
            record as *const ffi::authz_provider as *const c_void,
        ),
    };
    let (group, version) = (group.cast(), version.cast());
    // SAFETY: static C strings and a static provider record; httpd keeps the
    // pointers for the life of the configuration.
    unsafe {
        match how {
            Registration::Counted => ffi::ap_register_auth_provider(
                pool.as_ptr(),
                group,
                name.as_ptr(),
                version,
                record,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            ),
            Registration::Replacing => {
                ffi::ap_register_provider(pool.as_ptr(), group, name.as_ptr(), version, record)
            }
        }
    };
}

/// A C string httpd passed, or `None` for NULL.
///
/// # Safety
/// `text` is NULL or NUL-terminated and alive for the call.
unsafe fn c_str<'a>(text: *const c_char) -> Option<&'a CStr> {
    // SAFETY: the caller's contract.
    (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) })
}

unsafe extern "C" fn check_password_entry<P: AuthnProvider>(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> AuthnStatus {
    guard(P::NAME, ffi::authn_status_AUTH_GENERAL_ERROR, || {
        // SAFETY: httpd passes the live request and NUL-terminated strings
        // alive for the call.
        let args = unsafe { (Request::from_raw(r), c_str(user), c_str(password)) };
        match args {
            (Some(r), Some(user), Some(password)) => P::check_password(r, user, password),
            _ => ffi::authn_status_AUTH_GENERAL_ERROR,
        }
    })
}

unsafe extern "C" fn get_realm_hash_entry<P: AuthnProvider>(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> AuthnStatus {
    guard(P::NAME, ffi::authn_status_AUTH_GENERAL_ERROR, || {
        // SAFETY: httpd passes the live request and NUL-terminated strings
        // alive for the call.
        let args = unsafe { (Request::from_raw(r), c_str(user), c_str(realm)) };
        let (Some(r), Some(user), Some(realm), false) = (args.0, args.1, args.2, rethash.is_null())
        else {
            return ffi::authn_status_AUTH_GENERAL_ERROR;
        };
        match P::get_realm_hash(r, user, realm) {
            Ok(hash) => {
                // SAFETY: rethash is httpd's non-NULL out-parameter; the hash
                // lives in the request pool (RealmHash::copy_into).
                unsafe { *rethash = hash.0.cast_mut() };
                ffi::authn_status_AUTH_USER_FOUND
            }
            Err(status) => status,
        }
    })
}

unsafe extern "C" fn check_authorization_entry<P: AuthzProvider>(
    r: *mut ffi::request_rec,
    _require_line: *const c_char,
    parsed: *const c_void,
) -> AuthzStatus {
    guard(P::NAME, ffi::authz_status_AUTHZ_GENERAL_ERROR, || {
        // SAFETY: httpd passes the live request.
        let Some(r) = (unsafe { Request::from_raw(r) }) else {
            return ffi::authz_status_AUTHZ_GENERAL_ERROR;
        };
        let parsed = if parsed.is_null() {
            ParsedLine::Nothing
        } else {
            // SAFETY: httpd hands back what parse_require_line_entry::<P>
            // stored for this line: a StringExpr's expression, in the
            // configuration pool, which outlives every request.
            ParsedLine::Expr(unsafe { StringExpr::from_raw(parsed.cast()) })
        };
        P::check(r, parsed)
    })
}

unsafe extern "C" fn parse_require_line_entry<P: AuthzProvider>(
    cmd: *mut ffi::cmd_parms,
    require_line: *const c_char,
    parsed: *mut *const c_void,
) -> *const c_char {
    guard(P::NAME, P::PARSE_PANIC.as_ptr(), || {
        // SAFETY: httpd passes the live directive context and NULL or the
        // NUL-terminated argument string.
        let (Some(cmd), arguments) = (unsafe { (Cmd::from_raw(cmd), c_str(require_line)) }) else {
            return P::PARSE_PANIC.as_ptr();
        };
        match P::parse(cmd, arguments.unwrap_or(c"")) {
            Ok(ParsedLine::Nothing) => null(),
            Ok(ParsedLine::Expr(expr)) if !parsed.is_null() => {
                // SAFETY: `parsed` is httpd's non-NULL out-parameter for
                // this line.
                unsafe { *parsed = expr.as_ptr().cast() };
                null()
            }
            Ok(ParsedLine::Expr(_)) => P::PARSE_PANIC.as_ptr(),
            Err(message) => cmd.pool().strdup(message.as_bytes()),
        }
    })
}
