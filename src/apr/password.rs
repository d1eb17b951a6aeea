//! APR's password hashes (`apr_md5.h`): checking a password against a
//! stored entry, and making a bcrypt entry.

use std::ffi::CStr;

use crate::ffi;

/// Whether `password` matches `entry` (any scheme APR knows), as
/// mod_authn_socache and mod_authn_file check it.
pub fn validate(password: &CStr, entry: &CStr) -> bool {
    // SAFETY: both arguments are NUL-terminated strings.
    unsafe { ffi::apr_password_validate(password.as_ptr(), entry.as_ptr()) == 0 }
}

/// A `$2y$` entry of `password` at `cost` with `salt` (at least 16 bytes),
/// NUL-terminated.
pub fn bcrypt(password: &CStr, cost: u32, salt: &[u8]) -> Result<Vec<u8>, String> {
    const OUT_LEN: usize = 64; // `$2y$NN$` + 53 characters + NUL; APR requires 61
    let mut out = vec![0u8; OUT_LEN];
    // SAFETY: password is NUL-terminated; salt and out are buffers of the
    // lengths passed; apr_bcrypt_encode writes a NUL-terminated string of at
    // most 61 bytes into `out`.
    let status = unsafe {
        ffi::apr_bcrypt_encode(
            password.as_ptr(),
            cost,
            salt.as_ptr(),
            salt.len() as ffi::apr_size_t,
            out.as_mut_ptr().cast(),
            OUT_LEN as ffi::apr_size_t,
        )
    };
    if status != 0 {
        return Err(format!("apr_bcrypt_encode failed ({status})"));
    }
    match out.iter().position(|&b| b == 0) {
        Some(end) => {
            out.truncate(end + 1);
            Ok(out)
        }
        None => Err("apr_bcrypt_encode wrote no terminated hash".to_owned()),
    }
}
