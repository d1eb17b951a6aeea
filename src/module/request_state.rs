//! What the module remembers for the duration of one request (kept in the
//! request's module config slot): the result of `groups_for_user`, so it is
//! called at most once however many `Require wsgi-group` lines apply, the
//! answer of `allow_access` (shared by the access phase and
//! `Require wsgi-host`), the identity the reflection filter took from
//! the response headers, and whether reflection already cleaned the
//! request's headers.

use authnz_core::group_set::GroupSet;

use crate::module::access::Verdict;
use crate::module::reflect::Reflected;
use crate::python::call::CallFailed;

/// The outcome of one `groups_for_user` call for `user`.
pub struct GroupLookup {
    pub user: Vec<u8>,
    /// `None`: the call failed (already logged); every line answers an error.
    pub groups: Option<GroupSet>,
}

/// Per-request state of the module.
#[derive(Default)]
pub struct RequestState {
    pub group_lookup: Option<GroupLookup>,
    /// `allow_access`'s answer, once asked (an error is already logged).
    pub host_verdict: Option<Result<Verdict, CallFailed>>,
    /// Set once the reflection filter has seen this request's response.
    pub reflected: Option<Reflected>,
    /// Identity reflection removed the client's identity headers from this
    /// request when its configuration was merged (`post_perdir_config`).
    pub identity_headers_stripped: bool,
}
