//! The start-up warning for the group recipe that admits every valid user
//! (docs/authorization.md#the-requireany-trap; the judgement is `authnz_core::require_any`): one warning
//! (`AUTHNZ_WSGI0103`) per section of the configuration whose `Require`
//! lines let the group check be bypassed, naming files and lines and the
//! fix.
//!
//! Which hooks see a configuration (server/main.c): under `apache2 -t` it
//! is read once and `test_config` runs, before any log file is open, so the
//! warnings go to stderr. At start-up it is read twice, and `post_config`
//! runs after each reading with the logs open; the first reading only
//! checks, so the warnings are logged after the second one (and after every
//! reading of a graceful or full restart), each once, to the main server's
//! error log at its `LogLevel`.

use authnz_core::log_tags as tags;

use authnz_core::require_any::find_require_any_traps;

use crate::ffi;
use crate::httpd::conftree::parsed_configuration;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::server_state;
use crate::httpd::Server;
use crate::slog;

/// Register the two hooks (from `register_hooks`).
pub fn register() {
    hooks::test_config::<WarnUnderTest>(Order::MIDDLE);
    hooks::post_config::<WarnAtStart>(Order::MIDDLE);
}

/// Log a warning for every section of the configuration just read.
fn warn(server: Option<Server>) {
    for warning in find_require_any_traps(&parsed_configuration()) {
        slog!(
            server,
            Level::Warning,
            tags::REQUIRE_ANY_TRAP,
            "{}",
            warning.message
        );
    }
}

/// `apache2 -t` (and `-S`, `-D DUMP_...`): the configuration was read once.
struct WarnUnderTest;

impl hooks::TestConfig for WarnUnderTest {
    const NAME: &'static str = "test_config";

    fn run(_main: Server) {
        // No log file is open yet: NULL logs to stderr.
        warn(None);
    }
}

/// Start-up and restarts, after the logs are open.
struct WarnAtStart;

impl hooks::PostConfig for WarnAtStart {
    const NAME: &'static str = "post_config";

    fn run(main: Server) -> hooks::Status {
        if server_state::is_first_reading() {
            // The first of the two readings at start-up: the second one,
            // which the server runs with, warns.
            return ffi::HOOK_OK;
        }
        warn(Some(main));
        ffi::HOOK_OK
    }
}
