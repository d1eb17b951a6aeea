//! Identity reflection (docs/identity-reflection.md), the pure parts: which header names a
//! directive may configure, which incoming request headers count as a
//! spoofing attempt (every `-`/`_` spelling, any case), validation of the
//! values an application sends, and the decision whether a reflected user
//! may replace what Apache knows; and, in `interim_head`, which lines of a
//! proxied backend's interim heads must not be relayed.

use std::fmt;

mod interim_head;

pub use interim_head::{InterimHeadScanner, LineVerdict};

/// Longest user name or auth type accepted from a response header.
pub const MAX_REFLECTED_LEN: usize = 256;

/// Longest header name a directive may configure.
pub const MAX_HEADER_NAME_LEN: usize = 128;

/// Why a reflected value was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReflectedValueError {
    Empty,
    TooLong {
        len: usize,
    },
    ControlCharacter {
        offset: usize,
    },
    /// The header appeared more than once with different values.
    Conflicting {
        count: usize,
    },
}

impl fmt::Display for ReflectedValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReflectedValueError::Empty => write!(f, "the value is empty"),
            ReflectedValueError::TooLong { len } => {
                write!(
                    f,
                    "the value is {len} bytes long (at most {MAX_REFLECTED_LEN})"
                )
            }
            ReflectedValueError::ControlCharacter { offset } => {
                write!(f, "the value contains a control character at byte {offset}")
            }
            ReflectedValueError::Conflicting { count } => {
                write!(f, "the header appears {count} times with different values")
            }
        }
    }
}

/// A value an application may set as `r->user` or `r->ap_auth_type`:
/// non-empty, at most [`MAX_REFLECTED_LEN`] bytes, no control characters
/// (C0, DEL; NUL included). Bytes from 0x80 up are allowed (UTF-8 names):
/// httpd escapes them when it logs `%u`.
pub fn validate_reflected_value(value: &[u8]) -> Result<&[u8], ReflectedValueError> {
    if value.is_empty() {
        return Err(ReflectedValueError::Empty);
    }
    if value.len() > MAX_REFLECTED_LEN {
        return Err(ReflectedValueError::TooLong { len: value.len() });
    }
    if let Some(offset) = value.iter().position(|&b| b < 0x20 || b == 0x7f) {
        return Err(ReflectedValueError::ControlCharacter { offset });
    }
    Ok(value)
}

/// The one value of a header that may appear several times: every
/// occurrence must carry the same bytes, which are then validated.
/// `Ok(None)` when the header is absent.
pub fn single_reflected_value<'a>(
    values: &[&'a [u8]],
) -> Result<Option<&'a [u8]>, ReflectedValueError> {
    let Some((first, rest)) = values.split_first() else {
        return Ok(None);
    };
    if rest.iter().any(|v| v != first) {
        return Err(ReflectedValueError::Conflicting {
            count: values.len(),
        });
    }
    validate_reflected_value(first).map(Some)
}

/// Whether `name` is a valid HTTP field name (RFC 9110 `token`) short
/// enough for a directive argument.
pub fn validate_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the header name is empty".to_owned());
    }
    if name.len() > MAX_HEADER_NAME_LEN {
        return Err(format!(
            "the header name is longer than {MAX_HEADER_NAME_LEN} characters"
        ));
    }
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if let Some(bad) = name.chars().find(|&c| !tchar(c)) {
        return Err(format!(
            "'{}' is not allowed in a header name",
            bad.escape_default()
        ));
    }
    Ok(())
}

/// Whether an incoming request header named `incoming` is a spelling of
/// the configured `configured` name: ASCII case and `-` versus `_` are
/// ignored (CGI maps both to the same variable; proxies forward either).
pub fn request_header_matches(configured: &str, incoming: &[u8]) -> bool {
    let configured = configured.as_bytes();
    configured.len() == incoming.len()
        && configured
            .iter()
            .zip(incoming)
            .all(|(&a, &b)| fold(a) == fold(b))
}

fn fold(byte: u8) -> u8 {
    match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    }
}

/// What the log phase does with a reflected user.
/// An identity taken from a response: validated, so it holds no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Vec<u8>,
    pub auth_type: Option<Vec<u8>>,
}

/// What reflection found in one request's response.
#[derive(Debug, Default)]
pub struct Reflected {
    /// `None`: the response named nobody (or only an invalid value).
    pub identity: Option<Identity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectDecision {
    /// Nobody is known: set `r->user` (and the auth type) from the app.
    Reflect,
    /// Apache authenticated the request as the same user: nothing to do.
    KeepSame,
    /// Apache authenticated someone else: keep Apache's user.
    KeepDifferent,
}

/// Apache's own authentication wins over the application's header.
pub fn decide(apache_user: Option<&[u8]>, reflected: &[u8]) -> ReflectDecision {
    match apache_user {
        None => ReflectDecision::Reflect,
        Some(user) if user == reflected => ReflectDecision::KeepSame,
        Some(_) => ReflectDecision::KeepDifferent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            &b"alice"[..],
            b"alice@example.org",
            b"CN=Alice Smith,O=Org",
            "jos\u{e9}".as_bytes(),
        ] {
            assert_eq!(validate_reflected_value(name), Ok(name));
        }
    }

    #[test]
    fn length_cap_is_inclusive() {
        let longest = vec![b'a'; MAX_REFLECTED_LEN];
        assert!(validate_reflected_value(&longest).is_ok());
        let too_long = vec![b'a'; MAX_REFLECTED_LEN + 1];
        assert_eq!(
            validate_reflected_value(&too_long),
            Err(ReflectedValueError::TooLong {
                len: MAX_REFLECTED_LEN + 1
            })
        );
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        assert_eq!(
            validate_reflected_value(b""),
            Err(ReflectedValueError::Empty)
        );
        for (value, offset) in [
            (&b"ali\x00ce"[..], 3),
            (b"alice\r\nX-Evil: 1", 5),
            (b"\talice", 0),
            (b"alice\x7f", 5),
            (b"a\x1bb", 1),
        ] {
            assert_eq!(
                validate_reflected_value(value),
                Err(ReflectedValueError::ControlCharacter { offset }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn duplicates_must_agree() {
        assert_eq!(single_reflected_value(&[]), Ok(None));
        assert_eq!(single_reflected_value(&[b"alice"]), Ok(Some(&b"alice"[..])));
        assert_eq!(
            single_reflected_value(&[b"alice", b"alice"]),
            Ok(Some(&b"alice"[..]))
        );
        assert_eq!(
            single_reflected_value(&[b"alice", b"bob"]),
            Err(ReflectedValueError::Conflicting { count: 2 })
        );
        assert_eq!(
            single_reflected_value(&[b"a\x01"]),
            Err(ReflectedValueError::ControlCharacter { offset: 1 })
        );
    }

    #[test]
    fn header_names_are_tokens() {
        assert!(validate_header_name("X-Remote-User").is_ok());
        assert!(validate_header_name("X_Auth_Type").is_ok());
        assert!(validate_header_name("").is_err());
        assert!(validate_header_name("X Remote").is_err());
        assert!(validate_header_name("X-User:").is_err());
        assert!(validate_header_name("X-\u{e9}").is_err());
        assert!(validate_header_name(&"x".repeat(MAX_HEADER_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn request_header_spellings() {
        for spelling in [
            &b"X-Remote-User"[..],
            b"x-remote-user",
            b"X_Remote_User",
            b"x-remote_user",
            b"X_REMOTE-USER",
        ] {
            assert!(
                request_header_matches("X-Remote-User", spelling),
                "{spelling:?}"
            );
        }
        for other in [
            &b"X-Remote-Users"[..],
            b"X-Remote",
            b"XRemoteUser",
            b"Remote-User",
        ] {
            assert!(!request_header_matches("X-Remote-User", other), "{other:?}");
        }
        assert!(request_header_matches("X_Auth_Type", b"x-auth-type"));
    }

    #[test]
    fn apache_authentication_wins() {
        assert_eq!(decide(None, b"alice"), ReflectDecision::Reflect);
        assert_eq!(decide(Some(b"alice"), b"alice"), ReflectDecision::KeepSame);
        assert_eq!(
            decide(Some(b"bob"), b"alice"),
            ReflectDecision::KeepDifferent
        );
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            ReflectedValueError::ControlCharacter { offset: 3 }.to_string(),
            "the value contains a control character at byte 3"
        );
    }
}
