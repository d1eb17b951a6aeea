//! The authz provider `wsgi-group` (docs/authorization.md#groups-require-wsgi-group): `Require wsgi-group g1 "g 2"`
//! parsed once as an `ap_expr` string, evaluated and split into words per
//! request, granted when `groups_for_user(environ, user)` yields any of them.
//! Fail closed: a `str`/`bytes` result, a non-iterable, a non-string item or
//! an exception at any point of the iteration is a general error (500).

use authnz_core::log_tags as tags;
use std::ffi::CStr;
use std::sync::Arc;

use authnz_core::credentials::decode_credential;
use authnz_core::daemon_frame::{Function, Outcome};
use authnz_core::group_set::GroupSet;
use authnz_core::require_words::require_words;
use pyo3::types::PyString;

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::auth_providers::{
    self as providers, authz_record, AuthzProvider, AuthzStatus, ParsedLine, Provider, Registration,
};
use crate::httpd::cmd::Cmd;
use crate::httpd::expr::StringExpr;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::answer::{answer, Answer, Source};
use crate::module::cache::{self, Cached};
use crate::module::config::{DirConfig, ScriptSpec};
use crate::module::daemon_dispatch;
use crate::module::request_state::RequestState;
use crate::python::call::{application_group_name, call_script, CallFailed, Target};
use crate::python::results;
use crate::rlog;

/// The authz provider `wsgi-group`.
pub fn provider() -> Provider {
    Provider::Authz(c"wsgi-group", &WSGI_GROUP_PROVIDER)
}

/// Registers the provider.
pub fn register(pool: Pool) {
    providers::register(pool, provider(), Registration::Counted);
}

/// The provider record httpd keeps a pointer to.
static WSGI_GROUP_PROVIDER: ffi::authz_provider = authz_record::<WsgiGroup>();

/// `Require wsgi-group`: `WSGIAuthGroupScript`.
struct WsgiGroup;

impl AuthzProvider for WsgiGroup {
    const NAME: &'static str = "Require wsgi-group";
    const PARSE_PANIC: &'static CStr = c"internal error parsing Require wsgi-group";

    fn parse(cmd: Cmd, arguments: &CStr) -> Result<ParsedLine, String> {
        if arguments.to_bytes().iter().all(u8::is_ascii_whitespace) {
            return Err("Require wsgi-group needs at least one group name".to_owned());
        }
        StringExpr::parse(cmd, arguments)
            .map(ParsedLine::Expr)
            .map_err(|e| format!("Require wsgi-group: cannot parse the group list: {e}"))
    }

    fn check(r: Request, parsed: ParsedLine) -> AuthzStatus {
        match parsed {
            ParsedLine::Expr(line) => authorize(r, line),
            ParsedLine::Nothing => ffi::authz_status_AUTHZ_GENERAL_ERROR,
        }
    }
}

/// Asks `groups_for_user` of `target` for `user`, at most once per request
/// (per script, application group and user), and runs `decide` on the set;
/// `None` when there is no set (the error is logged).
fn with_groups<R>(
    r: Request,
    dir: &DirConfig,
    spec: &ScriptSpec,
    group: &str,
    user: &[u8],
    decide: impl FnOnce(&GroupSet) -> R,
) -> Option<R> {
    let target = Target::new(&spec.path, group);
    if let Some(known) = r.state::<RequestState>().groups(target, user) {
        return known.map(decide);
    }
    let groups = lookup_groups(r, dir, spec, target, user);
    let decided = groups.as_ref().map(decide);
    r.state::<RequestState>()
        .remember_groups(target, user, groups);
    decided
}

fn lookup_groups(
    r: Request,
    dir: &DirConfig,
    spec: &ScriptSpec,
    target: Target<'_>,
    user: &[u8],
) -> Option<GroupSet> {
    // Under `WSGIUserNameEncoding utf-8`, keyed by the name Python is given.
    let key = dir.auth_cache_timeout().and_then(|timeout| {
        let user = dir.user_name_encoding().key_bytes(user);
        cache::groups_key(r, spec, dir.daemon_of(spec), target.group, timeout, &user)
    });
    let (outcome, source) = answer(r, dir, "groups_for_user", spec, key.as_ref(), |slot| {
        let user_text = decode_credential(user);
        if let Some(daemon) = dir.daemon_of(spec) {
            let outcome = daemon_dispatch::call(
                r,
                dir,
                spec,
                daemon,
                target.group,
                Function::GroupsForUser,
                vec![user_text.into_owned()],
                slot,
            );
            return match outcome {
                Outcome::Groups(names) => {
                    let mut groups = GroupSet::default();
                    for name in &names {
                        groups.insert(name);
                    }
                    Answer::Positive(Cached::Groups(Arc::new(groups)))
                }
                Outcome::Failed => Answer::Failed,
                other => {
                    daemon_dispatch::unexpected(r, spec, Function::GroupsForUser, &other);
                    Answer::Failed
                }
            };
        }
        let groups = call_script(
            r,
            dir.call_limits(),
            target,
            slot,
            "groups_for_user",
            None,
            |py| [PyString::new(py, &user_text).into_any()],
            |log, value| {
                let mut groups = GroupSet::default();
                results::groups(log, target.path, value, |g| groups.insert(g)).map(|()| groups)
            },
        );
        match groups {
            Ok(groups) => Answer::Positive(Cached::Groups(Arc::new(groups))),
            Err(CallFailed) => Answer::Failed,
        }
    });
    if source == Source::Shared {
        rlog!(
            &r,
            Level::Debug,
            tags::SHARED_ANSWER,
            "groups of '{}' answered by a call made at the same time for the same user",
            String::from_utf8_lossy(user)
        );
    }
    let Answer::Positive(Cached::Groups(groups)) = outcome else {
        return None;
    };
    match source {
        Source::Cache => rlog!(
            &r,
            Level::Debug,
            tags::CACHED_GROUPS,
            "groups of '{}' taken from the in-process cache (WSGIAuthCacheTimeout)",
            String::from_utf8_lossy(user)
        ),
        Source::Shared | Source::Call => {}
    }
    Some(Arc::unwrap_or_clone(groups))
}

fn authorize(r: Request, parsed: StringExpr) -> AuthzStatus {
    let Some(user) = r.user() else {
        return ffi::authz_status_AUTHZ_DENIED_NO_USER;
    };
    let user = user.to_vec();
    let line = match parsed.eval(r) {
        Ok(line) => line,
        Err(e) => {
            rlog!(
                &r,
                Level::Error,
                tags::BAD_GROUP_LINE,
                "cannot evaluate the Require wsgi-group arguments: {e}"
            );
            return ffi::authz_status_AUTHZ_GENERAL_ERROR;
        }
    };
    let required = require_words(&line);
    if required.is_empty() {
        rlog!(
            &r,
            Level::Error,
            tags::GROUP_LINE_EMPTY,
            "Require wsgi-group evaluated to no group names"
        );
        return ffi::authz_status_AUTHZ_GENERAL_ERROR;
    }
    let Some(dir) = r.dir_config::<DirConfig>() else {
        return ffi::authz_status_AUTHZ_GENERAL_ERROR;
    };
    let Some(spec) = dir.auth_group_script.as_deref() else {
        rlog!(
            &r,
            Level::Error,
            tags::NO_GROUP_SCRIPT,
            "Require wsgi-group is used here but no WSGIAuthGroupScript applies"
        );
        return ffi::authz_status_AUTHZ_GENERAL_ERROR;
    };
    let group = application_group_name(r, &spec.application_group);
    let granted = with_groups(r, dir, spec, &group, &user, |groups| {
        groups.any_of(required.iter().map(Vec::as_slice))
    });
    match granted {
        Some(true) => return ffi::authz_status_AUTHZ_GRANTED,
        Some(false) => {}
        None => return ffi::authz_status_AUTHZ_GENERAL_ERROR,
    }
    rlog!(
        &r,
        Level::Debug,
        tags::NOT_IN_GROUP,
        "user '{}' is in none of the required groups ({})",
        String::from_utf8_lossy(&user),
        String::from_utf8_lossy(&line)
    );
    ffi::authz_status_AUTHZ_DENIED
}
