//! This module's own record (`authnz_wsgi_module`, exported by `lib.rs`) as
//! the httpd layer needs it: for its slots in configuration vectors and
//! its index in log levels. `lib.rs` hands it over first thing in
//! `register_hooks`, before httpd calls anything else of the module.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::ffi;

static RECORD: AtomicPtr<ffi::module> = AtomicPtr::new(null_mut());

/// Remember the module's record (from `register_hooks`).
pub fn set(record: *mut ffi::module) {
    RECORD.store(record, Ordering::Release);
}

/// The module's record (NULL before `register_hooks`).
pub fn get() -> *mut ffi::module {
    RECORD.load(Ordering::Acquire)
}

/// The index httpd assigned to the module (-1 before it did).
pub fn index() -> i32 {
    // SAFETY: NULL or the module's static record, whose index httpd writes
    // once while loading it.
    unsafe { get().as_ref() }.map_or(-1, |m| m.module_index)
}

/// Declares the exported module record `$record` (what `LoadModule` names)
/// with its configuration constructors, directive table and hook
/// registration: the record's standard start (`STANDARD20_MODULE_STUFF`:
/// magic cookie, MMN, name) is written by the C shim, compiled against the
/// installed headers, as the dynamic loader maps the library (before httpd
/// looks the record up; until then the cookie is 0, which httpd refuses to
/// load), and `register_hooks` hands the record to this layer, installs the
/// panic hook and calls `$register` with the configuration pool inside the
/// panic boundary. The record must be mutable memory: httpd writes
/// `module_index`, `next` and `dynamic_load_handle`.
macro_rules! declare_module {
    (
        $record:ident,
        dir: $dir:ty,
        server: $server:ty,
        commands: $commands:expr,
        register: $register:path $(,)?
    ) => {
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static mut $record: $crate::ffi::module = $crate::ffi::module {
            version: 0,
            minor_version: 0,
            module_index: -1,
            name: ::std::ptr::null(),
            dynamic_load_handle: ::std::ptr::null_mut(),
            next: ::std::ptr::null_mut(),
            magic: 0,
            rewrite_args: None,
            create_dir_config: Some($crate::httpd::module_config::create_dir::<$dir>),
            merge_dir_config: Some($crate::httpd::module_config::merge_dir::<$dir>),
            create_server_config: Some($crate::httpd::module_config::create_server::<$server>),
            merge_server_config: Some($crate::httpd::module_config::merge_server::<$server>),
            cmds: $commands.as_ptr(),
            register_hooks: Some(register_hooks),
            #[cfg(httpd_module_flags)]
            flags: 0,
        };

        #[used]
        #[link_section = ".init_array"]
        static FILL_MODULE_HEADER: extern "C" fn() = fill_module_header;

        extern "C" fn fill_module_header() {
            // SAFETY: runs once, as the library is loaded, before anything
            // else can read the record; the shim only writes the record's
            // first fields.
            unsafe { $crate::ffi::authnz_wsgi_module_header(::std::ptr::addr_of_mut!($record)) };
        }

        unsafe extern "C" fn register_hooks(pool: *mut $crate::ffi::apr_pool_t) {
            $crate::httpd::module_record::set(::std::ptr::addr_of_mut!($record));
            $crate::httpd::guard::install_panic_hook();
            $crate::httpd::guard::guard("register_hooks", (), || {
                // SAFETY: httpd hands register_hooks its live configuration
                // pool.
                if let Some(pool) = unsafe { $crate::apr::Pool::from_raw(pool) } {
                    $register(pool);
                }
            });
        }
    };
}
pub(crate) use declare_module;
