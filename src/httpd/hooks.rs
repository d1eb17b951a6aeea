//! Registering hook functions with httpd (`ap_hook_*` in `http_config.h`,
//! `http_request.h`, `http_protocol.h`, `http_log.h`): one safe function per
//! hook kind the module uses, called from each concern's `register` in
//! `register_hooks`. The hook function's type is the hook's own C
//! signature, so a function of the wrong kind cannot be registered.

use std::ffi::{c_char, c_int};
use std::ptr::null;

use crate::ffi;
use crate::httpd::hook_order::HookOrder;

/// Where a hook function runs among the others of its hook.
#[derive(Clone, Copy)]
pub struct Order {
    position: c_int,
    after: *const *const c_char,
    before: *const *const c_char,
}

impl Order {
    pub const REALLY_FIRST: Order = Order::at(ffi::APR_HOOK_REALLY_FIRST);
    pub const FIRST: Order = Order::at(ffi::APR_HOOK_FIRST as c_int);
    pub const MIDDLE: Order = Order::at(ffi::APR_HOOK_MIDDLE as c_int);
    pub const REALLY_LAST: Order = Order::at(ffi::APR_HOOK_REALLY_LAST as c_int);

    const fn at(position: c_int) -> Order {
        Order {
            position,
            after: null(),
            before: null(),
        }
    }

    /// After the hooks of these modules (`aszPre`).
    pub fn after<const N: usize>(self, modules: &'static HookOrder<N>) -> Order {
        Order {
            after: modules.as_ptr(),
            ..self
        }
    }

    /// Before the hooks of these modules (`aszSucc`).
    pub fn before<const N: usize>(self, modules: &'static HookOrder<N>) -> Order {
        Order {
            before: modules.as_ptr(),
            ..self
        }
    }
}

type Pool = *mut ffi::apr_pool_t;
type ServerRec = *mut ffi::server_rec;
type RequestRec = *mut ffi::request_rec;

pub type ConfigPhase = unsafe extern "C" fn(Pool, Pool, Pool) -> c_int;
pub type PostConfig = unsafe extern "C" fn(Pool, Pool, Pool, ServerRec) -> c_int;
pub type TestConfig = unsafe extern "C" fn(Pool, ServerRec);
pub type ChildInit = unsafe extern "C" fn(Pool, ServerRec);
pub type RequestHook = unsafe extern "C" fn(RequestRec) -> c_int;
pub type RequestAction = unsafe extern "C" fn(RequestRec);
pub type Retrieve = unsafe extern "C" fn();

/// Registration of one hook kind: `$ffi(Some(f), after, before, position)`.
macro_rules! hook {
    ($(#[$doc:meta])* $name:ident, $ffi:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(f: $ty, order: Order) {
            // SAFETY: `f` has the hook's C signature (its type), is a static
            // function, and the module-name lists are static and
            // NULL-terminated (`HookOrder`).
            unsafe { ffi::$ffi(Some(f), order.after, order.before, order.position) }
        }
    };
}

hook!(
    /// `pre_config`: after every `LoadModule`, before other directives.
    pre_config, ap_hook_pre_config, ConfigPhase
);
hook!(
    /// `post_config`: the configuration was read (every cycle).
    post_config, ap_hook_post_config, PostConfig
);
hook!(
    /// `test_config`: `apache2 -t` read the configuration.
    test_config, ap_hook_test_config, TestConfig
);
hook!(
    /// `child_init`: a child process starts.
    child_init, ap_hook_child_init, ChildInit
);
hook!(
    /// `optional_fn_retrieve`: after `post_config`, every cycle.
    optional_fn_retrieve, ap_hook_optional_fn_retrieve, Retrieve
);
hook!(
    /// `create_request`: a request record was made.
    create_request, ap_hook_create_request, RequestHook
);
hook!(
    /// `post_perdir_config`: a request's configuration was merged.
    post_perdir_config, ap_hook_post_perdir_config, RequestHook
);
hook!(
    /// `insert_filter`: the request's handler runs next.
    insert_filter, ap_hook_insert_filter, RequestAction
);
hook!(
    /// `insert_error_filter`: an error response is sent.
    insert_error_filter, ap_hook_insert_error_filter, RequestAction
);
hook!(
    /// `log_transaction`: the request is logged.
    log_transaction, ap_hook_log_transaction, RequestHook
);

/// The access phase (`ap_hook_check_access`), skipped on internal redirects
/// where the configuration did not change (`AP_AUTH_INTERNAL_PER_CONF`).
pub fn check_access_per_conf(f: RequestHook, order: Order) {
    // SAFETY: as in the registrations above.
    unsafe {
        ffi::ap_hook_check_access(
            Some(f),
            order.after,
            order.before,
            order.position,
            ffi::AP_AUTH_INTERNAL_PER_CONF as c_int,
        )
    }
}

/// mod_proxy's optional `create_req` hook (`APR_OPTIONAL_HOOK`): runs for
/// the request each backend response is read through. Harmless when
/// mod_proxy is not loaded.
pub fn proxy_create_req(f: unsafe extern "C" fn(RequestRec, RequestRec) -> c_int, order: Order) {
    // SAFETY: APR stores an optional hook's function as `void (*)(void)`;
    // mod_proxy calls it with its real signature, `int (request_rec *,
    // request_rec *)`, which `f` has. The rest as above.
    unsafe {
        ffi::apr_optional_hook_add(
            c"create_req".as_ptr(),
            Some(std::mem::transmute::<
                unsafe extern "C" fn(RequestRec, RequestRec) -> c_int,
                unsafe extern "C" fn(),
            >(f)),
            order.after,
            order.before,
            order.position,
        )
    }
}
