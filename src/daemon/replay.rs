//! The log lines a daemon wrote for a call, written again by the child with
//! the request's context, as the same lines of an embedded call would be
//! (same level, same `AUTHNZ_WSGI%04d:` tag, the request's client address
//! and virtual host's error log).

use authnz_core::daemon_frame::LogLine;

use crate::httpd::log::replay_request;
use crate::httpd::Request;

/// Write each of `lines` against `r`.
pub fn replay(r: Request, lines: &[LogLine]) {
    for line in lines {
        replay_request(&r, line.level, line.tag, &line.text);
    }
}
