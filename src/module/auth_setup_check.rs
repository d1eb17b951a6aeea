//! Start-up checks of how the module's directives are combined with
//! httpd's (the judgement is `authnz_core::auth_setup`): a
//! `Require wsgi-group` whose section certainly gets no
//! `WSGIAuthGroupScript` stops start-up and fails `apache2 -t`
//! (`AUTHNZ_WSGI0105`, from `check_config`, before any log file is open,
//! so on stderr); a section that uses the module with no `AuthType` or no
//! `AuthBasicProvider`/`AuthDigestProvider` gets a warning
//! (`AUTHNZ_WSGI0104`), logged as `require_any_warning` logs its own: under
//! `apache2 -t` from `test_config`, at start-up after the second reading.

use authnz_core::auth_setup::{find_auth_setup_problems, Finding};
use authnz_core::log_tags as tags;

use crate::ffi;
use crate::httpd::conftree::parsed_configuration;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::server_state;
use crate::httpd::Server;
use crate::slog;

/// Register the three hooks (from `register_hooks`).
pub fn register() {
    hooks::check_config::<RefuseCertainFailures>(Order::MIDDLE);
    hooks::test_config::<WarnUnderTest>(Order::MIDDLE);
    hooks::post_config::<WarnAtStart>(Order::MIDDLE);
}

fn findings(fatal: bool) -> Vec<Finding> {
    find_auth_setup_problems(&parsed_configuration())
        .into_iter()
        .filter(|f| f.fatal == fatal)
        .collect()
}

/// `check_config`: every reading of the configuration, `apache2 -t` too.
struct RefuseCertainFailures;

impl hooks::CheckConfig for RefuseCertainFailures {
    const NAME: &'static str = "check_config (Require wsgi-group without a script)";

    fn run(_main: Server) -> hooks::Status {
        let fatal = findings(true);
        for finding in &fatal {
            // No log file is open yet: NULL logs to stderr.
            slog!(
                None,
                Level::Emerg,
                tags::GROUP_SCRIPT_CERTAINLY_MISSING,
                "{}",
                finding.message
            );
        }
        if fatal.is_empty() {
            ffi::HOOK_OK
        } else {
            ffi::HOOK_SERVER_ERROR
        }
    }
}

fn warn(server: Option<Server>) {
    for finding in findings(false) {
        slog!(
            server,
            Level::Warning,
            tags::AUTH_SETUP_INCOMPLETE,
            "{}",
            finding.message
        );
    }
}

/// `apache2 -t`: the configuration was read once.
struct WarnUnderTest;

impl hooks::TestConfig for WarnUnderTest {
    const NAME: &'static str = "test_config (auth setup)";

    fn run(_main: Server) {
        warn(None);
    }
}

/// Start-up and restarts, after the logs are open.
struct WarnAtStart;

impl hooks::PostConfig for WarnAtStart {
    const NAME: &'static str = "post_config (auth setup)";

    fn run(main: Server) -> hooks::Status {
        if !server_state::is_first_reading() {
            warn(Some(main));
        }
        ffi::HOOK_OK
    }
}
