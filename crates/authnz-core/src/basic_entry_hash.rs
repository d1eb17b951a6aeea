//! The salted hash a granted Basic password becomes before it is handed to
//! mod_authn_socache (docs/how-it-runs.md#registration-with-httpd), chosen by `WSGISocacheHash`.
//!
//! mod_authn_socache checks a cached Basic entry with
//! `apr_password_validate` on *every* request it answers, so the scheme's
//! cost is paid per request. Two schemes are offered (docs/caching.md#the-hash-for-basic-entries has the
//! measured cost of every scheme APR understands):
//!
//! - `sha1-crypt` (the default): NetBSD's `$sha1$` from the platform's
//!   `crypt(3)` (libxcrypt), HMAC-SHA1 keyed by the whole password over a
//!   random 96-bit salt, [`SHA1CRYPT_ROUNDS`] round(s): a few microseconds.
//! - `bcrypt`: APR's own `$2y$`, cost [`BCRYPT_COST`] (the minimum APR
//!   accepts): about a millisecond, much slower to guess offline.
//!
//! Each scheme reads only so many password bytes; a longer password is
//! never stored, since its entry could accept other passwords or fail.

/// The `WSGISocacheHash` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicEntryHash {
    Sha1Crypt,
    Bcrypt,
}

/// bcrypt's work factor for cache entries (2^4 rounds, the minimum APR
/// accepts).
pub const BCRYPT_COST: u32 = 4;

/// bcrypt ignores password bytes beyond this many.
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;

/// HMAC rounds of a `$sha1$` entry. More rounds would multiply an offline
/// guesser's work by the same small factor as each request's cost.
pub const SHA1CRYPT_ROUNDS: u32 = 1;

/// libxcrypt refuses longer passphrases (`CRYPT_MAX_PASSPHRASE_SIZE`).
pub const SHA1CRYPT_MAX_PASSWORD_BYTES: usize = 512;

/// Random bytes of a `$sha1$` salt: 16 characters of crypt's alphabet.
pub const SHA1CRYPT_SALT_BYTES: usize = 12;

use base64::alphabet::CRYPT;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};
use base64::Engine;

/// crypt(3)'s base-64: its alphabet (`./0-9A-Za-z`), no padding.
const CRYPT_BASE64: GeneralPurpose = GeneralPurpose::new(&CRYPT, NO_PAD);

impl BasicEntryHash {
    /// The scheme a `WSGISocacheHash` argument names (case-insensitive).
    pub fn parse(word: &str) -> Option<BasicEntryHash> {
        if word.eq_ignore_ascii_case("sha1-crypt") {
            Some(BasicEntryHash::Sha1Crypt)
        } else if word.eq_ignore_ascii_case("bcrypt") {
            Some(BasicEntryHash::Bcrypt)
        } else {
            None
        }
    }

    /// The name used in the directive and in log lines.
    pub fn name(self) -> &'static str {
        match self {
            BasicEntryHash::Sha1Crypt => "sha1-crypt",
            BasicEntryHash::Bcrypt => "bcrypt",
        }
    }

    /// The longest password this scheme represents exactly.
    pub fn max_password_bytes(self) -> usize {
        match self {
            BasicEntryHash::Sha1Crypt => SHA1CRYPT_MAX_PASSWORD_BYTES,
            BasicEntryHash::Bcrypt => BCRYPT_MAX_PASSWORD_BYTES,
        }
    }

    /// Whether a granted password may be stored under this scheme.
    pub fn stores(self, password: &[u8]) -> bool {
        password.len() <= self.max_password_bytes()
    }
}

/// The crypt(3) setting for a `$sha1$` hash with this salt:
/// `$sha1$ROUNDS$SALT$`, the salt written in crypt's alphabet.
pub fn sha1crypt_setting(salt: &[u8; SHA1CRYPT_SALT_BYTES]) -> String {
    format!("$sha1${SHA1CRYPT_ROUNDS}${}$", CRYPT_BASE64.encode(salt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_words() {
        assert_eq!(
            BasicEntryHash::parse("sha1-crypt"),
            Some(BasicEntryHash::Sha1Crypt)
        );
        assert_eq!(
            BasicEntryHash::parse("BCrypt"),
            Some(BasicEntryHash::Bcrypt)
        );
        assert_eq!(BasicEntryHash::parse("sha1"), None);
        assert_eq!(BasicEntryHash::parse("apr1"), None);
        assert_eq!(BasicEntryHash::parse(""), None);
        for scheme in [BasicEntryHash::Sha1Crypt, BasicEntryHash::Bcrypt] {
            assert_eq!(BasicEntryHash::parse(scheme.name()), Some(scheme));
        }
    }

    #[test]
    fn long_passwords_are_not_stored() {
        let bcrypt = BasicEntryHash::Bcrypt;
        assert!(bcrypt.stores(b""));
        assert!(bcrypt.stores(&[b'x'; 72]));
        assert!(!bcrypt.stores(&[b'x'; 73]));
        let sha1 = BasicEntryHash::Sha1Crypt;
        assert!(sha1.stores(&[b'x'; 512]));
        assert!(!sha1.stores(&[b'x'; 513]));
    }

    #[test]
    fn setting_spells_rounds_and_the_whole_salt() {
        assert_eq!(sha1crypt_setting(&[0; 12]), "$sha1$1$................$");
        assert_eq!(sha1crypt_setting(&[0xff; 12]), "$sha1$1$zzzzzzzzzzzzzzzz$");
        // The low six bits of each three bytes pick the fourth character.
        let mut salt = [0u8; 12];
        salt[2] = 1;
        assert_eq!(sha1crypt_setting(&salt), "$sha1$1$.../............$");
        let a = sha1crypt_setting(&[1; 12]);
        let b = sha1crypt_setting(&[2; 12]);
        assert_ne!(a, b);
        assert_eq!(a.len(), "$sha1$1$".len() + 16 + 1);
    }
}
