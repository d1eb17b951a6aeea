//! Decoding of credential bytes for Python (docs/python-contract.md#decoding-of-credentials): UTF-8 when valid,
//! else Latin-1, so decoding never fails; and validation of a user or group
//! name handed back by Python.

use std::borrow::Cow;

/// Decode bytes as UTF-8 when they are valid UTF-8 (borrowed, as browsers
/// send them), else as Latin-1 (every byte maps to the code point of the
/// same value).
pub fn decode_credential(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Why a name returned by Python cannot become `r->user` or a group name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    /// The name contains a control character (NUL, CR, LF, ...) at this char index.
    ControlCharacter(usize),
    TooLong(usize),
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "it is empty"),
            NameProblem::ControlCharacter(at) => {
                write!(f, "it contains a control character at position {at}")
            }
            NameProblem::TooLong(len) => {
                write!(
                    f,
                    "it is {len} bytes long (at most {MAX_NAME_BYTES} allowed)"
                )
            }
        }
    }
}

/// The longest name accepted from Python, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Check a name returned by Python: non-empty, no control characters (C0,
/// DEL or C1), at most [`MAX_NAME_BYTES`]. Nothing is truncated silently.
pub fn validate_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameProblem::TooLong(name.len()));
    }
    match name.chars().position(char::is_control) {
        Some(at) => Err(NameProblem::ControlCharacter(at)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_utf8_is_decoded_as_utf8() {
        assert_eq!(decode_credential("josé".as_bytes()), "josé");
        assert_eq!(decode_credential(b"plain"), "plain");
    }

    #[test]
    fn invalid_utf8_falls_back_to_latin1() {
        assert_eq!(decode_credential(b"jos\xe9"), "jos\u{e9}");
        assert_eq!(decode_credential(b"\xff\xfe"), "\u{ff}\u{fe}");
        // A truncated UTF-8 sequence is not valid UTF-8.
        assert_eq!(decode_credential(b"\xc3"), "\u{c3}");
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_name("alice"), Ok(()));
        assert_eq!(validate_name("josé"), Ok(()));
        assert_eq!(validate_name(""), Err(NameProblem::Empty));
        assert_eq!(validate_name("a\nb"), Err(NameProblem::ControlCharacter(1)));
        assert_eq!(validate_name("a\0"), Err(NameProblem::ControlCharacter(1)));
        assert_eq!(validate_name("\r"), Err(NameProblem::ControlCharacter(0)));
        assert_eq!(
            validate_name("x\u{85}"),
            Err(NameProblem::ControlCharacter(1))
        );
        assert_eq!(
            validate_name("x\u{7f}"),
            Err(NameProblem::ControlCharacter(1))
        );
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            validate_name(&long),
            Err(NameProblem::TooLong(MAX_NAME_BYTES + 1))
        );
        assert_eq!(validate_name(&long[1..]), Ok(()));
    }
}
