//! mod_authnz_wsgi: an Apache httpd 2.4 module in which plain Python
//! functions decide who gets in, a drop-in replacement for mod_wsgi's
//! `WSGIAuthUserScript` (authn provider `wsgi` for Basic and Digest), with
//! identity reflection from response headers (`WSGIReflectAuth`).
//!
//! This file declares the exported module record (through the httpd
//! layer's `declare_module!`) and asks each concern to register its own
//! hooks and providers;
//! `ffi/` is the generated bindings and the C shim, `apr/` and `httpd/` the
//! safe layer, `module/` the concerns and `python/` the embedded
//! interpreter.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod apr;
mod cpython;
mod daemon;
mod ffi;
mod httpd;
mod module;
mod python;

use module::config::{DirConfig, ServerConfig};
use module::{
    access, auth_daemons, auth_setup_check, authn, authz_group, directives, lifecycle, reflect,
    require_any_warning, script_readability, socache, status,
};

httpd::module_record::declare_module!(
    authnz_wsgi_module,
    dir: DirConfig,
    server: ServerConfig,
    commands: directives::COMMANDS,
    register: register,
);

/// Each concern registers its own hooks and providers.
fn register(pool: apr::Pool) {
    lifecycle::register();
    authn::register(pool);
    authz_group::register(pool);
    access::register(pool);
    socache::register();
    reflect::register();
    require_any_warning::register();
    script_readability::register();
    auth_daemons::register();
    auth_setup_check::register();
    status::register();
}
