//! CGI-style environ keys for request headers (SPEC §3.6): `HTTP_` plus the
//! name upper-cased with `-` turned into `_`. Names with any other character
//! (notably `_`, which would let `X_Remote_User` pose as `X-Remote-User`) are
//! dropped, and credentials headers are never exposed.

/// The environ key for a request header, or `None` when the header must not
/// appear in environ.
pub fn header_environ_key(name: &str) -> Option<String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    if name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization")
    {
        return None;
    }
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    key.extend(name.bytes().map(|b| {
        if b == b'-' {
            '_'
        } else {
            char::from(b.to_ascii_uppercase())
        }
    }));
    Some(key)
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
    fn content_headers_are_recognised() {
        assert!(is_content_header("Content-Type"));
        assert!(is_content_header("content-length"));
        assert!(!is_content_header("Content-Encoding"));
    }
}
