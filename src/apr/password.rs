//! Password hashes as APR checks them (`apr_md5.h`): checking a password
//! against a stored entry, making a bcrypt entry, and the platform's
//! `crypt(3)` (libxcrypt's reentrant `crypt_rn`), which
//! `apr_password_validate` hands the schemes it does not know itself.

use std::ffi::{c_int, CStr};

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

/// `crypt(3)`: the hash of `phrase` under `setting` (NUL-terminated), or
/// why there is none. The work area, which holds password-derived state,
/// is zeroed after use.
pub fn crypt(phrase: &CStr, setting: &CStr) -> Result<Vec<u8>, String> {
    let mut work = vec![0u8; std::mem::size_of::<ffi::crypt_data>()];
    let size = c_int::try_from(work.len()).map_err(|_| "crypt_data too large".to_owned())?;
    // SAFETY: phrase and setting are NUL-terminated; `work` is a writable
    // buffer of `size` bytes, at least a struct crypt_data as crypt_rn
    // requires. The result is NULL or a NUL-terminated string inside `work`.
    let hashed = unsafe {
        ffi::crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            work.as_mut_ptr().cast(),
            size,
        )
    };
    // SAFETY: checked for NULL; points into `work`, still alive.
    let result = unsafe {
        hashed
            .as_ref()
            .map(|h| CStr::from_ptr(h).to_bytes_with_nul().to_vec())
    };
    let error = std::io::Error::last_os_error();
    work.fill(0);
    std::hint::black_box(&work);
    result.ok_or_else(|| format!("crypt(3) failed ({error})"))
}
