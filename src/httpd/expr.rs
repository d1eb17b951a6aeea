//! `ap_expr` string expressions: parsed once at configuration time (as
//! `Require ldap-group` does) and evaluated per request, so `%{...}`
//! variables work in `Require` arguments.

use std::ffi::{c_char, CStr};

use crate::ffi;
use crate::httpd::cmd::Cmd;
use crate::httpd::Request;

/// A parsed string expression, in the configuration pool (which outlives
/// every request evaluating it).
#[derive(Clone, Copy)]
pub struct StringExpr(*const ffi::ap_expr_info_t);

impl StringExpr {
    /// Parse `text` as a string expression; the result lives in the config
    /// pool.
    pub fn parse(cmd: Cmd, text: &CStr) -> Result<StringExpr, String> {
        let mut err: *const c_char = std::ptr::null();
        // SAFETY: `cmd` is the live directive context, `text` NUL-terminated;
        // ap_expr_parse_cmd_mi allocates in cmd->pool and sets `err` on
        // failure.
        let expr = unsafe {
            ffi::ap_expr_parse_cmd_mi(
                cmd.as_ptr(),
                text.as_ptr(),
                ffi::AP_EXPR_FLAG_STRING_RESULT,
                &mut err,
                None,
                crate::httpd::module_record::index(),
            )
        };
        if !err.is_null() {
            // SAFETY: httpd's error message is a C string in cmd->pool.
            return Err(unsafe { CStr::from_ptr(err) }
                .to_string_lossy()
                .into_owned());
        }
        if expr.is_null() {
            return Err("the expression could not be parsed".to_owned());
        }
        Ok(StringExpr(expr))
    }

    /// The expression httpd handed back.
    ///
    /// # Safety
    /// `raw` was made by [`StringExpr::parse`] in a pool that is still live.
    pub unsafe fn from_raw(raw: *const ffi::ap_expr_info_t) -> StringExpr {
        StringExpr(raw)
    }

    pub fn as_ptr(self) -> *const ffi::ap_expr_info_t {
        self.0
    }

    /// Evaluate the expression for `r`.
    pub fn eval(self, r: Request) -> Result<Vec<u8>, String> {
        let mut err: *const c_char = std::ptr::null();
        // SAFETY: `self` is a parsed string expression in a live pool (made
        // by parse or from_raw's contract) and `r` the live request; the
        // result is a C string in r->pool.
        let value = unsafe { ffi::ap_expr_str_exec(r.as_ptr(), self.0, &mut err) };
        if !err.is_null() {
            // SAFETY: httpd's error message is a C string in r->pool.
            return Err(unsafe { CStr::from_ptr(err) }
                .to_string_lossy()
                .into_owned());
        }
        if value.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: NULL-checked C string in r->pool.
        Ok(unsafe { CStr::from_ptr(value) }.to_bytes().to_vec())
    }
}
