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

use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::auth_providers::{self as providers, Registration};
use crate::module::{access, authn, authz_group};

/// mod_wsgi's module name (its `module.name`).
const MOD_WSGI: &CStr = c"mod_wsgi.c";

/// Set in `pre_config` of each configuration cycle.
static BESIDE: AtomicBool = AtomicBool::new(false);

/// Whether mod_wsgi is loaded in this server (as of the last `pre_config`).
pub fn is_beside() -> bool {
    BESIDE.load(Ordering::Relaxed)
}

/// Whether a module named `name` is loaded.
pub fn is_loaded(name: &CStr) -> bool {
    // SAFETY: a lookup in httpd's module list by a C string.
    !unsafe { ffi::ap_find_linked_module(name.as_ptr()) }.is_null()
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
        drop_access_hook_of(MOD_WSGI);
    }
    beside
}

/// Remove every `access_checker` hook `module` registered.
fn drop_access_hook_of(module: &CStr) {
    // SAFETY: the hook list is httpd's array of registered access_checker
    // hooks (or NULL when none is registered); configuration is read on one
    // thread, and pre_config runs after the hooks were registered and sorted
    // and before any request. Entries are moved within the array's own
    // `nelts` elements, and `nelts` only shrinks.
    unsafe {
        let Some(hooks) = ffi::ap_hook_get_access_checker().as_mut() else {
            return;
        };
        let entries = hooks.elts.cast::<ffi::ap_LINK_access_checker_t>();
        let count = usize::try_from(hooks.nelts).unwrap_or(0);
        let mut kept = 0;
        for i in 0..count {
            let entry = entries.add(i).read();
            if !registered_by(entry.szName, module) {
                entries.add(kept).write(entry);
                kept += 1;
            }
        }
        hooks.nelts = kept as i32;
    }
}

/// Whether a hook's `szName` (the registering module's name) is `module`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
unsafe fn registered_by(name: *const c_char, module: &CStr) -> bool {
    // SAFETY: per the contract above.
    !name.is_null() && unsafe { CStr::from_ptr(name) } == module
}
