//! `validate_realm_hash` accepts exactly 32 lowercase hex digits, and says
//! why anything else is refused (length first, then non-hex, then case).
#![no_main]

use authnz_core::realm_hash::{validate_realm_hash, RealmHashProblem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|hash: &[u8]| {
    let got = validate_realm_hash(hash);
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let accepted = hash.len() == 32 && hash.iter().all(lower_hex);
    assert_eq!(got.is_ok(), accepted, "{hash:?}");
    match got {
        Ok(()) => {}
        Err(RealmHashProblem::WrongLength(len)) => {
            assert_eq!(len, hash.len());
            assert_ne!(len, 32);
        }
        Err(RealmHashProblem::NotHex) => {
            assert_eq!(hash.len(), 32);
            assert!(hash.iter().any(|b| !b.is_ascii_hexdigit()));
        }
        Err(RealmHashProblem::Uppercase) => {
            assert_eq!(hash.len(), 32);
            assert!(hash.iter().all(u8::is_ascii_hexdigit));
            assert!(hash.iter().any(u8::is_ascii_uppercase));
        }
    }
    if let Err(problem) = got {
        // The message describes a password equivalent, never quotes it.
        let text = problem.to_string();
        if hash.len() >= 16 && hash.iter().all(u8::is_ascii_hexdigit) {
            let h = std::str::from_utf8(hash).expect("hex is ASCII");
            assert!(
                !text.contains(h) && !text.to_ascii_lowercase().contains(&h.to_ascii_lowercase())
            );
        }
    }
    // Also the uppercased twin of an accepted hash is refused as Uppercase
    // when it has any letter.
    if accepted && hash.iter().any(u8::is_ascii_alphabetic) {
        let upper = hash.to_ascii_uppercase();
        assert_eq!(
            validate_realm_hash(&upper),
            Err(RealmHashProblem::Uppercase)
        );
    }
});
