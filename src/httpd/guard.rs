//! The panic boundary. Every `extern "C"` function httpd calls runs its body
//! through [`guard`]: a Rust panic becomes a log line and an error status
//! instead of unwinding into httpd (which would abort the whole child with
//! all its in-flight requests).

use authnz_core::log_tags as tags;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::httpd::log::Level;
use crate::slog;

thread_local! {
    /// Where the last panic on this thread happened, recorded by the hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replace the default hook (which prints to stderr) with one that records
/// message and location for the guard to log.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_owned());
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message} at {location}")));
        }));
    });
}

/// Run `body`; if it panics, log the panic (tag 1) and return `on_panic`.
pub fn guard<R>(entry: &str, on_panic: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(_) => {
            let detail = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".to_owned());
            // Logging itself must not panic again: slog only formats.
            let _ = catch_unwind(|| {
                slog!(
                    None,
                    Level::Error,
                    tags::INTERNAL_ERROR,
                    "internal error in {entry}: {detail}; request refused"
                )
            });
            on_panic
        }
    }
}
