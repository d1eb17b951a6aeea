//! CGI-style environ keys for request headers (docs/python-contract.md#environ): `HTTP_` plus the
//! name upper-cased with `-` turned into `_`. Names with any other character
//! (notably `_`, which would let `X_Remote_User` pose as `X-Remote-User`) are
//! dropped, and credentials headers are never exposed.

/// The environ key for a request header, or `None` when the header must not
/// appear in environ.
pub fn header_environ_key(name: &str) -> Option<String> {
    let mut key = Vec::with_capacity(5 + name.len());
    write_header_environ_key(name.as_bytes(), &mut key)
        .then(|| String::from_utf8(key).expect("keys are ASCII"))
}

/// Write the environ key of header `name` into `key` (cleared first);
/// `false`, with `key` left empty, when the header must not appear in
/// environ. Names that differ only in ASCII case get the same key.
pub fn write_header_environ_key(name: &[u8], key: &mut Vec<u8>) -> bool {
    key.clear();
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-') {
        return false;
    }
    if name.eq_ignore_ascii_case(b"authorization")
        || name.eq_ignore_ascii_case(b"proxy-authorization")
    {
        return false;
    }
    key.extend_from_slice(b"HTTP_");
    key.extend(name.iter().map(|&b| {
        if b == b'-' {
            b'_'
        } else {
            b.to_ascii_uppercase()
        }
    }));
    true
}

/// Whether a header is carried by its CGI name instead of an `HTTP_` key.
pub fn is_content_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_headers_get_http_keys() {
        assert_eq!(
            header_environ_key("User-Agent").as_deref(),
            Some("HTTP_USER_AGENT")
        );
        assert_eq!(
            header_environ_key("x-test-1").as_deref(),
            Some("HTTP_X_TEST_1")
        );
    }

    #[test]
    fn odd_and_secret_headers_are_dropped() {
        assert_eq!(header_environ_key("X_Remote_User"), None);
        assert_eq!(header_environ_key("X.Dot"), None);
        assert_eq!(header_environ_key(""), None);
        assert_eq!(header_environ_key("Authorization"), None);
        assert_eq!(header_environ_key("PROXY-AUTHORIZATION"), None);
        assert_eq!(header_environ_key("Hé"), None);
    }

    #[test]
    fn spellings_that_differ_in_case_write_one_key() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert!(write_header_environ_key(b"X-External", &mut a));
        assert!(write_header_environ_key(b"x-EXTERNAL", &mut b));
        assert_eq!(a, b"HTTP_X_EXTERNAL");
        assert_eq!(a, b);
        assert!(!write_header_environ_key(b"X_External", &mut b));
        assert!(b.is_empty());
    }

    #[test]
    fn content_headers_are_recognised() {
        assert!(is_content_header("Content-Type"));
        assert!(is_content_header("content-length"));
        assert!(!is_content_header("Content-Encoding"));
    }
}
