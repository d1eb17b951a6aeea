//! `ap_expr` string expressions: parsed once at configuration time (as
//! `Require ldap-group` does) and evaluated per request, so `%{...}`
//! variables work in `Require` arguments.

use std::ffi::{c_char, c_void, CStr};

use crate::ffi;
use crate::httpd::cmd::Cmd;
use crate::httpd::Request;

/// Parse `text` as a string expression; the result lives in the config pool.
pub fn parse_string_expr(cmd: Cmd, text: &CStr) -> Result<*const c_void, String> {
    let mut err: *const c_char = std::ptr::null();
    // SAFETY: `cmd` is the live directive context, `text` NUL-terminated;
    // ap_expr_parse_cmd_mi allocates in cmd->pool and sets `err` on failure.
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
    Ok(expr as *const c_void)
}

/// Evaluate an expression made by [`parse_string_expr`] for `r`.
///
/// # Safety
/// `expr` must come from [`parse_string_expr`] in a pool that is still live.
pub unsafe fn eval_string_expr(r: Request, expr: *const c_void) -> Result<Vec<u8>, String> {
    let mut err: *const c_char = std::ptr::null();
    // SAFETY: `expr` is a parsed string expression (contract above) and `r`
    // the live request; the result is a C string in r->pool.
    let value = unsafe { ffi::ap_expr_str_exec(r.as_ptr(), expr.cast(), &mut err) };
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
