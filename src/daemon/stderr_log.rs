//! A daemon process's own lines (start-up failures, the watchdog, refused
//! frames), written to its standard error, which is Apache's main error
//! log (httpd points the parent's stderr there before the daemons are
//! forked). A daemon does not use httpd's logging: it closed the log files
//! it inherited, and the watchdog must write without taking any lock a
//! stuck thread could hold. The format follows httpd's error log.

use crate::apr::unix;

/// Write `AUTHNZ_WSGI%04d: message` at `level` (httpd's level name).
pub fn line(level: &str, tag: u16, message: &str) {
    let text = format!(
        "[{}] [authnz_wsgi:{level}] [pid {}] AUTHNZ_WSGI{tag:04}: {}\n",
        unix::ctime_now(),
        unix::pid(),
        message.replace('\n', "\\n")
    );
    // One write call, so concurrent lines do not interleave, and no lock a
    // stuck thread could hold.
    unix::write_stderr(text.as_bytes());
}
