//! The three auth providers of the module — authn `wsgi`, authz
//! `wsgi-group` and authz `wsgi-host` — as httpd's provider registry
//! holds them (`ap_register_auth_provider`, `AP_AUTH_INTERNAL_PER_CONF`).

use std::ffi::{c_void, CStr};

use crate::apr::Pool;
use crate::ffi;
use crate::module::{access, authn, authz_group};

/// (group, name, version, provider record) of each provider.
fn records() -> [(&'static [u8], &'static CStr, &'static [u8], *const c_void); 3] {
    [
        (
            ffi::AUTHN_PROVIDER_GROUP,
            c"wsgi",
            ffi::AUTHN_PROVIDER_VERSION,
            &authn::WSGI_AUTHN_PROVIDER as *const ffi::authn_provider as *const c_void,
        ),
        (
            ffi::AUTHZ_PROVIDER_GROUP,
            c"wsgi-group",
            ffi::AUTHZ_PROVIDER_VERSION,
            &authz_group::WSGI_GROUP_PROVIDER as *const ffi::authz_provider as *const c_void,
        ),
        (
            ffi::AUTHZ_PROVIDER_GROUP,
            c"wsgi-host",
            ffi::AUTHZ_PROVIDER_VERSION,
            &access::WSGI_HOST_PROVIDER as *const ffi::authz_provider as *const c_void,
        ),
    ]
}

/// How the providers are registered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// In `register_hooks`: counted by httpd as `AP_AUTH_INTERNAL_PER_CONF`
    /// providers.
    Counted,
    /// Again, replacing any other module's providers of the same names (a
    /// later registration of a name wins); not counted a second time.
    Replacing,
}

/// Register the three providers.
pub fn register(pool: Pool, how: Registration) {
    for (group, name, version, provider) in records() {
        let (group, version) = (group.as_ptr().cast(), version.as_ptr().cast());
        // SAFETY: static C strings and static provider records; httpd keeps
        // the pointers for the life of the configuration.
        unsafe {
            match how {
                Registration::Counted => ffi::ap_register_auth_provider(
                    pool.as_ptr(),
                    group,
                    name.as_ptr(),
                    version,
                    provider,
                    ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
                ),
                Registration::Replacing => ffi::ap_register_provider(
                    pool.as_ptr(),
                    group,
                    name.as_ptr(),
                    version,
                    provider,
                ),
            }
        };
    }
}
