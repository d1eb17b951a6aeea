//! Process lifecycle hooks: refusing to start next to mod_python and taking
//! the script directives over from mod_wsgi (`pre_config`), starting Python
//! in each child — or attaching to the interpreter mod_wsgi started there —
//! when the configuration uses Python at all (`child_init`), and giving
//! each worker thread its Python thread state before mod_wsgi touches it
//! (`create_request`).

use authnz_core::log_tags as tags;
use std::ffi::CStr;
use std::ptr::null;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::apr::{first_claim, Pool};
use crate::ffi;
use crate::httpd::hook_order::HookOrder;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::{mpm, Request, Server};
use crate::module::auth_daemons;
use crate::module::beside_mod_wsgi;
use crate::module::config::ServerConfig;
use crate::module::daemon_dispatch;
use crate::module::process_group_scope;
use crate::module::script_readability;
use crate::python::call_limit;
use crate::python::runtime::{self, PythonSettings};

use crate::slog;

/// Embeds CPython too, and cannot share it.
const MOD_PYTHON: &CStr = c"mod_python.c";

/// Our `child_init` runs after mod_wsgi's, which may start Python.
static CHILD_INIT_AFTER: HookOrder<2> = HookOrder([c"mod_wsgi.c".as_ptr(), null()]);

/// The process lifecycle's hooks.
pub fn register() {
    hooks::pre_config::<PreConfigCheck>(Order::MIDDLE);
    // After mod_wsgi's: when it starts Python in the child, this module
    // attaches to that interpreter instead of starting one.
    hooks::child_init::<StartPython>(Order::MIDDLE.after(&CHILD_INIT_AFTER));
    // First on every request: a worker thread gets its thread state in the
    // main interpreter before mod_wsgi gives it one of its own.
    hooks::create_request::<ThreadStateFirst>(Order::REALLY_FIRST);
}

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

/// Whether the configuration being read names a script that runs in an
/// auth daemon process (`process-group=`): those need no Python in the
/// children. Reset and read as [`PYTHON_NEEDED`] is. Scripts without
/// `process-group=` run where `WSGIAuthProcessGroup` says
/// (`process_group_scope`).
static DAEMON_SCRIPTS: AtomicBool = AtomicBool::new(false);

/// Called for a script directive with `process-group=`.
pub fn note_daemon_script() {
    DAEMON_SCRIPTS.store(true, Ordering::Relaxed);
}

/// `pre_config`: all `LoadModule` lines have run; fail start-up (and
/// `apache2 -t`) when mod_python is loaded, and take the script
/// directives over from mod_wsgi when it is.
struct PreConfigCheck;

impl hooks::PreConfig for PreConfigCheck {
    const NAME: &'static str = "pre_config";

    fn run(pconf: Pool) -> hooks::Status {
        PYTHON_NEEDED.store(false, Ordering::Relaxed);
        DAEMON_SCRIPTS.store(false, Ordering::Relaxed);
        process_group_scope::forget();
        daemon_dispatch::forget();
        // The first child of this start or restart logs Python's line at
        // notice, which every LogLevel shows; the others at info.
        first_claim::renew(pconf);
        script_readability::forget_scripts();
        auth_daemons::forget();
        if beside_mod_wsgi::is_loaded(MOD_PYTHON) {
            slog!(
                None,
                Level::Emerg,
                tags::MOD_PYTHON_LOADED,
                "mod_authnz_wsgi cannot be loaded together with mod_python.c: only one CPython \
                 can live in an httpd process and mod_python does not share it. Remove the \
                 LoadModule line of one of them."
            );
            return ffi::HOOK_SERVER_ERROR;
        }
        if beside_mod_wsgi::take_over_auth(pconf) {
            slog!(
                None,
                Level::Debug,
                tags::BESIDE_MOD_WSGI,
                "mod_wsgi is loaded: this module answers WSGIAuthUserScript, \
                 WSGIAuthGroupScript and WSGIAccessScript (providers wsgi, wsgi-group, \
                 wsgi-host); mod_wsgi keeps hosting applications"
            );
        }
        ffi::HOOK_OK
    }
}

/// `WSGIMaxConcurrentCalls`, by default three quarters of the worker
/// threads, so a hung script never occupies every thread of a child and
/// requests that need no Python keep being served.
fn concurrent_call_cap(main: Server) -> usize {
    let configured = main
        .module_config::<ServerConfig>()
        .and_then(|c| c.max_concurrent_calls);
    configured.unwrap_or_else(|| (mpm::threads_per_child() * 3 / 4).max(1))
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

/// `child_init`: start Python in this child (or attach to the one mod_wsgi
/// started), unless no configuration uses it.
struct StartPython;

impl hooks::ChildInit for StartPython {
    const NAME: &'static str = "child_init";

    fn run(pchild: Pool, main: Server) {
        call_limit::configure(concurrent_call_cap(main), concurrent_call_wait(main));
        let needed =
            PYTHON_NEEDED.load(Ordering::Relaxed) || process_group_scope::may_run_embedded();
        let daemon_scripts =
            DAEMON_SCRIPTS.load(Ordering::Relaxed) || process_group_scope::may_run_in_daemons();
        if !needed {
            slog!(
                Some(main),
                Level::Info,
                tags::PYTHON_NOT_NEEDED,
                "Python not started in child {}: {}",
                std::process::id(),
                if daemon_scripts {
                    "every WSGIAuthUserScript, WSGIAuthGroupScript and WSGIAccessScript runs in \
                     an auth daemon process (process-group= or WSGIAuthProcessGroup) and \
                     WSGIAuthAllowOverride is Off"
                } else {
                    "no WSGIAuthUserScript, WSGIAuthGroupScript or WSGIAccessScript is \
                     configured and WSGIAuthAllowOverride is Off"
                }
            );
            return;
        }
        let beside = beside_mod_wsgi::is_beside();
        match runtime::start(&python_settings(main), beside) {
            Ok(started) => slog!(
                Some(main),
                if first_claim::claim() {
                    Level::Notice
                } else {
                    Level::Info
                },
                tags::PYTHON_STARTED,
                "Python {} {} child {} (sys.prefix {}, library {})",
                started.version,
                if started.attached {
                    "(started by mod_wsgi) used in"
                } else {
                    "started in"
                },
                std::process::id(),
                started.prefix,
                started.library
            ),
            Err(message) => slog!(
                Some(main),
                Level::Error,
                tags::PYTHON_UNAVAILABLE,
                "Python is not available in child {}: {message}; every request that needs a script \
                 will be answered with an error{}",
                std::process::id(),
                if daemon_scripts {
                    " (scripts with process-group= or under WSGIAuthProcessGroup run in their \
                     auth daemon processes and are not affected)"
                } else {
                    ""
                }
            ),
        }
        // Registered after mod_wsgi's child cleanups, so it runs before
        // them: Python calls stop before mod_wsgi finalises the interpreter.
        pchild.alloc(ChildExit);
    }
}

/// Dropped by the child pool's cleanup as the child exits.
struct ChildExit;

impl Drop for ChildExit {
    fn drop(&mut self) {
        runtime::stop();
    }
}

/// `create_request`, first: give the worker thread its thread state in the
/// main interpreter before anything else in the request uses Python.
/// Beside mod_wsgi only: its first use of Python on a thread would
/// otherwise decide which thread state `PyGILState` hands out there.
struct ThreadStateFirst;

impl hooks::RequestHook for ThreadStateFirst {
    const NAME: &'static str = "create_request";
    const ON_PANIC: hooks::Status = ffi::HOOK_DECLINED;

    fn run(_r: Request) -> hooks::Status {
        if beside_mod_wsgi::is_beside() && runtime::is_ready() {
            runtime::prepare_thread();
        }
        ffi::HOOK_DECLINED
    }
}
