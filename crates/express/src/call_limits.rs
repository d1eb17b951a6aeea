//! Limits on the Python calls: `--script-timeout N` (`WSGIScriptTimeout`,
//! seconds one call may run, 0 for none) and `--max-concurrent-calls N`
//! (`WSGIMaxConcurrentCalls`, calls one child runs at once; a call beyond
//! that waits up to a second, then its request is refused with 500). Both
//! are written for the whole server; docs/limits.md describes them.

use std::fmt::Write;

use crate::options::{single, Raw};
use crate::values::{self, Checked};

/// The longest `WSGIScriptTimeout` the module accepts.
const MAX_SCRIPT_TIMEOUT: u32 = 86_400;
/// A cap far beyond any thread count; the module itself only needs >= 1.
const MAX_CALLS: u32 = 100_000;

/// The call limits; `None` leaves the module's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallLimits {
    pub script_timeout: Option<u32>,
    pub max_concurrent_calls: Option<u32>,
}

/// The limits, checked; `has_script` says whether any script directive is
/// written (without one there is no Python call to limit).
pub fn parse(raw: &Raw, has_script: bool) -> Checked<CallLimits> {
    let limits = CallLimits {
        script_timeout: single(raw, "script-timeout")
            .map(|v| values::number("--script-timeout", v, 0, MAX_SCRIPT_TIMEOUT))
            .transpose()?,
        max_concurrent_calls: single(raw, "max-concurrent-calls")
            .map(|v| values::number("--max-concurrent-calls", v, 1, MAX_CALLS))
            .transpose()?,
    };
    for (name, given) in [
        ("script-timeout", limits.script_timeout.is_some()),
        (
            "max-concurrent-calls",
            limits.max_concurrent_calls.is_some(),
        ),
    ] {
        if given && !has_script {
            return Err(format!(
                "--{name} needs a script: --auth-user-script or --host-access-script"
            ));
        }
    }
    Ok(limits)
}

/// The server-wide directives.
pub fn render(out: &mut String, limits: CallLimits) {
    if let Some(secs) = limits.script_timeout {
        let _ = writeln!(out, "WSGIScriptTimeout {secs}");
    }
    if let Some(calls) = limits.max_concurrent_calls {
        let _ = writeln!(out, "WSGIMaxConcurrentCalls {calls}");
    }
    if limits != CallLimits::default() {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests_support::{err, run};

    #[test]
    fn limits() {
        let o = run(&[
            "--auth-user-script",
            "u.py",
            "--script-timeout",
            "0",
            "--max-concurrent-calls",
            "4",
        ])
        .unwrap();
        assert_eq!(
            o.call_limits,
            CallLimits {
                script_timeout: Some(0),
                max_concurrent_calls: Some(4)
            }
        );
        let mut out = String::new();
        render(&mut out, o.call_limits);
        assert_eq!(out, "WSGIScriptTimeout 0\nWSGIMaxConcurrentCalls 4\n\n");
        let o = run(&["--host-access-script", "h.py", "--script-timeout", "5"]).unwrap();
        assert_eq!(o.call_limits.script_timeout, Some(5));
        let mut out = String::new();
        render(&mut out, CallLimits::default());
        assert_eq!(out, "");
    }

    #[test]
    fn limit_rules() {
        assert_eq!(
            err(&["--script-timeout", "5"]),
            "--script-timeout needs a script: --auth-user-script or --host-access-script"
        );
        assert!(err(&["--max-concurrent-calls", "5"]).starts_with("--max-concurrent-calls needs"));
        let auth = |list: &[&str]| {
            let mut full = vec!["--auth-user-script", "u.py"];
            full.extend_from_slice(list);
            err(&full)
        };
        assert!(auth(&["--script-timeout", "86401"]).contains("from 0 to 86400"));
        assert!(auth(&["--script-timeout", "1.5"]).starts_with("--script-timeout: "));
        assert!(auth(&["--max-concurrent-calls", "0"]).contains("from 1 to 100000"));
    }
}
