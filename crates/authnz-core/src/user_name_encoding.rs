//! `WSGIUserNameEncoding` (docs/directives.md#wsgiusernameencoding): which
//! bytes become Apache's user (`r->user`) for a name a client sent. `as-sent`
//! (the default) keeps the client's bytes; `utf-8` makes the user the UTF-8
//! encoding of the name as Python saw it ([`decode_credential`]), so `josé`
//! sent as UTF-8 and as Latin-1 is one user.

use std::borrow::Cow;

use crate::credentials::decode_credential;

/// The value of `WSGIUserNameEncoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserNameEncoding {
    /// Apache's user is the bytes the client sent.
    #[default]
    AsSent,
    /// Apache's user is the UTF-8 encoding of the decoded name.
    Utf8,
}

impl UserNameEncoding {
    /// The directive's words (case-insensitive): `as-sent`, `utf-8`.
    pub fn parse(word: &str) -> Option<UserNameEncoding> {
        match word.to_ascii_lowercase().as_str() {
            "as-sent" => Some(UserNameEncoding::AsSent),
            "utf-8" => Some(UserNameEncoding::Utf8),
            _ => None,
        }
    }

    /// The directive's word for this value.
    pub fn name(self) -> &'static str {
        match self {
            UserNameEncoding::AsSent => "as-sent",
            UserNameEncoding::Utf8 => "utf-8",
        }
    }

    /// Apache's user for a name the client sent as `sent`.
    pub fn user_name(self, sent: &[u8]) -> Cow<'_, [u8]> {
        match self {
            UserNameEncoding::AsSent => Cow::Borrowed(sent),
            UserNameEncoding::Utf8 => match decode_credential(sent) {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            },
        }
    }

    /// The bytes a credential (user, password, realm) adds to an in-process
    /// cache key: with `utf-8`, the text Python is given, so each encoding
    /// of one name finds the same entry; with `as-sent`, the bytes as sent.
    pub fn key_bytes(self, sent: &[u8]) -> Cow<'_, [u8]> {
        self.user_name(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_parsed_case_insensitively() {
        assert_eq!(
            UserNameEncoding::parse("utf-8"),
            Some(UserNameEncoding::Utf8)
        );
        assert_eq!(
            UserNameEncoding::parse("UTF-8"),
            Some(UserNameEncoding::Utf8)
        );
        assert_eq!(
            UserNameEncoding::parse("As-Sent"),
            Some(UserNameEncoding::AsSent)
        );
        for other in ["utf8", "latin-1", "", "on"] {
            assert_eq!(UserNameEncoding::parse(other), None, "{other}");
        }
        for value in [UserNameEncoding::AsSent, UserNameEncoding::Utf8] {
            assert_eq!(UserNameEncoding::parse(value.name()), Some(value));
        }
        assert_eq!(UserNameEncoding::default(), UserNameEncoding::AsSent);
    }

    #[test]
    fn as_sent_keeps_the_bytes() {
        for sent in [&b"jos\xe9"[..], "josé".as_bytes(), b"\xff\xfe", b""] {
            assert_eq!(UserNameEncoding::AsSent.user_name(sent), sent);
        }
    }

    #[test]
    fn utf8_makes_both_encodings_one_name() {
        let utf8 = UserNameEncoding::Utf8;
        assert_eq!(utf8.user_name(b"jos\xe9"), "josé".as_bytes());
        assert_eq!(utf8.user_name("josé".as_bytes()), "josé".as_bytes());
        assert!(matches!(
            utf8.user_name("josé".as_bytes()),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            utf8.user_name(b"\xff\xfeuser"),
            "\u{ff}\u{fe}user".as_bytes()
        );
        assert_eq!(utf8.user_name(b"alice").as_ref(), b"alice");
        assert_eq!(utf8.key_bytes(b"p\xe4ss"), "päss".as_bytes());
    }

    #[test]
    fn utf8_agrees_with_an_independent_reference() {
        // Every 1- and 2-byte sequence, and 3-byte ones over a sample: the
        // result is the sent bytes when they are UTF-8, else each byte's
        // code point in UTF-8.
        let reference = |sent: &[u8]| -> Vec<u8> {
            match String::from_utf8(sent.to_vec()) {
                Ok(text) => text.into_bytes(),
                Err(_) => sent
                    .iter()
                    .flat_map(|&b| {
                        if b < 0x80 {
                            vec![b]
                        } else {
                            vec![0xc0 | (b >> 6), 0x80 | (b & 0x3f)]
                        }
                    })
                    .collect(),
            }
        };
        let mut samples: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                samples.push(vec![a, b]);
            }
        }
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            samples.push(x.to_le_bytes()[..3].to_vec());
        }
        for sent in samples {
            let ours = UserNameEncoding::Utf8.user_name(&sent);
            assert_eq!(ours.as_ref(), reference(&sent).as_slice(), "{sent:x?}");
            assert!(std::str::from_utf8(&ours).is_ok());
        }
    }
}
