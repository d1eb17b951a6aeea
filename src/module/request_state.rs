//! What the module remembers for the duration of one request (kept in the
//! request's module config slot): the result of `groups_for_user`, so it is
//! called at most once however many `Require wsgi-group` lines apply, and
//! the identity the reflection filter took from the response headers.

use authnz_core::group_set::GroupSet;

use crate::module::reflect::Reflected;

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
    /// Set once the reflection filter has seen this request's response.
    pub reflected: Option<Reflected>,
}
