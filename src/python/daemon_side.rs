//! The Python side of an auth daemon process (`WSGIAuthDaemonProcess`,
//! docs/auth-daemons.md): starting CPython once the process has dropped
//! its privileges, and answering one [`CallRequest`] on a serving thread
//! with the same code embedded mode runs — script loading and reloading,
//! application groups, `environ`, the call, the interpretation of its
//! result — with every line the call logs captured into the reply, for the
//! Apache child to write with the request's context.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use authnz_core::daemon_frame::{Allow, CallReply, CallRequest, Function, Outcome};
use authnz_core::host_verdict::Verdict;
use authnz_core::log_tags as tags;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::httpd::log::Level;
use crate::python::call::{call_function, Call, CallFailed, CallLimits};
use crate::python::environ::EnvironSource;
use crate::python::log_sink::{Capture, LogSink};
use crate::python::request_objects::Binding;
use crate::python::results::{self, BasicOutcome};
use crate::python::runtime::{self, PythonSettings};
use crate::sink_log;

/// The Python settings of a daemon group (`python-home=`, `python-path=`).
#[derive(Debug, Default, Clone)]
pub struct DaemonPython {
    pub home: Option<String>,
    pub path: Vec<String>,
}

/// In a daemon process, after privileges are dropped: start CPython (through
/// `PyConfig`, as `WSGIPythonHome`/`WSGIPythonPath` do in a child) and
/// release the GIL so serving threads can attach.
pub fn start(settings: &DaemonPython) -> Result<(), String> {
    let settings = PythonSettings {
        home: settings.home.clone(),
        path: settings.path.clone(),
    };
    runtime::start(&settings, false).map(|_| ())
}

/// In a daemon process, on a serving thread: make the call `request`
/// describes and interpret its result as embedded mode does, capturing
/// every line the call logs into the reply. Never panics.
pub fn answer(request: &CallRequest) -> CallReply {
    let capture = Capture::begin();
    let made = std::panic::catch_unwind(AssertUnwindSafe(|| make(request)));
    let (outcome, timed_out) = match made {
        Ok(made) => made,
        Err(_) => {
            sink_log!(
                LogSink::Captured,
                Level::Error,
                tags::DAEMON_CALL_PANICKED,
                "internal error in the auth daemon process while calling {}() in '{}'; answered \
                 as an error",
                request.function.name(),
                request.script
            );
            (Outcome::Failed, false)
        }
    };
    CallReply {
        sequence: request.sequence,
        outcome,
        timed_out,
        log: capture.finish(),
    }
}

/// The entries of `environ` that are not environ: `SSL_*` variables the
/// child sent for `mod_ssl.var_lookup` carry this prefix.
pub const SSL_VAR_PREFIX: &str = "mod_ssl.var_lookup:";

/// The entry naming the daemon group, the last before the `SSL_*` ones.
pub const PROCESS_GROUP_KEY: &str = "mod_wsgi.process_group";

/// Make the call; the outcome and whether the call reached its limit.
fn make(request: &CallRequest) -> (Outcome, bool) {
    let function = request.function;
    if request.args.len() != function.arg_count() {
        sink_log!(
            LogSink::Captured,
            Level::Error,
            tags::DAEMON_BAD_CALL,
            "{}() takes {} arguments after environ, but the call carried {}",
            function.name(),
            function.arg_count(),
            request.args.len()
        );
        return (Outcome::Failed, false);
    }
    let split = request
        .environ
        .iter()
        .position(|(k, _)| k.starts_with(SSL_VAR_PREFIX))
        .unwrap_or(request.environ.len());
    let (environ, ssl) = request.environ.split_at(split);
    // `mod_wsgi.process_group` is set apart: the thread's kept environ
    // holds the base's value for it.
    let (process_group, environ) = match environ.split_last() {
        Some(((k, v), rest)) if k == PROCESS_GROUP_KEY => {
            (String::from_utf8_lossy(v).into_owned(), rest)
        }
        _ => (String::new(), environ),
    };
    let ssl_vars: Vec<(String, String)> = ssl
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(SSL_VAR_PREFIX)?;
            Some((name.to_owned(), String::from_utf8_lossy(v).into_owned()))
        })
        .collect();
    let https = environ.iter().any(|(k, v)| k == "HTTPS" && v == b"on");
    let timeout =
        (request.timeout_ms > 0).then(|| Duration::from_millis(u64::from(request.timeout_ms)));
    let secret = match function {
        Function::CheckPassword => Some(request.args[1].as_str()),
        _ => None,
    };
    let call = Call {
        binding: Binding::Captured {
            https,
            ssl_vars: &ssl_vars,
        },
        environ: EnvironSource::Entries {
            entries: environ,
            process_group: &process_group,
        },
        limits: CallLimits {
            timeout,
            reloading: request.reloading,
        },
        path: &request.script,
        group: &request.application_group,
        function: function.name(),
        secret,
    };
    let script = request.script.as_str();
    let args = &request.args;
    let (outcome, overran) = match function {
        Function::CheckPassword => {
            let (result, overran) = call_function(
                &call,
                |py| [text(py, &args[0]), text(py, &args[1])],
                |log, value| results::basic(log, script, value),
            );
            let outcome = match result {
                Ok(BasicOutcome::Granted) => Outcome::Granted,
                Ok(BasicOutcome::GrantedAs(name)) => Outcome::GrantedAs(name),
                Ok(BasicOutcome::Denied) => Outcome::Denied,
                Ok(BasicOutcome::NotFound) => Outcome::NotFound,
                Err(CallFailed) => Outcome::Failed,
            };
            (outcome, overran)
        }
        Function::GetRealmHash => {
            let (result, overran) = call_function(
                &call,
                |py| [text(py, &args[0]), text(py, &args[1])],
                |log, value| results::realm_hash(log, script, value),
            );
            let outcome = match result {
                Ok(Some(hash)) => Outcome::RealmHash(hash),
                Ok(None) => Outcome::NotFound,
                Err(CallFailed) => Outcome::Failed,
            };
            (outcome, overran)
        }
        Function::GroupsForUser => {
            let (result, overran) = call_function(
                &call,
                |py| [text(py, &args[0])],
                |log, value| {
                    // Names equal but for ASCII case are one group to the
                    // child (`GroupSet`): send each once.
                    let mut seen: HashSet<Vec<u8>> = HashSet::new();
                    let mut names: Vec<Vec<u8>> = Vec::new();
                    results::groups(log, script, value, |g| {
                        if seen.insert(g.to_ascii_lowercase()) {
                            names.push(g.to_vec());
                        }
                    })
                    .map(|()| names)
                },
            );
            let outcome = match result {
                Ok(names) => Outcome::Groups(names),
                Err(CallFailed) => Outcome::Failed,
            };
            (outcome, overran)
        }
        Function::AllowAccess => {
            let (result, overran) = call_function(
                &call,
                |py| [text(py, &args[0])],
                |log, value| results::allow_access(log, script, value),
            );
            let outcome = match result {
                Ok(Verdict::Allow) => Outcome::AllowAccess(Allow::True),
                Ok(Verdict::Deny) => Outcome::AllowAccess(Allow::False),
                Ok(Verdict::Neutral) => Outcome::AllowAccess(Allow::None),
                Err(CallFailed) => Outcome::Failed,
            };
            (outcome, overran)
        }
    };
    (outcome, overran)
}

/// An argument as a Python `str`.
fn text<'py>(py: Python<'py>, arg: &str) -> Bound<'py, PyAny> {
    PyString::new(py, arg).into_any()
}
