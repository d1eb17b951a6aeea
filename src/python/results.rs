//! What a script function's result means (docs/python-contract.md): the
//! interpretation of `check_password`, `get_realm_hash`, `groups_for_user`
//! and `allow_access` results, strict and fail-closed, logging what was
//! wrong to the call's [`LogSink`]. The same code runs in an Apache child
//! (embedded) and in an auth daemon process, whose lines reach the child
//! in the reply.

use authnz_core::credentials::{decode_credential, validate_name};
use authnz_core::host_verdict::Verdict;
use authnz_core::log_tags as tags;
use authnz_core::realm_hash::validate_realm_hash;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

use crate::httpd::log::Level;
use crate::python::call::CallFailed;
use crate::python::errors::{log_exception, type_name};
use crate::python::log_sink::LogSink;
use crate::sink_log;

/// Reads a result that may be `None`, `True` or `False` (`check_password`,
/// `allow_access`) as `if_none`, `if_true` or `if_false`; any other value is
/// left to `other`.
fn none_or_bool<T>(
    value: &Bound<'_, PyAny>,
    if_none: T,
    if_true: T,
    if_false: T,
    other: impl FnOnce() -> Result<T, CallFailed>,
) -> Result<T, CallFailed> {
    if value.is_none() {
        return Ok(if_none);
    }
    match value.cast::<PyBool>() {
        Ok(flag) if flag.is_true() => Ok(if_true),
        Ok(_) => Ok(if_false),
        Err(_) => other(),
    }
}

/// What `check_password` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicOutcome {
    Granted,
    /// A user name was returned (the caller compares it with the name the
    /// client sent).
    GrantedAs(String),
    Denied,
    NotFound,
}

/// `check_password`'s result.
pub fn basic(
    log: LogSink,
    script: &str,
    value: &Bound<'_, PyAny>,
) -> Result<BasicOutcome, CallFailed> {
    none_or_bool(
        value,
        BasicOutcome::NotFound,
        BasicOutcome::Granted,
        BasicOutcome::Denied,
        || granted_as(log, script, value),
    )
}

/// A `check_password` result that is neither `None` nor a bool: a user
/// name, or refused.
fn granted_as(
    log: LogSink,
    script: &str,
    value: &Bound<'_, PyAny>,
) -> Result<BasicOutcome, CallFailed> {
    if let Ok(name) = value.cast::<PyString>() {
        let name = name.to_str().map_err(|_| {
            sink_log!(
                log,
                Level::Error,
                tags::BAD_CHECK_PASSWORD_RESULT,
                "script '{script}': check_password returned a str that is not valid Unicode"
            );
            CallFailed
        })?;
        if let Err(problem) = validate_name(name) {
            sink_log!(
                log,
                Level::Error,
                tags::BAD_CHECK_PASSWORD_RESULT,
                "script '{script}': check_password returned an unusable user name: {problem}"
            );
            return Err(CallFailed);
        }
        return Ok(BasicOutcome::GrantedAs(name.to_owned()));
    }
    sink_log!(
        log,
        Level::Error,
        tags::BAD_CHECK_PASSWORD_RESULT,
        "script '{script}': check_password must return True, False, None or a user name (str), not {}",
        type_name(value)
    );
    Err(CallFailed)
}

/// `get_realm_hash`'s result: `None` (unknown user) or a valid hash.
pub fn realm_hash(
    log: LogSink,
    script: &str,
    value: &Bound<'_, PyAny>,
) -> Result<Option<Vec<u8>>, CallFailed> {
    if value.is_none() {
        return Ok(None);
    }
    let hash: Vec<u8> = if let Ok(text) = value.cast::<PyString>() {
        text.to_str()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        bytes.as_bytes().to_vec()
    } else {
        sink_log!(
            log,
            Level::Error,
            tags::BAD_REALM_HASH,
            "script '{script}': get_realm_hash must return None or an MD5 hex digest (str or bytes), not {}",
            type_name(value)
        );
        return Err(CallFailed);
    };
    if let Err(problem) = validate_realm_hash(&hash) {
        sink_log!(
            log,
            Level::Error,
            tags::BAD_REALM_HASH,
            "script '{script}': get_realm_hash returned an unusable hash: {problem}"
        );
        return Err(CallFailed);
    }
    Ok(Some(hash))
}

/// The most items of a `groups_for_user` result that are read.
pub const MAX_GROUPS: usize = 10_000;

/// Read what `groups_for_user` returned, strictly, handing each usable
/// group name to `add`.
pub fn groups(
    log: LogSink,
    script: &str,
    value: &Bound<'_, PyAny>,
    mut add: impl FnMut(&[u8]),
) -> Result<(), CallFailed> {
    let py = value.py();
    if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() {
        sink_log!(
            log,
            Level::Error,
            tags::BAD_GROUPS_RESULT,
            "script '{script}': groups_for_user returned a single {} instead of an iterable of group names",
            type_name(value)
        );
        return Err(CallFailed);
    }
    let claims_iterable =
        value.hasattr("__iter__").unwrap_or(false) || value.hasattr("__getitem__").unwrap_or(false);
    let items = value.try_iter().map_err(|err| {
        if claims_iterable {
            // e.g. a lazy query set whose database query fails in __iter__.
            log_exception(
                py,
                log,
                tags::GROUPS_ITERATION_RAISED,
                &format!("script '{script}': iterating the result of groups_for_user raised"),
                &err,
            );
            return CallFailed;
        }
        sink_log!(
            log,
            Level::Error,
            tags::BAD_GROUPS_RESULT,
            "script '{script}': groups_for_user must return an iterable of group names (str or bytes), not {}",
            type_name(value)
        );
        CallFailed
    })?;
    for (read, item) in items.enumerate() {
        if read == MAX_GROUPS {
            // An endless iterator in C (`map(str, itertools.count())`) is
            // never interrupted by WSGIScriptTimeout: stop reading here.
            sink_log!(
                log,
                Level::Error,
                tags::TOO_MANY_GROUPS,
                "script '{script}': groups_for_user yielded more than {MAX_GROUPS} items; refused (group lists are \
                 read up to that number, so a runaway iterator cannot hold the worker)"
            );
            return Err(CallFailed);
        }
        let item = item.map_err(|err| {
            log_exception(
                py,
                log,
                tags::GROUPS_ITERATION_RAISED,
                &format!("script '{script}': iterating the result of groups_for_user raised"),
                &err,
            );
            CallFailed
        })?;
        let name = if let Ok(text) = item.cast::<PyString>() {
            text.to_str().map(str::to_owned).map_err(|_| {
                sink_log!(
                    log,
                    Level::Error,
                    tags::BAD_GROUPS_RESULT,
                    "script '{script}': groups_for_user yielded a str that is not valid Unicode"
                );
                CallFailed
            })?
        } else if let Ok(bytes) = item.cast::<PyBytes>() {
            decode_credential(bytes.as_bytes()).into_owned()
        } else {
            sink_log!(
                log,
                Level::Error,
                tags::BAD_GROUPS_RESULT,
                "script '{script}': groups_for_user yielded an item of type {}; group names must be str or bytes",
                type_name(&item)
            );
            return Err(CallFailed);
        };
        if name.is_empty() {
            // mod_wsgi's own examples return [''] for "no groups": an empty
            // name can never match a `Require wsgi-group` word.
            sink_log!(
                log,
                Level::Debug,
                tags::EMPTY_GROUP_NAME,
                "script '{script}': groups_for_user yielded an empty group name; skipped"
            );
            continue;
        }
        if let Err(problem) = validate_name(&name) {
            sink_log!(
                log,
                Level::Error,
                tags::BAD_GROUPS_RESULT,
                "script '{script}': groups_for_user yielded an unusable group name: {problem}"
            );
            return Err(CallFailed);
        }
        add(name.as_bytes());
    }
    Ok(())
}

/// `allow_access`'s result.
pub fn allow_access(
    log: LogSink,
    script: &str,
    value: &Bound<'_, PyAny>,
) -> Result<Verdict, CallFailed> {
    none_or_bool(
        value,
        Verdict::Neutral,
        Verdict::Allow,
        Verdict::Deny,
        || {
            sink_log!(
                log,
                Level::Error,
                tags::BAD_ALLOW_ACCESS_RESULT,
                "script '{script}': allow_access must return True, False or None, not {}",
                type_name(value)
            );
            Err(CallFailed)
        },
    )
}
