//! Running beside mod_wsgi (docs/migrating-from-mod_wsgi.md, Coexistence): mod_wsgi keeps hosting
//! the application, this module answers `WSGIAuthUserScript`,
//! `WSGIAuthGroupScript` and `WSGIAccessScript`.
//!
//! httpd hands every directive to each loaded module that defines it
//! (`server/config.c`, `ap_walk_config_sub`), so mod_wsgi reads the three
//! script directives too. What it would do with them is taken back in
//! `pre_config`, which runs after every `LoadModule` and before any other
//! directive (`server/main.c`), whatever the `LoadModule` order:
//!
//! - mod_wsgi registers the providers `wsgi` (authn) and `wsgi-group`
//!   (authz) under our names; registering ours again replaces them
//!   (`ap_register_provider` keeps the last one per name), so `AuthBasicProvider
//!   wsgi` and `Require wsgi-group` reach this module.
//! - mod_wsgi runs `WSGIAccessScript` from its own `access_checker` hook;
//!   that hook is taken out of httpd's list, so the script runs once, here.
//!   (It is also the only authentication hook mod_wsgi registers without
//!   `AP_AUTH_INTERNAL_PER_CONF`, which switched off httpd's skipping of
//!   access checks on internal redirects for the whole server.)
//!
//! Python itself is shared: see `python::runtime` (attach to the
//! interpreter mod_wsgi started in the child, or start one when it did not).

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::apr::Pool;
use crate::httpd::auth_providers::{self as providers, Registration};
use crate::httpd::foreign;
use crate::httpd::hooks;
use crate::module::{access, authn, authz_group};

/// mod_wsgi's module name (its `module.name`).
const MOD_WSGI: &CStr = c"mod_wsgi.c";

/// Set in `pre_config` of each configuration cycle.
static BESIDE: AtomicBool = AtomicBool::new(false);

/// Whether mod_wsgi is loaded in this server (as of the last `pre_config`).
pub fn is_beside() -> bool {
    BESIDE.load(Ordering::Relaxed)
}

/// Whether a module built from `name` (such as `mod_wsgi.c`) is loaded.
pub fn is_loaded(name: &CStr) -> bool {
    foreign::loaded(name).is_some()
}

/// In `pre_config`: when mod_wsgi is loaded, make the script directives
/// ours alone. Returns whether mod_wsgi is loaded.
pub fn take_over_auth(pconf: Pool) -> bool {
    let beside = is_loaded(MOD_WSGI);
    BESIDE.store(beside, Ordering::Relaxed);
    if beside {
        for provider in [
            authn::provider(),
            authz_group::provider(),
            access::provider(),
        ] {
            providers::register(pconf, provider, Registration::Replacing);
        }
        hooks::remove_access_checkers_of(MOD_WSGI);
    }
    beside
}
