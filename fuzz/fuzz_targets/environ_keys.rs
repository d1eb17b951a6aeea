//! `header_environ_key`: a header gets the key `HTTP_` + its name upper-cased
//! with `-` as `_` exactly when the name is non-empty, made only of ASCII
//! letters, digits and `-`, and is not a credentials header. Keys are made
//! of `[A-Z0-9_]` only, never name the credentials headers, and two names
//! share a key only when they differ in ASCII case alone (so `X_Remote_User`
//! can never pose as `X-Remote-User`).
#![no_main]

use authnz_core::environ_keys::{header_environ_key, is_content_header};
use libfuzzer_sys::fuzz_target;

fn expected(name: &str) -> Option<String> {
    let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let lower = name.to_ascii_lowercase();
    if !plain || lower == "authorization" || lower == "proxy-authorization" {
        return None;
    }
    Some(format!(
        "HTTP_{}",
        name.to_ascii_uppercase().replace('-', "_")
    ))
}

fn check(name: &str) -> Option<String> {
    let key = header_environ_key(name);
    assert_eq!(key, expected(name), "{name:?}");
    if let Some(k) = &key {
        assert!(k.starts_with("HTTP_"));
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        assert_ne!(k, "HTTP_AUTHORIZATION");
        assert_ne!(k, "HTTP_PROXY_AUTHORIZATION");
        assert!(!name.contains('_'));
    }
    let _ = is_content_header(name);
    key
}

fuzz_target!(|data: &[u8]| {
    // Two names separated by the first NUL: compare their keys too.
    let mut parts = data.splitn(2, |&b| b == 0);
    let a = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let b = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let ka = check(&a);
    let kb = check(&b);
    if let (Some(ka), Some(kb)) = (ka, kb) {
        assert_eq!(
            ka == kb,
            a.eq_ignore_ascii_case(&b),
            "{a:?} and {b:?} share a key"
        );
    }
});
