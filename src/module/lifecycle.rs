//! Process lifecycle hooks: refusing to start next to another embedder of
//! CPython (`pre_config`), and starting Python in each child (`child_init`)
//! when the configuration uses Python at all.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::ffi;
use crate::httpd::guard::guard;
use crate::httpd::log::Level;
use crate::httpd::Server;
use crate::module::config::ServerConfig;
use crate::python::call_limit;
use crate::python::runtime::{self, PythonSettings};
use crate::slog;

/// Modules that embed CPython (and mod_wsgi also registers our names).
const CONFLICTING_MODULES: [&CStr; 2] = [c"mod_wsgi.c", c"mod_python.c"];

/// Whether the configuration being read names a Python script (or lets
/// `.htaccess` files name one). Reset in `pre_config`, before every reading
/// of the configuration (httpd reads it twice at start and again on each
/// restart), set by the directive handlers, read in `child_init`: a server
/// that only reflects identities never starts an interpreter.
static PYTHON_NEEDED: AtomicBool = AtomicBool::new(false);

/// Called by the directives that make Python necessary.
pub fn note_python_needed() {
    PYTHON_NEEDED.store(true, Ordering::Relaxed);
}

/// `pre_config`: all `LoadModule` lines have run; fail start-up (and
/// `apache2 -t`) when another CPython embedder is loaded.
pub unsafe extern "C" fn pre_config(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
) -> i32 {
    guard("pre_config", ffi::HOOK_SERVER_ERROR, || {
        PYTHON_NEEDED.store(false, Ordering::Relaxed);
        for name in CONFLICTING_MODULES {
            // SAFETY: a lookup in httpd's module list by a C string literal.
            if !unsafe { ffi::ap_find_linked_module(name.as_ptr()) }.is_null() {
                slog!(
                    None,
                    Level::Emerg,
                    2,
                    "mod_authnz_wsgi cannot be loaded together with {}: only one CPython can live in an \
                     httpd process and both modules register the WSGIAuth* directives. Remove the \
                     LoadModule line of one of them (mod_authnz_wsgi replaces mod_wsgi's \
                     WSGIAuthUserScript, WSGIAuthGroupScript and WSGIAccessScript).",
                    name.to_string_lossy()
                );
                return ffi::HOOK_SERVER_ERROR;
            }
        }
        ffi::HOOK_OK
    })
}

/// Threads per child from the MPM (1 for prefork).
fn threads_per_child() -> usize {
    let mut threads: std::ffi::c_int = 1;
    // SAFETY: ap_mpm_query writes one int for AP_MPMQ_MAX_THREADS.
    let status = unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_MAX_THREADS as i32, &mut threads) };
    if status == 0 && threads > 0 {
        threads as usize
    } else {
        1
    }
}

/// `WSGIMaxConcurrentCalls`, by default three quarters of the worker
/// threads, so a hung script never occupies every thread of a child and
/// requests that need no Python keep being served.
fn concurrent_call_cap(main: Server) -> usize {
    let configured = main
        .module_config::<ServerConfig>()
        .and_then(|c| c.max_concurrent_calls);
    configured.unwrap_or_else(|| (threads_per_child() * 3 / 4).max(1))
}

/// How long a call beyond the cap waits for a slot before it is refused.
fn concurrent_call_wait(main: Server) -> Duration {
    main.module_config::<ServerConfig>()
        .and_then(|c| c.max_call_wait)
        .unwrap_or(call_limit::DEFAULT_WAIT)
}

/// The Python settings of the main server.
fn python_settings(main: Server) -> PythonSettings {
    let config = main
        .module_config::<ServerConfig>()
        .cloned()
        .unwrap_or_default();
    PythonSettings {
        home: config.python_home,
        path: config.python_path,
    }
}

/// `child_init`: start Python in this child, unless no configuration
/// uses it.
pub unsafe extern "C" fn child_init(_pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    guard("child_init", (), || {
        // SAFETY: httpd passes the live main server record.
        let Some(main) = (unsafe { Server::from_raw(s) }) else {
            return;
        };
        call_limit::configure(concurrent_call_cap(main), concurrent_call_wait(main));
        if !PYTHON_NEEDED.load(Ordering::Relaxed) {
            slog!(
                Some(main),
                Level::Info,
                58,
                "Python not started in child {}: no WSGIAuthUserScript, WSGIAuthGroupScript or \
                 WSGIAccessScript is configured and WSGIAuthAllowOverride is Off",
                std::process::id()
            );
            return;
        }
        match runtime::initialize(&python_settings(main)) {
            Ok(started) => slog!(
                Some(main),
                Level::Info,
                3,
                "Python {} started in child {} (sys.prefix {}, library {})",
                started.version,
                std::process::id(),
                started.prefix,
                started.library
            ),
            Err(message) => slog!(
                Some(main),
                Level::Error,
                4,
                "Python is not available in child {}: {message}; every request that needs a script \
                 will be answered with an error",
                std::process::id()
            ),
        }
    })
}
