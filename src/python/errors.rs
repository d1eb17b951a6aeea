//! Reporting Python exceptions: one summary line, then the traceback one
//! entry per line, all under the same numbered tag.

use pyo3::prelude::*;
use pyo3::types::PyTraceback;

use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::rlog;

/// The type name of an unexpected result, for a log line that must not echo
/// the value itself (it may be a password or a realm hash).
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// `ExceptionType: message` for a summary line.
pub fn describe(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned());
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

/// Log `summary: ExceptionType: message` and the traceback against `r`.
pub fn log_exception(py: Python<'_>, r: &Request, tag: u16, summary: &str, err: &PyErr) {
    rlog!(r, Level::Error, tag, "{summary}: {}", describe(py, err));
    for line in traceback_lines(py, err) {
        rlog!(r, Level::Error, tag, "  {line}");
    }
}
