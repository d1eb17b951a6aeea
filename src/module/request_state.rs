//! What the module remembers for the duration of one request (kept in the
//! request's module config slot): the answers of `groups_for_user` and of
//! `allow_access`, so each is asked at most once per request for each
//! (script, application group[, user]) however many `Require` lines and
//! `AuthzProviderAlias` sections apply, the identity the reflection filter
//! took from the response headers, and whether reflection already cleaned
//! the request's headers.
//!
//! A memo entry is found only by everything that decides its answer: the
//! script's path and the application group as text (two aliases naming
//! different scripts or groups are each asked), and for groups the user's
//! bytes. Within one request the environ and the client are the same for
//! every line.

use authnz_core::group_set::GroupSet;
use authnz_core::host_verdict::Verdict;
use authnz_core::reflect::Reflected;

use crate::httpd::module_config::RequestRecord;
use crate::python::call::{CallFailed, Target};

/// Which script a memo entry answers for.
#[derive(PartialEq, Eq)]
struct Asked {
    path: String,
    group: String,
}

impl Asked {
    fn of(target: Target<'_>) -> Asked {
        Asked {
            path: target.path.to_owned(),
            group: target.group.to_owned(),
        }
    }

    fn is(&self, target: Target<'_>) -> bool {
        self.path == target.path && self.group == target.group
    }
}

/// The outcome of one `groups_for_user` call.
struct GroupLookup {
    asked: Asked,
    user: Vec<u8>,
    /// `None`: the call failed (already logged); every line answers an error.
    groups: Option<GroupSet>,
}

/// The outcome of one `allow_access` call (an error is already logged).
struct HostLookup {
    asked: Asked,
    verdict: Result<Verdict, CallFailed>,
}

/// Per-request state of the module.
#[derive(Default)]
pub struct RequestState {
    group_lookups: Vec<GroupLookup>,
    host_lookups: Vec<HostLookup>,
    /// Set once the reflection filter has seen this request's response.
    pub reflected: Option<Reflected>,
    /// Identity reflection removed the client's identity headers from this
    /// request when its configuration was merged (`post_perdir_config`).
    pub identity_headers_stripped: bool,
}

impl RequestRecord for RequestState {}

impl RequestState {
    /// `user`'s groups from `target`, asked once: `Some(None)` when that
    /// call failed, `None` when it was not made yet.
    pub fn groups(&self, target: Target<'_>, user: &[u8]) -> Option<Option<&GroupSet>> {
        self.group_lookups
            .iter()
            .find(|l| l.asked.is(target) && l.user == user)
            .map(|l| l.groups.as_ref())
    }

    pub fn remember_groups(&mut self, target: Target<'_>, user: &[u8], groups: Option<GroupSet>) {
        self.group_lookups.push(GroupLookup {
            asked: Asked::of(target),
            user: user.to_vec(),
            groups,
        });
    }

    /// What `allow_access` of `target` answered for this request, if asked.
    pub fn host_verdict(&self, target: Target<'_>) -> Option<Result<Verdict, CallFailed>> {
        self.host_lookups
            .iter()
            .find(|l| l.asked.is(target))
            .map(|l| l.verdict)
    }

    pub fn remember_host_verdict(
        &mut self,
        target: Target<'_>,
        verdict: Result<Verdict, CallFailed>,
    ) {
        self.host_lookups.push(HostLookup {
            asked: Asked::of(target),
            verdict,
        });
    }
}
