//! Whether the children can read each script the configuration names,
//! checked once the whole configuration is read (`check_config`, which
//! runs under `apache2 -t` too): only then is the `User`/`Group` the
//! children run as final, wherever in the configuration it is written.
//! Root reads the configuration, so a script only root can read would pass
//! the directive's own check and fail in every child. The directives note
//! each script here (`note_script`); `pre_config` forgets the notes of an
//! earlier reading (httpd reads the configuration twice at start and again
//! on each restart).

use std::path::Path;
use std::sync::Mutex;

use authnz_core::log_tags as tags;

use crate::ffi;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::unixd::{can_read, child_identity};
use crate::httpd::Server;
use crate::slog;

/// A script directive read from the server configuration.
struct NotedScript {
    directive: String,
    path: String,
    /// `file:line` of the directive.
    location: String,
}

static NOTED: Mutex<Vec<NotedScript>> = Mutex::new(Vec::new());

/// Register the hook (from `lifecycle::register`'s caller).
pub fn register() {
    hooks::check_config::<CheckScripts>(Order::MIDDLE);
}

/// Forget the scripts of an earlier reading of the configuration.
pub fn forget_scripts() {
    NOTED.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Remember a script of the server configuration (not `.htaccess`: there
/// the child itself opens the file).
pub fn note_script(directive: &str, path: &str, location: String) {
    NOTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(NotedScript {
            directive: directive.to_owned(),
            path: path.to_owned(),
            location,
        });
}

/// `check_config`: one line per script the children could not read; any
/// such script stops start-up (and fails `apache2 -t`).
struct CheckScripts;

impl hooks::CheckConfig for CheckScripts {
    const NAME: &'static str = "check_config (script readability)";

    fn run(_main: Server) -> hooks::Status {
        let noted = std::mem::take(&mut *NOTED.lock().unwrap_or_else(|e| e.into_inner()));
        let Some(child) = child_identity() else {
            // Not started as root: the children are this user, and the
            // directive opened each file as it.
            return ffi::HOOK_OK;
        };
        let mut refused = false;
        for script in noted {
            if can_read(&child, Path::new(&script.path)) {
                continue;
            }
            refused = true;
            // The logs are not open yet: NULL writes to stderr.
            slog!(
                None,
                Level::Emerg,
                tags::SCRIPT_NOT_READABLE_BY_CHILD,
                "{} at {}: script '{}' is not readable by the user Apache's children run as \
                 ({}); give that user read access to the file and search access to its \
                 directories",
                script.directive,
                script.location,
                script.path,
                child.user_name
            );
        }
        if refused {
            ffi::HOOK_SERVER_ERROR
        } else {
            ffi::HOOK_OK
        }
    }
}
