//! libxcrypt's reentrant `crypt_rn(3)`, with its work area (which holds
//! password-derived state) zeroed after use.

use std::ffi::{c_int, CStr};

use crate::ffi;

/// The hash of `phrase` under `setting` (NUL-terminated), or why there is
/// none.
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
