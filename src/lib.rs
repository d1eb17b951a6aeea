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

use std::ptr::{addr_of, addr_of_mut, null, null_mut};

use httpd::guard::{guard, install_panic_hook};
use module::{access, config, directives, lifecycle, providers, reflect, socache};

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
    create_dir_config: Some(config::create_dir_config),
    merge_dir_config: Some(config::merge_dir_config),
    create_server_config: Some(config::create_server_config),
    merge_server_config: Some(config::merge_server_config),
    cmds: &directives::COMMANDS as *const _ as *const ffi::command_rec,
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

/// The module record, for httpd calls that take it.
pub(crate) fn module_record() -> *const ffi::module {
    addr_of!(authnz_wsgi_module)
}

/// The index httpd assigned to this module (for configs and log levels).
pub(crate) fn module_index() -> i32 {
    // SAFETY: a plain read of a field httpd writes once while loading.
    unsafe { (*addr_of!(authnz_wsgi_module)).module_index }
}

unsafe extern "C" fn register_hooks(pool: *mut ffi::apr_pool_t) {
    install_panic_hook();
    guard("register_hooks", (), || {
        // SAFETY: httpd hands register_hooks its live configuration pool.
        if let Some(pool) = unsafe { apr::Pool::from_raw(pool) } {
            providers::register(pool, providers::Registration::Counted);
        }
        // SAFETY: hook registration with static functions and static,
        // NULL-terminated module name lists. The optional hook's function
        // is stored as `void (*)(void)` and called by mod_proxy with its
        // real signature, `int (request_rec *, request_rec *)`, which
        // `watch_backend_head` has.
        unsafe {
            ffi::ap_hook_pre_config(
                Some(lifecycle::pre_config),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
            );
            // After mod_wsgi's: when it starts Python in the child, this
            // module attaches to that interpreter instead of starting one.
            ffi::ap_hook_child_init(
                Some(lifecycle::child_init),
                lifecycle::CHILD_INIT_AFTER.0.as_ptr(),
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
            ffi::ap_hook_check_access(
                Some(access::access_checker),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            );
            // First on every request: a worker thread gets its thread state
            // in the main interpreter before mod_wsgi gives it one of its own.
            ffi::ap_hook_create_request(
                Some(lifecycle::create_request),
                null(),
                null(),
                ffi::APR_HOOK_REALLY_FIRST,
            );
            ffi::ap_hook_post_perdir_config(
                Some(reflect::strip_before_checks),
                null(),
                null(),
                ffi::APR_HOOK_FIRST as i32,
            );
            // First, so no other insert_filter hook sees the headers either:
            // the request whose handler runs next, in its final location.
            ffi::ap_hook_insert_filter(
                Some(reflect::strip_before_handler),
                null(),
                null(),
                ffi::APR_HOOK_REALLY_FIRST,
            );
            // Which mod_proxy_wstunnel mode a reflecting location would get.
            ffi::ap_hook_post_config(
                Some(reflect::check_wstunnel),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
            );
            // mod_proxy's optional create_req hook (APR_OPTIONAL_HOOK in C):
            // mod_proxy_http runs it for the fake request each backend
            // response is read through. Harmless when mod_proxy is absent.
            ffi::apr_optional_hook_add(
                c"create_req".as_ptr(),
                Some(std::mem::transmute::<
                    unsafe extern "C" fn(*mut ffi::request_rec, *mut ffi::request_rec) -> i32,
                    unsafe extern "C" fn(),
                >(reflect::watch_backend_head)),
                null(),
                null(),
                ffi::HOOK_MIDDLE,
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
        httpd::input_filter::register_input_filter::<reflect::BackendHeadFilter>();
        module::require_any_warning::register();
    });
}
