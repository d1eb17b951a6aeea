//! httpd's hooks (`ap_hook_*` in `http_config.h`, `http_request.h`,
//! `http_protocol.h`, `http_log.h`) as the module's concerns use them: a
//! concern writes a hook's body as a trait implementation on a type of its
//! own, and registers it from its `register` with the function of that
//! hook kind. The one `extern "C"` entry point per hook kind is generic
//! here: it turns httpd's raw arguments into the safe wrappers and runs the
//! body under the panic boundary, so a concern contains no raw pointer and
//! no `unsafe`. (The pattern of `filter.rs`.)

use std::ffi::{c_char, c_int, CStr};
use std::ptr::null;

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::guard::guard;
use crate::httpd::hook_order::HookOrder;
use crate::httpd::{Request, Server};

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

    /// The position alone (`APR_HOOK_*`), for hooks registered by the C
    /// shim without module lists.
    pub fn position(self) -> c_int {
        self.position
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

/// `OK`, `DECLINED` or an HTTP status, as hooks return them.
pub type Status = c_int;

/// `pre_config`: after every `LoadModule`, before other directives.
pub trait PreConfig {
    const NAME: &'static str;
    fn run(pconf: Pool) -> Status;
}

/// `post_config`: the configuration was read (every cycle).
pub trait PostConfig {
    const NAME: &'static str;
    fn run(main: Server) -> Status;
}

/// `check_config`: the configuration was read, the logs are not open yet
/// (every cycle, under `apache2 -t` too); an error status stops httpd.
pub trait CheckConfig {
    const NAME: &'static str;
    fn run(main: Server) -> Status;
}

/// `test_config`: `apache2 -t` read the configuration.
pub trait TestConfig {
    const NAME: &'static str;
    fn run(main: Server);
}

/// `child_init`: a child process starts.
pub trait ChildInit {
    const NAME: &'static str;
    fn run(pchild: Pool, main: Server);
}

/// `optional_fn_retrieve`: after `post_config`, every cycle.
pub trait Retrieve {
    const NAME: &'static str;
    fn run();
}

/// A request hook returning a status (`create_request`,
/// `post_perdir_config`, `log_transaction`, the access phase).
pub trait RequestHook {
    const NAME: &'static str;
    /// What httpd gets when the body panics.
    const ON_PANIC: Status;
    fn run(r: Request) -> Status;
}

/// A request hook returning nothing (`insert_filter`,
/// `insert_error_filter`).
pub trait RequestAction {
    const NAME: &'static str;
    fn run(r: Request);
}

/// mod_proxy's optional `create_req` hook: `backend` is the request each
/// backend response is read through, made for the client's request `r`.
pub trait ProxyCreateReq {
    const NAME: &'static str;
    /// What mod_proxy gets when the body panics.
    const ON_PANIC: Status;
    fn run(r: Request, backend: Request) -> Status;
}

unsafe extern "C" fn pre_config_entry<H: PreConfig>(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
) -> c_int {
    guard(H::NAME, ffi::HOOK_SERVER_ERROR, || {
        // SAFETY: httpd passes its live configuration pool.
        match unsafe { Pool::from_raw(pconf) } {
            Some(pconf) => H::run(pconf),
            None => ffi::HOOK_SERVER_ERROR,
        }
    })
}

unsafe extern "C" fn post_config_entry<H: PostConfig>(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard(H::NAME, ffi::HOOK_OK, || {
        // SAFETY: httpd passes the live main server record.
        match unsafe { Server::from_raw(s) } {
            Some(main) => H::run(main),
            None => ffi::HOOK_OK,
        }
    })
}

unsafe extern "C" fn check_config_entry<H: CheckConfig>(
    _pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard(H::NAME, ffi::HOOK_SERVER_ERROR, || {
        // SAFETY: httpd passes the live main server record.
        match unsafe { Server::from_raw(s) } {
            Some(main) => H::run(main),
            None => ffi::HOOK_OK,
        }
    })
}

unsafe extern "C" fn test_config_entry<H: TestConfig>(
    _pconf: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) {
    guard(H::NAME, (), || {
        // SAFETY: httpd passes the live main server record.
        if let Some(main) = unsafe { Server::from_raw(s) } {
            H::run(main);
        }
    })
}

unsafe extern "C" fn child_init_entry<H: ChildInit>(
    pchild: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) {
    guard(H::NAME, (), || {
        // SAFETY: httpd passes the child's live pool and the live main
        // server record.
        if let (Some(pchild), Some(main)) = unsafe { (Pool::from_raw(pchild), Server::from_raw(s)) }
        {
            H::run(pchild, main);
        }
    })
}

unsafe extern "C" fn retrieve_entry<H: Retrieve>() {
    guard(H::NAME, (), H::run)
}

unsafe extern "C" fn request_entry<H: RequestHook>(r: *mut ffi::request_rec) -> c_int {
    guard(H::NAME, H::ON_PANIC, || {
        // SAFETY: httpd passes the live request.
        match unsafe { Request::from_raw(r) } {
            Some(r) => H::run(r),
            None => H::ON_PANIC,
        }
    })
}

unsafe extern "C" fn request_action_entry<H: RequestAction>(r: *mut ffi::request_rec) {
    guard(H::NAME, (), || {
        // SAFETY: httpd passes the live request.
        if let Some(r) = unsafe { Request::from_raw(r) } {
            H::run(r);
        }
    })
}

unsafe extern "C" fn proxy_create_req_entry<H: ProxyCreateReq>(
    r: *mut ffi::request_rec,
    backend: *mut ffi::request_rec,
) -> c_int {
    guard(H::NAME, H::ON_PANIC, || {
        // SAFETY: mod_proxy passes the live client request and the live
        // request it reads the backend's response through.
        match unsafe { (Request::from_raw(r), Request::from_raw(backend)) } {
            (Some(r), Some(backend)) => H::run(r, backend),
            _ => ffi::HOOK_DECLINED,
        }
    })
}

/// Registration of one hook kind: `$ffi(Some(entry), after, before, position)`.
macro_rules! registration {
    ($(#[$doc:meta])* $name:ident, $ffi:ident, $kind:ident, $entry:ident) => {
        $(#[$doc])*
        pub fn $name<H: $kind>(order: Order) {
            // SAFETY: the entry point has the hook's C signature and is a
            // static function; the module-name lists are static and
            // NULL-terminated (`HookOrder`).
            unsafe { ffi::$ffi(Some($entry::<H>), order.after, order.before, order.position) }
        }
    };
}

registration!(pre_config, ap_hook_pre_config, PreConfig, pre_config_entry);
registration!(
    post_config,
    ap_hook_post_config,
    PostConfig,
    post_config_entry
);
registration!(
    check_config,
    ap_hook_check_config,
    CheckConfig,
    check_config_entry
);
registration!(
    test_config,
    ap_hook_test_config,
    TestConfig,
    test_config_entry
);
registration!(child_init, ap_hook_child_init, ChildInit, child_init_entry);
registration!(
    optional_fn_retrieve,
    ap_hook_optional_fn_retrieve,
    Retrieve,
    retrieve_entry
);
registration!(
    create_request,
    ap_hook_create_request,
    RequestHook,
    request_entry
);
registration!(
    post_perdir_config,
    ap_hook_post_perdir_config,
    RequestHook,
    request_entry
);
registration!(
    log_transaction,
    ap_hook_log_transaction,
    RequestHook,
    request_entry
);
registration!(
    insert_filter,
    ap_hook_insert_filter,
    RequestAction,
    request_action_entry
);
registration!(
    insert_error_filter,
    ap_hook_insert_error_filter,
    RequestAction,
    request_action_entry
);

/// The access phase (`ap_hook_check_access`), skipped on internal redirects
/// where the configuration did not change (`AP_AUTH_INTERNAL_PER_CONF`).
pub fn check_access_per_conf<H: RequestHook>(order: Order) {
    // SAFETY: as in the registrations above.
    unsafe {
        ffi::ap_hook_check_access(
            Some(request_entry::<H>),
            order.after,
            order.before,
            order.position,
            ffi::AP_AUTH_INTERNAL_PER_CONF as c_int,
        )
    }
}

/// mod_proxy's optional `create_req` hook (`APR_OPTIONAL_HOOK`). Harmless
/// when mod_proxy is not loaded.
pub fn proxy_create_req<H: ProxyCreateReq>(order: Order) {
    // SAFETY: APR stores an optional hook's function as `void (*)(void)`;
    // mod_proxy calls it with its real signature, `int (request_rec *,
    // request_rec *)`, which the entry point has. The rest as above.
    unsafe {
        ffi::apr_optional_hook_add(
            c"create_req".as_ptr(),
            Some(std::mem::transmute::<
                unsafe extern "C" fn(*mut ffi::request_rec, *mut ffi::request_rec) -> c_int,
                unsafe extern "C" fn(),
            >(proxy_create_req_entry::<H>)),
            order.after,
            order.before,
            order.position,
        )
    }
}

/// Remove the access-phase (`access_checker`) hooks another module
/// registered, by the name it registered them under (its source file, such
/// as `mod_wsgi.c`). Call from `pre_config`: after every module registered
/// and httpd sorted the hooks, before any request.
pub fn remove_access_checkers_of(module: &CStr) {
    // SAFETY: the hook list is httpd's array of registered access_checker
    // hooks (or NULL when none is registered); configuration is read on one
    // thread, and pre_config runs after the hooks were registered and
    // sorted and before any request. Entries are moved within the array's
    // own `nelts` elements, and `nelts` only shrinks.
    unsafe {
        let Some(hooks) = ffi::ap_hook_get_access_checker().as_mut() else {
            return;
        };
        let entries = hooks.elts.cast::<ffi::ap_LINK_access_checker_t>();
        let count = usize::try_from(hooks.nelts).unwrap_or(0);
        let mut kept = 0;
        for i in 0..count {
            let entry = entries.add(i).read();
            // szName is NULL or the registering module's name, a C string.
            if entry.szName.is_null() || CStr::from_ptr(entry.szName) != module {
                entries.add(kept).write(entry);
                kept += 1;
            }
        }
        hooks.nelts = kept as i32;
    }
}
