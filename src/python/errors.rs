//! Reporting Python exceptions: one summary line, then the traceback one
//! entry per line, all under the same numbered tag. When the exception's
//! message shows the password the call was given, the message is withheld
//! (`authnz_core::redact` says why it is not edited instead); the
//! traceback holds code locations and source text only, and is kept.

use authnz_core::redact::{self, SecretForms};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTraceback};

use crate::httpd::log::Level;
use crate::python::log_sink::LogSink;
use crate::sink_log;

/// The type name of an unexpected result, for a log line that must not echo
/// the value itself (it may be a password or a realm hash).
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// The exception's type name.
fn exception_name(py: Python<'_>, err: &PyErr) -> String {
    err.get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned())
}

/// `ExceptionType: message` for a summary line.
pub fn describe(py: Python<'_>, err: &PyErr) -> String {
    let name = exception_name(py, err);
    let value = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if value.is_empty() {
        name
    } else {
        format!("{name}: {value}")
    }
}

/// The formatted traceback lines (without the final exception line).
fn traceback_lines(py: Python<'_>, err: &PyErr) -> Vec<String> {
    let Some(tb) = err.traceback(py) else {
        return Vec::new();
    };
    format_traceback(&tb).unwrap_or_default()
}

fn format_traceback(tb: &Bound<'_, PyTraceback>) -> PyResult<Vec<String>> {
    let text = tb.format()?;
    Ok(text
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect())
}

/// Log `summary: ExceptionType: message` and the traceback to `log`.
pub fn log_exception(py: Python<'_>, log: LogSink, tag: u16, summary: &str, err: &PyErr) {
    log_exception_hiding(py, log, tag, summary, err, None);
}

/// As [`log_exception`], with the exception's message withheld when it
/// shows `secret` in any spelling Python could print (as typed, and inside
/// the `repr()` of it as `str` and as encoded bytes).
pub fn log_exception_hiding(
    py: Python<'_>,
    log: LogSink,
    tag: u16,
    summary: &str,
    err: &PyErr,
    secret: Option<&str>,
) {
    let forms = secret.map(|s| secret_forms(py, s)).unwrap_or_default();
    let message = describe(py, err);
    let shown = if forms.appear_in(&message) {
        format!("{} {}", exception_name(py, err), redact::WITHHELD)
    } else {
        message
    };
    sink_log!(log, Level::Error, tag, "{summary}: {shown}");
    for line in traceback_lines(py, err) {
        sink_log!(log, Level::Error, tag, "  {line}");
    }
}

/// The spellings of `secret` that may appear in an exception's text.
fn secret_forms(py: Python<'_>, secret: &str) -> SecretForms {
    let mut forms = vec![secret.to_owned()];
    let text = PyString::new(py, secret);
    if let Ok(repr) = text.repr() {
        forms.push(strip_quotes(&repr.to_string_lossy(), 1));
    }
    let mut encodings = vec![secret.as_bytes().to_vec()];
    if let Some(latin1) = secret
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
    {
        encodings.push(latin1);
    }
    for bytes in encodings {
        if let Ok(repr) = PyBytes::new(py, &bytes).repr() {
            // b'...': the prefix and both quotes.
            forms.push(strip_quotes(&repr.to_string_lossy(), 2));
        }
    }
    SecretForms::new(forms)
}

/// `quoted` without its first `lead` characters and its closing quote.
fn strip_quotes(quoted: &str, lead: usize) -> String {
    let inner: Vec<char> = quoted.chars().collect();
    if inner.len() < lead + 1 {
        return String::new();
    }
    inner[lead..inner.len() - 1].iter().collect()
}
