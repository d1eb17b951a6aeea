//! The log lines a daemon wrote for a call, written again by the child with
//! the request's context, as the same lines of an embedded call would be
//! (same level, same `AUTHNZ_WSGI%04d:` tag, the request's client address
//! and virtual host's error log). A timeout line names the setting the
//! child took the call's limit from, which the daemon cannot know.

use authnz_core::daemon_frame::LogLine;
use authnz_core::process_group::replayed_text;

use crate::httpd::log::replay_request;
use crate::httpd::Request;

/// Write each of `lines` against `r`; `limit_setting` is the setting the
/// call's time limit came from (`WSGIScriptTimeout`, or a group's
/// `call-timeout=`).
pub fn replay(r: Request, lines: &[LogLine], limit_setting: &str) {
    for line in lines {
        let text = replayed_text(line.tag, &line.text, limit_setting);
        replay_request(&r, line.level, line.tag, &text);
    }
}
