//! Parsing of a waiting time given in a directive, the way httpd's own
//! timeout parameters read: a whole number with an optional unit, `ms` for
//! milliseconds or `s` for seconds (the default).

use std::time::Duration;

/// `value` as a duration, at most `max`; `None` when it is not a whole
/// number with an optional `ms`/`s` unit, or is larger than `max`.
pub fn parse_wait_time(value: &str, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let (digits, millis_per_unit) = if let Some(number) = value.strip_suffix("ms") {
        (number, 1)
    } else if let Some(number) = value.strip_suffix('s') {
        (number, 1000)
    } else {
        (value, 1000)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: u64 = digits.parse().ok()?;
    let wait = Duration::from_millis(count.checked_mul(millis_per_unit)?);
    (wait <= max).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn seconds_are_the_default_unit() {
        assert_eq!(parse_wait_time("2", MAX), Some(Duration::from_secs(2)));
        assert_eq!(parse_wait_time("2s", MAX), Some(Duration::from_secs(2)));
        assert_eq!(parse_wait_time("0", MAX), Some(Duration::ZERO));
    }

    #[test]
    fn milliseconds_take_the_ms_unit() {
        assert_eq!(
            parse_wait_time("250ms", MAX),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_wait_time("0ms", MAX), Some(Duration::ZERO));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "ms",
            "s",
            "-1",
            "1.5",
            "1 s",
            "1m",
            "1h",
            "abc",
            "+3",
            "18446744073709551616",
        ] {
            assert_eq!(parse_wait_time(bad, MAX), None, "{bad:?}");
        }
    }

    #[test]
    fn values_above_the_maximum_are_refused() {
        assert_eq!(parse_wait_time("61", MAX), None);
        assert_eq!(parse_wait_time("60001ms", MAX), None);
        assert_eq!(parse_wait_time("60", MAX), Some(MAX));
        assert_eq!(parse_wait_time("18446744073709551615s", MAX), None);
    }
}
