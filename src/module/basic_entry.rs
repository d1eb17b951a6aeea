//! The salted hash a granted Basic password is handed to mod_authn_socache
//! as (docs/how-it-runs.md#registration-with-httpd), in the scheme `WSGISocacheHash` chose
//! (`authnz_core::basic_entry_hash`): `$sha1$` made by the platform's
//! `crypt(3)`, or APR's own bcrypt. mod_authn_socache later checks the entry
//! with `apr_password_validate`, which hands `$sha1$` to the same
//! `crypt(3)`; whether that works on this platform is checked once, with a
//! hash made here and validated there, before `$sha1$` is ever stored.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use authnz_core::basic_entry_hash::{
    sha1crypt_setting, BasicEntryHash, BCRYPT_COST, SHA1CRYPT_SALT_BYTES,
};

use crate::apr::password::{self, crypt};
use crate::apr::random::random_bytes;

/// A NUL-terminated hash, zeroed when dropped.
pub struct Entry(Vec<u8>);

impl Entry {
    pub fn as_c_str(&self) -> &CStr {
        CStr::from_bytes_with_nul(&self.0).expect("a hash entry is one NUL-terminated string")
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
        let validates = |password: &CStr| password::validate(password, entry.as_c_str());
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
        Err("no random salt (APR's random source failed)".to_owned())
    }
}

/// `$sha1$ROUNDS$SALT$HASH` through libxcrypt's `crypt_rn`.
fn sha1crypt(password: &CStr) -> Result<Entry, String> {
    let setting = CString::new(sha1crypt_setting(&salt::<SHA1CRYPT_SALT_BYTES>()?))
        .map_err(|_| "a salt with a NUL byte".to_owned())?;
    let result = crypt(password, &setting);
    match result {
        Ok(bytes) if bytes.starts_with(b"$sha1$") => Ok(Entry(bytes)),
        Ok(_) => Err("crypt(3) could not make a $sha1$ hash".to_owned()),
        Err(e) => Err(format!("crypt(3) could not make a $sha1$ hash: {e}")),
    }
}

/// `$2y$04$...` through APR.
fn bcrypt(password: &CStr) -> Result<Entry, String> {
    const SALT_LEN: usize = 16; // APR requires at least 16 bytes
    password::bcrypt(password, BCRYPT_COST, &salt::<SALT_LEN>()?).map(Entry)
}
