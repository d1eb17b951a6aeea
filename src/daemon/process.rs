//! A daemon process's life after `fork`: wait out the restart back-off,
//! take its name (`authnz-daemon`), put signals back to their defaults,
//! close every descriptor it inherited but its group's listening socket
//! (Apache's listeners, logs, pipes: as mod_cgid's daemon does), drop to
//! the group's account, die with the parent, start Python, serve. It never
//! returns: it ends with `_exit`, so none of the parent's exit handlers or
//! pool cleanups run in it.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use authnz_core::daemon_supervision::LAST_SIGNAL;
use authnz_core::log_tags as tags;

use crate::apr::unix;
use crate::daemon::server::{self, Serving};
use crate::daemon::stderr_log;
use crate::python::daemon_side::{self, DaemonPython};

/// The process name (`/proc/PID/comm`).
pub const PROCESS_NAME: &str = "authnz-daemon";
/// The exit status of a process that could not be set up (its account, its
/// Python): the parent restarts it with back-off. Not one of httpd's
/// `APEXIT_*` values, which would make the MPM stop.
pub const EXIT_SETUP_FAILED: i32 = 78;

// httpd reports a daemon's end by one number, its exit status or the
// signal that killed it: a daemon's own statuses must be no signal's.
const _: () =
    assert!(EXIT_SETUP_FAILED > LAST_SIGNAL && crate::daemon::watchdog::EXIT_OVERRUN > LAST_SIGNAL);

/// What one daemon process is to be.
pub struct Spec {
    pub serving: Serving,
    pub uid: u32,
    pub gid: u32,
    pub python: DaemonPython,
    /// Apache's parent.
    pub parent: i32,
    /// Wait this long before starting (the restart back-off).
    pub delay: Duration,
}

/// Run the daemon process; never returns.
pub fn run(spec: &Spec, listener: UnixListener) -> ! {
    unix::reset_signals_for_daemon();
    unix::set_process_name(PROCESS_NAME);
    unix::close_descriptors_except(&[listener.as_raw_fd()]);
    if !spec.delay.is_zero() {
        // A stop or restart during the back-off ends the process at once.
        std::thread::sleep(spec.delay);
    }
    unix::block_termination_signals();
    let group = &spec.serving.group;
    let fail = |what: String| -> ! {
        stderr_log::line(
            "error",
            tags::DAEMON_SETUP_FAILED,
            &format!("daemon group {group}: {what}; the process ends and is started again"),
        );
        unix::exit_now(EXIT_SETUP_FAILED)
    };
    if unix::is_root() {
        if let Err(e) = unix::drop_privileges(spec.uid, spec.gid) {
            fail(format!(
                "cannot become uid {} gid {}: {e}",
                spec.uid, spec.gid
            ));
        }
    } else if unix::ids() != (spec.uid, spec.gid) {
        fail(format!(
            "Apache was not started as root, so the process cannot become uid {} gid {}",
            spec.uid, spec.gid
        ));
    }
    unix::die_with_parent(libc::SIGTERM, spec.parent);
    let _ = std::env::set_current_dir("/");
    if let Err(e) = daemon_side::start(&spec.python) {
        fail(format!("Python could not be started: {e}"));
    }
    server::serve(listener, &spec.serving);
    unix::exit_now(0)
}
