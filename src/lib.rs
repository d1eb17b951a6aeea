//! mod_authnz_wsgi: an Apache httpd 2.4 module in which plain Python
//! functions decide who gets in, a drop-in replacement for mod_wsgi's
//! `WSGIAuthUserScript` (authn provider `wsgi` for Basic and Digest), with
//! identity reflection from response headers (`WSGIReflectAuth`).
//!
//! This file holds only the exported module record and `register_hooks`;
//! `ffi/` is the generated bindings, `apr/` and `httpd/` the safe layer,
//! `module/` the httpd-facing logic and `python/` the embedded interpreter.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod apr;
mod ffi;
mod httpd;
mod module;
mod python;

use std::ffi::c_void;
use std::ptr::{addr_of, null, null_mut};

use httpd::guard::{guard, install_panic_hook};
use module::{access, authn, authz_group, config, directives, lifecycle, reflect, socache};

/// The module record httpd links into its module list. It must be mutable
/// memory: httpd writes `module_index`, `next` and `dynamic_load_handle`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut authnz_wsgi_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as i32,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as i32,
    module_index: -1,
    name: c"mod_authnz_wsgi.c".as_ptr(),
    dynamic_load_handle: null_mut(),
    next: null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as std::ffi::c_ulong,
    rewrite_args: None,
    create_dir_config: Some(config::create_dir_config),
    merge_dir_config: Some(config::merge_dir_config),
    create_server_config: Some(config::create_server_config),
    merge_server_config: Some(config::merge_server_config),
    cmds: &directives::COMMANDS as *const _ as *const ffi::command_rec,
    register_hooks: Some(register_hooks),
    #[cfg(httpd_module_flags)]
    flags: 0,
};

/// The index httpd assigned to this module (for configs and log levels).
pub(crate) fn module_index() -> i32 {
    // SAFETY: a plain read of a field httpd writes once while loading.
    unsafe { (*addr_of!(authnz_wsgi_module)).module_index }
}

unsafe extern "C" fn register_hooks(pool: *mut ffi::apr_pool_t) {
    install_panic_hook();
    guard("register_hooks", (), || {
        // SAFETY: hook registration with static functions, in the pool httpd
        // hands to register_hooks; the provider record is a static.
        unsafe {
            ffi::ap_hook_pre_config(
                Some(lifecycle::pre_config),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
            );
            ffi::ap_hook_child_init(
                Some(lifecycle::child_init),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
            );
            // Every configuration cycle: mod_authn_socache's optional
            // function may have moved (or gone) with a graceful restart.
            ffi::ap_hook_optional_fn_retrieve(
                Some(socache::optional_fn_retrieve),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
            );
            ffi::ap_register_auth_provider(
                pool,
                ffi::AUTHN_PROVIDER_GROUP.as_ptr().cast(),
                c"wsgi".as_ptr(),
                ffi::AUTHN_PROVIDER_VERSION.as_ptr().cast(),
                &authn::WSGI_AUTHN_PROVIDER as *const ffi::authn_provider as *const c_void,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            );
            ffi::ap_register_auth_provider(
                pool,
                ffi::AUTHZ_PROVIDER_GROUP.as_ptr().cast(),
                c"wsgi-host".as_ptr(),
                ffi::AUTHZ_PROVIDER_VERSION.as_ptr().cast(),
                &access::WSGI_HOST_PROVIDER as *const ffi::authz_provider as *const c_void,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            );
            ffi::ap_hook_check_access(
                Some(access::access_checker),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            );
            ffi::ap_register_auth_provider(
                pool,
                ffi::AUTHZ_PROVIDER_GROUP.as_ptr().cast(),
                c"wsgi-group".as_ptr(),
                ffi::AUTHZ_PROVIDER_VERSION.as_ptr().cast(),
                &authz_group::WSGI_GROUP_PROVIDER as *const ffi::authz_provider as *const c_void,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            );
            ffi::ap_hook_post_perdir_config(
                Some(reflect::strip_request_headers),
                null(),
                null(),
                ffi::APR_HOOK_FIRST as i32,
            );
            // Last, so the filter sits after every other content-set
            // filter (mod_headers' `Header set|always` included) and still
            // before mod_cache's CACHE_SAVE and the protocol filters.
            ffi::ap_hook_insert_filter(
                Some(reflect::insert_output_filter),
                null(),
                null(),
                ffi::APR_HOOK_REALLY_LAST as i32,
            );
            ffi::ap_hook_insert_error_filter(
                Some(reflect::insert_error_filter),
                null(),
                null(),
                ffi::APR_HOOK_REALLY_LAST as i32,
            );
            ffi::ap_hook_log_transaction(
                Some(reflect::log_transaction),
                null(),
                reflect::LOG_BEFORE.0.as_ptr(),
                ffi::APR_HOOK_REALLY_FIRST,
            );
        }
        httpd::filter::register_output_filter::<reflect::ReflectFilter>();
        module::require_any_warning::register();
    });
}
