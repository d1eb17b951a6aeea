//! Logging through httpd's error log with the module's own log index, so
//! `LogLevel authnz_wsgi:debug` works. Every message is passed as the
//! argument of a constant `"%s"` format and carries a numbered tag
//! (`AUTHNZ_WSGI0012:`); callers never put a password or realm hash in one.

use std::ffi::{c_char, c_int, CString};

use crate::ffi;
use crate::httpd::{Request, Server};

/// Log severities the module uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Emerg,
    Error,
    Warning,
    /// Always written, whatever the `LogLevel` (httpd's rule for start-up
    /// and shutdown notices, server/log.c).
    Notice,
    Info,
    Debug,
}

impl Level {
    fn raw(self) -> c_int {
        (match self {
            Level::Emerg => ffi::APLOG_EMERG,
            Level::Error => ffi::APLOG_ERR,
            Level::Warning => ffi::APLOG_WARNING,
            Level::Notice => ffi::APLOG_NOTICE,
            Level::Info => ffi::APLOG_INFO,
            Level::Debug => ffi::APLOG_DEBUG,
        }) as c_int
    }
}

const PERCENT_S: &[u8] = b"%s\0";

/// `AUTHNZ_WSGI0012: message` as a C string; interior NULs are shown as `\0`.
fn tagged(tag: u16, message: &str) -> CString {
    let text = format!("AUTHNZ_WSGI{tag:04}: {message}").replace('\0', "\\0");
    CString::new(text).expect("NULs were escaped")
}

/// The module's log index (`-1` before httpd assigned one).
fn module_index() -> c_int {
    crate::httpd::module_record::index()
}

/// Whether `level` is logged for this request (its per-directory
/// `LogLevel` for this module), so callers format only what is written.
pub fn request_enabled(r: &Request, level: Level) -> bool {
    if level == Level::Notice {
        return true;
    }
    // SAFETY: `r` wraps a live request record.
    unsafe { ffi::ap_get_request_module_loglevel(r.as_ptr(), module_index()) >= level.raw() }
}

/// Whether `level` is logged for this server (`None`: always, as the
/// start-up log has no level to consult).
pub fn server_enabled(s: Option<Server>, level: Level) -> bool {
    if level == Level::Notice {
        return true;
    }
    match s {
        // SAFETY: a `Server` wraps a live server record.
        Some(s) => unsafe {
            ffi::ap_get_server_module_loglevel(s.as_ptr(), module_index()) >= level.raw()
        },
        None => true,
    }
}

/// Log against a request: the line carries the client address. Callers
/// (the `rlog!` macro) have checked `request_enabled` first.
pub fn log_request(
    r: &Request,
    file: &'static [u8],
    line: u32,
    level: Level,
    tag: u16,
    message: &str,
) {
    let raw = r.as_ptr();
    let text = tagged(tag, message);
    // SAFETY: constant "%s" format with one C-string argument; `file` is a
    // NUL-terminated literal (see the log macros).
    unsafe {
        ffi::ap_log_rerror_(
            file.as_ptr().cast::<c_char>(),
            line as c_int,
            module_index(),
            level.raw(),
            0,
            raw,
            PERCENT_S.as_ptr().cast(),
            text.as_ptr(),
        )
    };
}

/// Log against a server (or, with `None`, the main server / stderr at
/// start-up). Callers (the `slog!` macro) have checked `server_enabled`.
pub fn log_server(
    s: Option<Server>,
    file: &'static [u8],
    line: u32,
    level: Level,
    tag: u16,
    message: &str,
) {
    let raw = s.map_or(std::ptr::null_mut(), Server::as_ptr);
    let text = tagged(tag, message);
    // SAFETY: constant "%s" format with one C-string argument; a NULL server
    // is allowed by ap_log_error (it logs to the main server's log or stderr).
    unsafe {
        ffi::ap_log_error_(
            file.as_ptr().cast::<c_char>(),
            line as c_int,
            module_index(),
            level.raw(),
            0,
            raw,
            PERCENT_S.as_ptr().cast(),
            text.as_ptr(),
        )
    };
}

/// `rlog!(r, Level::Error, 12, "text {}", x)`: log against a request. The
/// message is formatted only when the level is enabled.
#[macro_export]
macro_rules! rlog {
    ($r:expr, $level:expr, $tag:expr, $($fmt:tt)+) => {{
        let (request, level) = ($r, $level);
        if $crate::httpd::log::request_enabled(request, level) {
            $crate::httpd::log::log_request(
                request, concat!(file!(), "\0").as_bytes(), line!(), level, $tag,
                &format!($($fmt)+))
        }
    }};
}

/// `slog!(Some(server), Level::Info, 3, "text")`: log against a server.
/// The message is formatted only when the level is enabled.
#[macro_export]
macro_rules! slog {
    ($s:expr, $level:expr, $tag:expr, $($fmt:tt)+) => {{
        let (server, level) = ($s, $level);
        if $crate::httpd::log::server_enabled(server, level) {
            $crate::httpd::log::log_server(
                server, concat!(file!(), "\0").as_bytes(), line!(), level, $tag,
                &format!($($fmt)+))
        }
    }};
}

/// Write a line another process logged for this request (an auth daemon's
/// call, replayed by the child): `level` is httpd's level number
/// (`APLOG_EMERG` 0 ... `APLOG_DEBUG` 7; anything above is debug), `tag`
/// its numbered tag. The line is written exactly as one logged here with
/// `rlog!` would be, if the request's `LogLevel` for this module lets it.
pub fn replay_request(r: &Request, level: u8, tag: u16, message: &str) {
    let raw_level = c_int::from(level.min(ffi::APLOG_DEBUG as u8));
    // Notice is written at every LogLevel (httpd's rule).
    let enabled = raw_level == ffi::APLOG_NOTICE as c_int
        // SAFETY: `r` wraps a live request record.
        || unsafe { ffi::ap_get_request_module_loglevel(r.as_ptr(), module_index()) } >= raw_level;
    if !enabled {
        return;
    }
    let text = tagged(tag, message);
    // SAFETY: constant "%s" format with one C-string argument; the file
    // name is a NUL-terminated literal.
    unsafe {
        ffi::ap_log_rerror_(
            concat!(file!(), "\0").as_ptr().cast::<c_char>(),
            line!() as c_int,
            module_index(),
            raw_level,
            0,
            r.as_ptr(),
            PERCENT_S.as_ptr().cast(),
            text.as_ptr(),
        )
    };
}
