//! Validation of a Digest realm hash returned by `get_realm_hash` (docs/python-contract.md#get_realm_hash-digest):
//! exactly 32 lowercase hexadecimal digits, the MD5 of `user:realm:password`.

/// Why a realm hash is refused. Never carries the hash itself (it is a
/// password equivalent and must not reach the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmHashProblem {
    WrongLength(usize),
    Uppercase,
    NotHex,
}

impl std::fmt::Display for RealmHashProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RealmHashProblem::WrongLength(len) => {
                write!(f, "it has {len} characters, not 32 lowercase hex digits")
            }
            RealmHashProblem::Uppercase => {
                write!(f, "it contains uppercase hex digits (lowercase required)")
            }
            RealmHashProblem::NotHex => write!(f, "it contains characters that are not hex digits"),
        }
    }
}

/// Accept exactly 32 lowercase hex digits.
pub fn validate_realm_hash(hash: &[u8]) -> Result<(), RealmHashProblem> {
    if hash.len() != 32 {
        return Err(RealmHashProblem::WrongLength(hash.len()));
    }
    if !hash.iter().all(u8::is_ascii_hexdigit) {
        return Err(RealmHashProblem::NotHex);
    }
    if hash.iter().any(u8::is_ascii_uppercase) {
        return Err(RealmHashProblem::Uppercase);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_md5_hex() {
        assert_eq!(
            validate_realm_hash(b"0123456789abcdef0123456789abcdef"),
            Ok(())
        );
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(
            validate_realm_hash(b""),
            Err(RealmHashProblem::WrongLength(0))
        );
        assert_eq!(
            validate_realm_hash(b"0123456789ABCDEF0123456789abcdef"),
            Err(RealmHashProblem::Uppercase)
        );
        assert_eq!(
            validate_realm_hash(b"0123456789abcdef0123456789abcdeg"),
            Err(RealmHashProblem::NotHex)
        );
        assert_eq!(
            validate_realm_hash(b"0123456789abcdef0123456789abcdef0"),
            Err(RealmHashProblem::WrongLength(33))
        );
        assert_eq!(
            validate_realm_hash("0123456789abcdef0123456789abcdé".as_bytes()),
            Err(RealmHashProblem::NotHex)
        );
    }
}
