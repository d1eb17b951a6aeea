//! What the configuration being read says about where scripts run, for
//! the decision whether Apache's children start Python
//! (`lifecycle`, `AUTHNZ_WSGI0058`): the script directives without
//! `process-group=` and the `WSGIAuthProcessGroup` lines, with where each
//! was written (`authnz_core::process_group_scope` decides). Noted by the
//! directive handlers, forgotten in `pre_config` before each reading.

use std::sync::Mutex;

use authnz_core::process_group_scope::{Place, Scope};

use crate::httpd::cmd::Cmd;
use crate::module::config::DirConfig;

static SCOPE: Mutex<Scope> = Mutex::new(Scope::new());

fn scope() -> std::sync::MutexGuard<'static, Scope> {
    SCOPE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the directive `cmd` is read, its section's record being `dir`.
fn place(cmd: Cmd, dir: &DirConfig) -> Place {
    let (top, server, virtual_host) = cmd.section_place();
    Place {
        section: dir as *const DirConfig as usize,
        server,
        top,
        virtual_host,
    }
}

/// Forget the notes of an earlier reading of the configuration.
pub fn forget() {
    *scope() = Scope::new();
}

/// A script directive without `process-group=`, outside `.htaccess`.
pub fn note_script(cmd: Cmd, dir: &DirConfig) {
    scope().note_script(place(cmd, dir));
}

/// A `WSGIAuthProcessGroup` naming a daemon group, or `%{GLOBAL}`.
pub fn note_setting(cmd: Cmd, dir: &DirConfig, embedded: bool) {
    scope().note_setting(place(cmd, dir), embedded);
}

/// Whether a script directive without `process-group=` may run in an
/// auth daemon group (a `WSGIAuthProcessGroup NAME` is written).
pub fn may_run_in_daemons() -> bool {
    scope().may_run_in_daemons()
}

/// Whether a script directive without `process-group=` may run in an
/// Apache child.
pub fn may_run_embedded() -> bool {
    scope().may_run_embedded()
}
