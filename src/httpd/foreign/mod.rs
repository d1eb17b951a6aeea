//! Other modules' private parts this module reads: mod_authn_socache's
//! store function and per-directory record, mod_proxy_wstunnel's
//! per-directory record. A private record's layout is trusted only after a
//! record made by the module's own `create_dir_config` showed the
//! documented defaults ([`LoadedModule::check_fresh_dir_record`]); the
//! result is kept per configuration cycle, since a graceful restart may
//! load another build of the module at another address.

pub mod authn_socache;
pub mod proxy_wstunnel;

use std::ffi::CStr;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::ffi;
use crate::httpd::Request;

/// A module loaded in the current configuration.
#[derive(Clone, Copy)]
pub struct LoadedModule(&'static ffi::module);

/// The module built from `source` (such as `mod_proxy_http.c`), if loaded.
pub fn loaded(source: &CStr) -> Option<LoadedModule> {
    // SAFETY: a lookup in httpd's list of loaded modules; the result is NULL
    // or the module's record, which lives as long as the configuration.
    unsafe { ffi::ap_find_linked_module(source.as_ptr()).as_ref() }.map(LoadedModule)
}

impl LoadedModule {
    /// Make a record with the module's own `create_dir_config` in a scratch
    /// pool, hand it to `check` as a `T` and destroy it; `None` when the
    /// module has no such constructor or it made nothing.
    ///
    /// # Safety
    /// `T` must be `#[repr(C)]` and no larger than the record the module's
    /// constructor makes in every release this code runs against; `check`
    /// must only compare what it reads with the documented defaults.
    unsafe fn check_fresh_dir_record<T>(self, check: impl FnOnce(&T) -> bool) -> Option<bool> {
        let create = self.0.create_dir_config?;
        let mut pool: *mut ffi::apr_pool_t = null_mut();
        // SAFETY: creates a root pool (APR is initialised by httpd); checked
        // below.
        let status = unsafe { ffi::apr_pool_create_ex(&mut pool, null_mut(), None, null_mut()) };
        if status != 0 || pool.is_null() {
            return None;
        }
        // SAFETY: the module's own constructor, called as httpd calls it (a
        // pool and a directory that may be NULL); the record is in `pool`
        // and at least a `T` (the contract above), read before the pool is
        // destroyed.
        let verdict = unsafe { create(pool, null_mut()).cast::<T>().as_ref() }.map(check);
        // SAFETY: the pool was created above and nothing refers to it any
        // more.
        unsafe { ffi::apr_pool_destroy(pool) };
        verdict
    }
}

/// A module whose private per-directory record was verified this cycle.
struct VerifiedModule(AtomicPtr<ffi::module>);

impl VerifiedModule {
    const fn none() -> VerifiedModule {
        VerifiedModule(AtomicPtr::new(null_mut()))
    }

    fn set(&self, module: Option<LoadedModule>) {
        let raw = module.map_or(null_mut(), |m| {
            m.0 as *const ffi::module as *mut ffi::module
        });
        self.0.store(raw, Ordering::Release);
    }

    /// The module's merged record for `r` as a `T`: `None` when the module
    /// is not verified this cycle, `Some(None)` when it has no record here.
    ///
    /// # Safety
    /// `T` must be the type the module was verified for.
    unsafe fn dir_record<T>(&self, r: Request) -> Option<Option<&T>> {
        let module = self.0.load(Ordering::Acquire);
        if module.is_null() {
            return None;
        }
        // SAFETY: `module` is the record of a module loaded in this
        // configuration (set each cycle); its slot in the request's merged
        // vector is NULL or its record, whose layout starts with a `T` (the
        // contract above), alive for the request.
        Some(unsafe { r.module_dir_config_raw(module).cast::<T>().as_ref() })
    }
}
