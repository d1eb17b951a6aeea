//! mod_authnz_wsgi: an Apache httpd 2.4 module in which plain Python
//! functions decide who gets in, a drop-in replacement for mod_wsgi's
//! `WSGIAuthUserScript` (authn provider `wsgi` for Basic and Digest), with
//! identity reflection from response headers (`WSGIReflectAuth`).
//!
//! This file holds only the exported module record and `register_hooks`,
//! which asks each concern to register its own hooks and providers;
//! `ffi/` is the generated bindings and the C shim, `apr/` and `httpd/` the
//! safe layer, `module/` the concerns and `python/` the embedded
//! interpreter.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod apr;
mod ffi;
mod httpd;
mod module;
mod python;

use std::ptr::{addr_of_mut, null, null_mut};

use httpd::guard::{guard, install_panic_hook};
use httpd::module_config;
use module::config::{DirConfig, ServerConfig};
use module::{
    access, auth_setup_check, authn, authz_group, directives, lifecycle, reflect,
    require_any_warning, script_readability, socache,
};

/// The module record httpd links into its module list. It must be mutable
/// memory: httpd writes `module_index`, `next` and `dynamic_load_handle`.
/// Its standard start (`STANDARD20_MODULE_STUFF`: magic cookie, MMN, name)
/// is written by [`FILL_MODULE_HEADER`] as the module is loaded, from the C
/// shim compiled against the installed headers; until then the cookie is
/// 0, which httpd refuses to load.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut authnz_wsgi_module: ffi::module = ffi::module {
    version: 0,
    minor_version: 0,
    module_index: -1,
    name: null(),
    dynamic_load_handle: null_mut(),
    next: null_mut(),
    magic: 0,
    rewrite_args: None,
    create_dir_config: Some(module_config::create_dir::<DirConfig>),
    merge_dir_config: Some(module_config::merge_dir::<DirConfig>),
    create_server_config: Some(module_config::create_server::<ServerConfig>),
    merge_server_config: Some(module_config::merge_server::<ServerConfig>),
    cmds: directives::COMMANDS.as_ptr(),
    register_hooks: Some(register_hooks),
    #[cfg(httpd_module_flags)]
    flags: 0,
};

/// Runs when the dynamic loader maps the module (`dlopen`, before httpd
/// looks the record up): the record's standard start, from httpd's macros.
#[used]
#[link_section = ".init_array"]
static FILL_MODULE_HEADER: extern "C" fn() = fill_module_header;

extern "C" fn fill_module_header() {
    // SAFETY: runs once, as the library is loaded, before anything else can
    // read the record; the shim only writes the record's first fields.
    unsafe { ffi::authnz_wsgi_module_header(addr_of_mut!(authnz_wsgi_module)) };
}

unsafe extern "C" fn register_hooks(pool: *mut ffi::apr_pool_t) {
    httpd::module_record::set(addr_of_mut!(authnz_wsgi_module));
    install_panic_hook();
    guard("register_hooks", (), || {
        // SAFETY: httpd hands register_hooks its live configuration pool.
        let Some(pool) = (unsafe { apr::Pool::from_raw(pool) }) else {
            return;
        };
        lifecycle::register();
        authn::register(pool);
        authz_group::register(pool);
        access::register(pool);
        socache::register();
        reflect::register();
        require_any_warning::register();
        script_readability::register();
        auth_setup_check::register();
    });
}
