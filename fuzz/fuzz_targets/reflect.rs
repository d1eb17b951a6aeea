//! Identity reflection checks (docs/identity-reflection.md): `validate_reflected_value`,
//! `single_reflected_value`, `validate_header_name`, `request_header_matches`
//! and `decide`.
//! - a reflected value is accepted exactly when it has 1..=256 bytes and no
//!   byte below 0x20 nor 0x7f, and comes back unchanged (no truncation);
//! - several occurrences are accepted only when they are all equal;
//! - a request header matches a configured name exactly when they are equal
//!   up to ASCII case and `-`/`_`, and the relation is symmetric;
//! - Apache's own user always wins.
#![no_main]

use arbitrary::Arbitrary;
use authnz_core::reflect::{
    decide, request_header_matches, single_reflected_value, validate_header_name,
    validate_reflected_value, ReflectDecision, ReflectedValueError, MAX_HEADER_NAME_LEN,
    MAX_REFLECTED_LEN,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    value: &'a [u8],
    others: Vec<&'a [u8]>,
    configured: &'a str,
    incoming: &'a [u8],
    apache_user: Option<&'a [u8]>,
}

fn usable(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REFLECTED_LEN
        && !value.iter().any(|&b| b < 0x20 || b == 0x7f)
}

fn fold(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

fuzz_target!(|input: Input| {
    let got = validate_reflected_value(input.value);
    assert_eq!(got.is_ok(), usable(input.value), "{:?}", input.value);
    match got {
        Ok(v) => assert_eq!(v, input.value),
        Err(ReflectedValueError::Empty) => assert!(input.value.is_empty()),
        Err(ReflectedValueError::TooLong { len }) => {
            assert_eq!(len, input.value.len());
            assert!(len > MAX_REFLECTED_LEN);
        }
        Err(ReflectedValueError::ControlCharacter { offset }) => {
            let b = input.value[offset];
            assert!(b < 0x20 || b == 0x7f);
            assert!(input.value[..offset]
                .iter()
                .all(|&b| b >= 0x20 && b != 0x7f));
        }
        Err(e @ ReflectedValueError::Conflicting { .. }) => panic!("{e} from one value"),
    }

    let mut values = vec![input.value];
    values.extend(input.others.iter().copied());
    let single = single_reflected_value(&values);
    let all_same = values.iter().all(|v| *v == input.value);
    match single {
        Ok(Some(v)) => assert!(all_same && v == input.value && usable(v)),
        Ok(None) => unreachable!("values is never empty"),
        Err(ReflectedValueError::Conflicting { count }) => {
            assert!(!all_same);
            assert_eq!(count, values.len());
        }
        Err(_) => assert!(all_same && !usable(input.value)),
    }
    assert_eq!(single_reflected_value(&[]), Ok(None));

    let name_ok = validate_header_name(input.configured).is_ok();
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    assert_eq!(
        name_ok,
        !input.configured.is_empty()
            && input.configured.len() <= MAX_HEADER_NAME_LEN
            && input.configured.chars().all(tchar),
        "{:?}",
        input.configured
    );

    let matches = request_header_matches(input.configured, input.incoming);
    let expected = input.configured.len() == input.incoming.len()
        && input
            .configured
            .bytes()
            .zip(input.incoming)
            .all(|(a, &b)| fold(a) == fold(b));
    assert_eq!(matches, expected);
    if let Ok(incoming) = std::str::from_utf8(input.incoming) {
        assert_eq!(
            request_header_matches(incoming, input.configured.as_bytes()),
            matches,
            "match is not symmetric"
        );
    }
    // Every spelling produced by swapping `-`/`_` and case matches.
    let respelled: Vec<u8> = input
        .configured
        .bytes()
        .map(|b| match b {
            b'-' => b'_',
            b'_' => b'-',
            b if b.is_ascii_lowercase() => b.to_ascii_uppercase(),
            b => b.to_ascii_lowercase(),
        })
        .collect();
    assert!(request_header_matches(input.configured, &respelled));

    let decision = decide(input.apache_user, input.value);
    match input.apache_user {
        None => assert_eq!(decision, ReflectDecision::Reflect),
        Some(u) if u == input.value => assert_eq!(decision, ReflectDecision::KeepSame),
        Some(_) => assert_eq!(decision, ReflectDecision::KeepDifferent),
    }
});
