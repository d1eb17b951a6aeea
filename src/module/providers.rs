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

/// In `register_hooks`: register the providers, counted by httpd as
/// `AP_AUTH_INTERNAL_PER_CONF` ones.
pub fn register(pool: Pool) {
    for (group, name, version, provider) in records() {
        // SAFETY: static C strings and static provider records; httpd keeps
        // the pointers for the life of the configuration.
        unsafe {
            ffi::ap_register_auth_provider(
                pool.as_ptr(),
                group.as_ptr().cast(),
                name.as_ptr(),
                version.as_ptr().cast(),
                provider,
                ffi::AP_AUTH_INTERNAL_PER_CONF as i32,
            )
        };
    }
}

/// Register the same providers again, replacing any other module's
/// providers of the same names (a later registration of a name wins). Not
/// counted a second time: [`register`] already counted these names.
pub fn register_replacing(pool: Pool) {
    for (group, name, version, provider) in records() {
        // SAFETY: as in `register`.
        unsafe {
            ffi::ap_register_provider(
                pool.as_ptr(),
                group.as_ptr().cast(),
                name.as_ptr(),
                version.as_ptr().cast(),
                provider,
            )
        };
    }
}
