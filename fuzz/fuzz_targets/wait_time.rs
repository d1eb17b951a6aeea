//! `parse_wait_time` on arbitrary text and limits: never panics; whatever it
//! accepts is at most the limit and reads back the same when written as
//! milliseconds; it accepts only digits with an optional `ms`/`s` unit.
#![no_main]

use std::time::Duration;

use authnz_core::wait_time::parse_wait_time;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, u32)| {
    let (text, max_millis) = input;
    let max = Duration::from_millis(u64::from(max_millis));
    let Some(wait) = parse_wait_time(&text, max) else {
        return;
    };
    assert!(wait <= max, "{text:?} gave {wait:?} above {max:?}");
    let trimmed = text.trim();
    let digits = trimmed.trim_end_matches("ms").trim_end_matches('s');
    assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
    let millis = format!("{}ms", wait.as_millis());
    assert_eq!(parse_wait_time(&millis, max), Some(wait));
});
