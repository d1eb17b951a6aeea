//! Calling a script function for a request: resolve the application group,
//! fetch the function, build `environ`, call it, and report exceptions. The
//! caller maps the returned object to a provider status.

use authnz_core::log_tags as tags;
use authnz_core::script_options::ApplicationGroup;
use pyo3::prelude::*;

use crate::cpython::objects;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::python::call_limit::CallSlot;
use crate::python::environ::{build_environ, EnvironSource};
use crate::python::errors::{log_exception, log_exception_hiding};
use crate::python::log_sink::LogSink;
use crate::python::request_objects::{Binding, CallScope};
use crate::python::std_streams::CallOutputScope;
use crate::python::watchdog::{is_timeout, TimedCall};
use crate::python::{runtime, scripts};
use crate::{rlog, sink_log};

/// The Python call could not produce a result; the reason is already logged.
#[derive(Debug, Clone, Copy)]
pub struct CallFailed;

/// `%{SERVER}` / `%{HOST}` expansion: the virtual host's `ServerName`, or
/// the host name the request asked for, plus `:port` when the port the
/// connection arrived on is not 80 or 443. Clients choose the `Host`
/// header, so neither part is taken from it unchecked: `%{HOST}` is the
/// request's host name only when the virtual host was configured with it
/// (`ServerName`, `ServerAlias`, wildcard aliases included), else the
/// `ServerName`; the port is the listening port, never the header's.
pub fn application_group_name(r: Request, group: &ApplicationGroup) -> String {
    let with_port = |name: String| match r.local_port() {
        80 | 443 | 0 => name,
        port => format!("{name}:{port}"),
    };
    let server_name = || String::from_utf8_lossy(r.server().hostname()).into_owned();
    match group {
        ApplicationGroup::Global => String::new(),
        ApplicationGroup::Server => with_port(server_name()),
        ApplicationGroup::Host => with_port(match r.hostname() {
            Some(name) if r.server().answers_to(&name) => name,
            Some(name) => {
                rlog!(
                    &r,
                    Level::Debug,
                    tags::HOST_GROUP_FALLBACK,
                    "application-group=%{{HOST}}: '{name}' is not a name of this virtual host; \
                     the group of its ServerName is used"
                );
                server_name()
            }
            None => server_name(),
        }),
        ApplicationGroup::Named(name) => name.clone(),
    }
}

/// The script a call runs: its path, in the application group the request
/// expands the directive's option to.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub path: &'a str,
    pub group: &'a str,
}

impl<'a> Target<'a> {
    pub fn new(path: &'a str, group: &'a str) -> Target<'a> {
        Target { path, group }
    }
}

/// How a call may run where it is made (`WSGIScriptTimeout`,
/// `WSGIScriptReloading`).
#[derive(Clone, Copy)]
pub struct CallLimits {
    /// The time limit of one call; `None`: none.
    pub timeout: Option<std::time::Duration>,
    /// Whether a script is re-loaded when its file changes.
    pub reloading: bool,
}

/// Call `function(environ, *args)` of `target` for request `r` and hand the
/// result to `interpret` while the GIL is still held. `secret` (the password
/// given to `check_password`) is hidden in any exception that is logged.
/// The caller holds a `WSGIMaxConcurrentCalls` slot for the call, which
/// notes whether the call reached `WSGIScriptTimeout`.
#[allow(clippy::too_many_arguments)]
pub fn call_script<R, const N: usize>(
    r: Request,
    limits: CallLimits,
    target: Target<'_>,
    slot: &CallSlot,
    function: &'static str,
    secret: Option<&str>,
    args: impl for<'py> FnOnce(Python<'py>) -> [Bound<'py, PyAny>; N],
    interpret: impl for<'py> FnOnce(LogSink, &Bound<'py, PyAny>) -> Result<R, CallFailed>,
) -> Result<R, CallFailed> {
    let call = Call {
        binding: Binding::Request(r),
        environ: EnvironSource::Request(r, target.group),
        limits,
        path: target.path,
        group: target.group,
        function,
        secret,
    };
    let (result, overran) = call_function(&call, args, interpret);
    if overran {
        slot.note_timeout();
    }
    result
}

/// What one call is about: where it is made (a request, or a call sent to
/// an auth daemon process), its environ, limits, script and function.
pub struct Call<'a> {
    pub binding: Binding<'a>,
    pub environ: EnvironSource<'a>,
    pub limits: CallLimits,
    pub path: &'a str,
    pub group: &'a str,
    pub function: &'static str,
    /// The password given to `check_password`, hidden in exceptions.
    pub secret: Option<&'a str>,
}

/// Make `call` and hand its result to `interpret` under the GIL; the
/// second value says whether the call reached its time limit. Lines go to
/// the call's [`LogSink`] (the request's log, or the reply of a daemon).
pub fn call_function<R, const N: usize>(
    call: &Call<'_>,
    args: impl for<'py> FnOnce(Python<'py>) -> [Bound<'py, PyAny>; N],
    interpret: impl for<'py> FnOnce(LogSink, &Bound<'py, PyAny>) -> Result<R, CallFailed>,
) -> (Result<R, CallFailed>, bool) {
    let log = call.binding.log();
    let (path, function, limits) = (call.path, call.function, call.limits);
    let outcome = runtime::with_python(|py| {
        let timer = TimedCall::start(py, limits.timeout);
        let result = run_call(py, call, args, interpret);
        let overran = timer.is_some_and(|t| t.finish(py));
        if overran && result.is_ok() {
            // The limit passed inside C code; the call came back too late.
            sink_log!(
                log,
                Level::Error,
                tags::SCRIPT_TIMEOUT,
                "{function}() in '{}' returned after WSGIScriptTimeout ({}s); its answer is refused",
                path,
                limit_secs(limits)
            );
            return (Err(CallFailed), true);
        }
        (result, overran)
    });
    outcome.unwrap_or_else(|| {
        sink_log!(
            log,
            Level::Error,
            tags::PYTHON_NOT_IN_CHILD,
            "Python is not available in this process, so '{path}' cannot be called: {}",
            runtime::unavailable_reason()
        );
        (Err(CallFailed), false)
    })
}

fn limit_secs(limits: CallLimits) -> u64 {
    limits.timeout.map_or(0, |d| d.as_secs())
}

/// Fetch the function, build `environ`, call, interpret, under the GIL.
fn run_call<'py, R, const N: usize>(
    py: Python<'py>,
    call: &Call<'_>,
    args: impl FnOnce(Python<'py>) -> [Bound<'py, PyAny>; N],
    interpret: impl FnOnce(LogSink, &Bound<'py, PyAny>) -> Result<R, CallFailed>,
) -> Result<R, CallFailed> {
    let Call {
        binding,
        environ,
        limits,
        path,
        group,
        function,
        secret,
    } = *call;
    let log = binding.log();
    let callable = scripts::function(py, log, path, group, function, limits.reloading)
        .map_err(|_| CallFailed)?;
    // What the script prints from here on, while reading its result too,
    // is logged with the request (its import, just done, was not).
    let _printing = CallOutputScope::begin(log);
    let scope = CallScope::new(py, binding).map_err(|e| {
        log_exception(
            py,
            log,
            tags::CALL_PREPARATION_FAILED,
            &format!("cannot prepare the call of {function}() in '{path}'"),
            &e,
        );
        CallFailed
    })?;
    let environ = build_environ(py, environ, &scope).map_err(|e| {
        log_exception(
            py,
            log,
            tags::CALL_PREPARATION_FAILED,
            &format!("cannot build environ for {function}() in '{path}'"),
            &e,
        );
        CallFailed
    })?;
    let rest = args(py);
    let result = objects::vectorcall(py, &callable, environ.as_any(), &rest);
    drop((environ, rest));
    scope.end(py);
    match result {
        Ok(value) => interpret(log, &value),
        Err(err) if is_timeout(py, &err) => {
            let summary = format!(
                "{function}() in '{}' exceeded WSGIScriptTimeout ({}s) and was interrupted",
                path,
                limit_secs(limits)
            );
            log_exception_hiding(py, log, tags::SCRIPT_TIMEOUT, &summary, &err, secret);
            Err(CallFailed)
        }
        Err(err) => {
            log_exception_hiding(
                py,
                log,
                tags::SCRIPT_RAISED,
                &format!("{function}() in '{}' raised", path),
                &err,
                secret,
            );
            Err(CallFailed)
        }
    }
}
