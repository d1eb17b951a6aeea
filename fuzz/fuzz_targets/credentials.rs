//! `decode_credential` (UTF-8 when valid, else Latin-1) and `validate_name`.
//! - decoding never panics and never loses a byte: valid UTF-8 comes back
//!   unchanged, anything else comes back as one char per byte with the
//!   same value (Latin-1 round trip);
//! - `validate_name` accepts exactly the non-empty names of at most
//!   MAX_NAME_BYTES bytes without control characters, and each refusal
//!   names the right reason (the index of the first control character).
#![no_main]

use authnz_core::credentials::{decode_credential, validate_name, NameProblem, MAX_NAME_BYTES};
use libfuzzer_sys::fuzz_target;

fn check_name(name: &str) {
    let first_control = name.chars().position(char::is_control);
    let expected = if name.is_empty() {
        Err(NameProblem::Empty)
    } else if name.len() > MAX_NAME_BYTES {
        Err(NameProblem::TooLong(name.len()))
    } else if let Some(at) = first_control {
        Err(NameProblem::ControlCharacter(at))
    } else {
        Ok(())
    };
    let got = validate_name(name);
    assert_eq!(got, expected, "validate_name({name:?})");
    if got.is_ok() {
        // What reaches r->user or a group set can never carry NUL, CR or LF.
        assert!(!name.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n'));
    }
    // The message never panics and never echoes the name.
    if let Err(problem) = got {
        let text = problem.to_string();
        assert!(!text.is_empty());
    }
}

fuzz_target!(|bytes: &[u8]| {
    let text = decode_credential(bytes);
    match std::str::from_utf8(bytes) {
        Ok(utf8) => assert_eq!(text, utf8, "valid UTF-8 must come back unchanged"),
        Err(_) => {
            assert_eq!(text.chars().count(), bytes.len(), "one char per byte");
            let back: Vec<u8> = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).expect("Latin-1 char above U+00FF"))
                .collect();
            assert_eq!(back, bytes, "Latin-1 round trip");
        }
    }
    check_name(&text);
    // The user:password split the module does before decoding: both halves
    // decode on their own, whatever bytes they hold.
    if let Some(colon) = bytes.iter().position(|&b| b == b':') {
        let (user, password) = (&bytes[..colon], &bytes[colon + 1..]);
        let u = decode_credential(user);
        let p = decode_credential(password);
        assert!(u.chars().count() <= user.len() && p.chars().count() <= password.len());
        check_name(&u);
    }
});
