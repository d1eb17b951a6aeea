//! The salted hash a granted Basic password is handed to mod_authn_socache
//! as (docs/how-it-runs.md#registration-with-httpd), in the scheme `WSGISocacheHash` chose
//! (`authnz_core::basic_entry_hash`): `$sha1$` made by the platform's
//! `crypt(3)`, or APR's own bcrypt. mod_authn_socache later checks the entry
//! with `apr_password_validate`, which hands `$sha1$` to the same
//! `crypt(3)`; whether that works on this platform is checked once, with a
//! hash made here and validated there, before `$sha1$` is ever stored.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::OnceLock;

use authnz_core::basic_entry_hash::{
    sha1crypt_setting, BasicEntryHash, BCRYPT_COST, SHA1CRYPT_SALT_BYTES,
};

use crate::ffi;
use crate::module::cache::random_bytes;

/// A NUL-terminated hash, zeroed when dropped.
pub struct Entry(Vec<u8>);

impl Entry {
    pub fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// The scheme entries are made with: the configured one, except that
/// `$sha1$` falls back to bcrypt where this platform cannot validate it.
pub fn effective_scheme(configured: Option<BasicEntryHash>) -> BasicEntryHash {
    match configured.unwrap_or(BasicEntryHash::Sha1Crypt) {
        BasicEntryHash::Sha1Crypt if !sha1crypt_supported() => BasicEntryHash::Bcrypt,
        scheme => scheme,
    }
}

/// Whether `apr_password_validate` accepts a `$sha1$` hash made by
/// [`sha1crypt`] for the right password and refuses a wrong one (libxcrypt
/// can be built without it). Checked once per process.
pub fn sha1crypt_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(entry) = sha1crypt(c"self-test password") else {
            return false;
        };
        let validates = |password: &CStr| {
            // SAFETY: both arguments are NUL-terminated strings.
            unsafe { ffi::apr_password_validate(password.as_ptr(), entry.as_ptr()) == 0 }
        };
        validates(c"self-test password") && !validates(c"self-test passwore")
    })
}

/// The entry for `password` in `scheme`, or why none could be made.
pub fn make(scheme: BasicEntryHash, password: &CStr) -> Result<Entry, String> {
    match scheme {
        BasicEntryHash::Sha1Crypt => sha1crypt(password),
        BasicEntryHash::Bcrypt => bcrypt(password),
    }
}

fn salt<const N: usize>() -> Result<[u8; N], String> {
    let mut salt = [0u8; N];
    if random_bytes(&mut salt) {
        Ok(salt)
    } else {
        Err("no random salt (getrandom failed)".to_owned())
    }
}

/// `$sha1$ROUNDS$SALT$HASH` through libxcrypt's `crypt_rn`.
fn sha1crypt(password: &CStr) -> Result<Entry, String> {
    let setting = CString::new(sha1crypt_setting(&salt::<SHA1CRYPT_SALT_BYTES>()?))
        .map_err(|_| "a salt with a NUL byte".to_owned())?;
    // crypt_rn's work area holds password-derived state: zeroed after use.
    let mut work = vec![0u8; std::mem::size_of::<ffi::crypt_data>()];
    let size = c_int::try_from(work.len()).map_err(|_| "crypt_data too large".to_owned())?;
    // SAFETY: phrase and setting are NUL-terminated; `work` is a writable
    // buffer of `size` bytes, at least a struct crypt_data as crypt_rn
    // requires. The result is NULL or a NUL-terminated string inside `work`.
    let hashed = unsafe {
        ffi::crypt_rn(
            password.as_ptr(),
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
    work.fill(0);
    std::hint::black_box(&work);
    match result {
        Some(bytes) if bytes.starts_with(b"$sha1$") => Ok(Entry(bytes)),
        Some(_) | None => Err(format!(
            "crypt(3) could not make a $sha1$ hash ({})",
            std::io::Error::last_os_error()
        )),
    }
}

/// `$2y$04$...` through APR.
fn bcrypt(password: &CStr) -> Result<Entry, String> {
    const SALT_LEN: usize = 16; // APR requires at least 16 bytes
    const OUT_LEN: usize = 64; // `$2y$04$` + 53 characters + NUL; APR requires 61
    let salt = salt::<SALT_LEN>()?;
    let mut out = vec![0u8; OUT_LEN];
    // SAFETY: password is NUL-terminated; salt and out are buffers of the
    // lengths passed; apr_bcrypt_encode writes a NUL-terminated string of at
    // most 61 bytes into `out`.
    let status = unsafe {
        ffi::apr_bcrypt_encode(
            password.as_ptr(),
            BCRYPT_COST,
            salt.as_ptr(),
            SALT_LEN as ffi::apr_size_t,
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
            Ok(Entry(out))
        }
        None => Err("apr_bcrypt_encode wrote no terminated hash".to_owned()),
    }
}
