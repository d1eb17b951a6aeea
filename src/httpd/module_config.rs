//! The module's configuration records as httpd makes them: one per
//! directory section and one per virtual host, created and merged through
//! the module record's four constructors. A concern writes its record as a
//! type implementing [`Merge`]; the constructors are generic here, allocate
//! in httpd's pool (dropped with it) and run under the panic boundary.

use std::ffi::{c_char, c_void};
use std::ptr::null_mut;

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::guard::guard;

/// A configuration record: its defaults and how a nested section (or a
/// virtual host) merges over its parent. Merging must not change either.
pub trait Merge: Default + 'static {
    fn merge(base: &Self, add: &Self) -> Self;
}

/// The module's per-directory record: the one type its `create_dir_config`
/// and `merge_dir_config` make, and so the only type read back from a
/// per-directory vector's slot.
pub trait DirRecord: Merge {}

/// The module's per-server record (one type, as [`DirRecord`]).
pub trait ServerRecord: Merge {}

/// The module's per-request state: the one type stored in a request's
/// `request_config` slot, made on first use.
pub trait RequestRecord: Default + 'static {}

fn alloc<T: 'static>(pool: *mut ffi::apr_pool_t, value: T) -> *mut c_void {
    // SAFETY: httpd passes a live pool to the configuration constructors.
    match unsafe { Pool::from_raw(pool) } {
        Some(pool) => pool.alloc(value).cast(),
        None => null_mut(),
    }
}

/// `create_dir_config` of a module whose per-directory record is `T`.
pub unsafe extern "C" fn create_dir<T: DirRecord>(
    pool: *mut ffi::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    guard("create_dir_config", null_mut(), || {
        alloc(pool, T::default())
    })
}

/// `merge_dir_config` of a module whose per-directory record is `T`.
pub unsafe extern "C" fn merge_dir<T: DirRecord>(
    pool: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    guard("merge_dir_config", null_mut(), || {
        // SAFETY: httpd passes two records create_dir::<T> or merge_dir::<T>
        // made, in pools that outlive the merge.
        let (Some(base), Some(add)) =
            (unsafe { (base.cast::<T>().as_ref(), add.cast::<T>().as_ref()) })
        else {
            return null_mut();
        };
        alloc(pool, T::merge(base, add))
    })
}

/// `create_server_config` of a module whose per-server record is `T`.
pub unsafe extern "C" fn create_server<T: ServerRecord>(
    pool: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    guard("create_server_config", null_mut(), || {
        alloc(pool, T::default())
    })
}

/// `merge_server_config` of a module whose per-server record is `T`.
pub unsafe extern "C" fn merge_server<T: ServerRecord>(
    pool: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    guard("merge_server_config", null_mut(), || {
        // SAFETY: httpd passes two records create_server::<T> or
        // merge_server::<T> made, in pools that outlive the merge.
        let (Some(base), Some(add)) =
            (unsafe { (base.cast::<T>().as_ref(), add.cast::<T>().as_ref()) })
        else {
            return null_mut();
        };
        alloc(pool, T::merge(base, add))
    })
}
