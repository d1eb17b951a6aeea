//! Registering an auth provider with httpd's provider registry
//! (`ap_register_auth_provider`, `AP_AUTH_INTERNAL_PER_CONF`). Each concern
//! registers its own: authn `wsgi` (`authn`), authz `wsgi-group`
//! (`authz_group`) and `wsgi-host` (`access`).

use std::ffi::{c_void, CStr};

use crate::apr::Pool;
use crate::ffi;

/// One provider record and the name it is registered under.
#[derive(Clone, Copy)]
pub enum Provider {
    Authn(&'static CStr, &'static ffi::authn_provider),
    Authz(&'static CStr, &'static ffi::authz_provider),
}

/// How a provider is registered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// In `register_hooks`: counted by httpd as an `AP_AUTH_INTERNAL_PER_CONF`
    /// provider.
    Counted,
    /// Again, replacing another module's provider of the same name (a later
    /// registration of a name wins); not counted a second time.
    Replacing,
}

/// Register `provider`.
pub fn register(pool: Pool, provider: Provider, how: Registration) {
    let (group, version, name, record) = match provider {
        Provider::Authn(name, record) => (
            ffi::AUTHN_PROVIDER_GROUP.as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr(),
            name,
            record as *const ffi::authn_provider as *const c_void,
        ),
        Provider::Authz(name, record) => (
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr(),
            name,
            record as *const ffi::authz_provider as *const c_void,
        ),
    };
    let (group, version) = (group.cast(), version.cast());
    // SAFETY: static C strings and a static provider record; httpd keeps the
    // pointers for the life of the configuration.
    unsafe {
        match how {
            Registration::Counted => ffi::ap_register_auth_provider(
                pool.as_ptr(),
                group,
                name.as_ptr(),
                version,
                record,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            ),
            Registration::Replacing => {
                ffi::ap_register_provider(pool.as_ptr(), group, name.as_ptr(), version, record)
            }
        }
    };
}
