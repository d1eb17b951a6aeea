//! Calls of scripts configured with `process-group=NAME`
//! (docs/auth-daemons.md): the Apache child builds the call — function,
//! script, expanded application group, `WSGIScriptReloading`, time limit,
//! `environ`'s entries, arguments — and sends it to the daemon group
//! through `daemon::client`, which reuses the worker thread's connection
//! and writes the lines the call logged with the request's context. The
//! in-process cache, mod_authn_socache, the `WSGIMaxConcurrentCalls` slot
//! and the live figures stay in front, in the child (`answer`).
//!
//! The daemon group's `call-timeout=` is read here from the directive
//! (`note_daemon`), so a child knows it without asking the daemon, and
//! which setting a call's limit came from: the lines about an overrun
//! name that one (`call-timeout= of WSGIAuthDaemonProcess NAME`, or
//! `WSGIScriptTimeout`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use authnz_core::daemon_frame::{CallRequest, Function, Outcome};
use authnz_core::log_tags as tags;
use authnz_core::process_group::{call_timeout_setting, SCRIPT_TIMEOUT_SETTING};

use crate::daemon::client;
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::config::{DirConfig, ScriptSpec};
use crate::python::call::CallFailed;
use crate::python::call_limit::CallSlot;
use crate::python::daemon_side::{PROCESS_GROUP_KEY, SSL_VAR_PREFIX};
use crate::python::environ::request_entry_list_into;
use crate::rlog;

/// `call-timeout=` of each daemon group of the configuration being read
/// (`None`: the location's `WSGIScriptTimeout`; `Some(0)`: none).
static CALL_TIMEOUTS: Mutex<Vec<(String, Option<u64>)>> = Mutex::new(Vec::new());

fn call_timeouts() -> std::sync::MutexGuard<'static, Vec<(String, Option<u64>)>> {
    CALL_TIMEOUTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Note a daemon group's `call-timeout=` (from `WSGIAuthDaemonProcess`).
pub fn note_daemon(name: &str, call_timeout: Option<u64>) {
    call_timeouts().push((name.to_owned(), call_timeout));
}

/// Forget the notes of an earlier reading of the configuration.
pub fn forget() {
    call_timeouts().clear();
}

/// The time limit of a call of `dir`'s script in daemon group `daemon`
/// (`None`: none).
struct CallLimit {
    limit: Option<Duration>,
    /// The setting it came from, as the log lines name it.
    setting: String,
}

/// The group's `call-timeout=` if set, else the location's
/// `WSGIScriptTimeout`.
fn call_limit(dir: &DirConfig, daemon: &str) -> CallLimit {
    let configured = call_timeouts()
        .iter()
        .find(|(name, _)| name == daemon)
        .and_then(|(_, t)| *t);
    match configured {
        Some(secs) => CallLimit {
            limit: (secs > 0).then(|| Duration::from_secs(secs)),
            setting: call_timeout_setting(daemon),
        },
        None => CallLimit {
            limit: dir.script_timeout(),
            setting: SCRIPT_TIMEOUT_SETTING.to_owned(),
        },
    }
}

/// How long a thread waits for another thread's daemon call of the same
/// question: the call's limit and the grace the client gives it.
pub fn reply_wait(dir: &DirConfig, daemon: &str) -> Duration {
    let limit = call_limit(dir, daemon).limit;
    let ms = limit.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
    client::deadline_for(ms).saturating_duration_since(Instant::now())
}

/// The `SSL_*` variables sent for `mod_ssl.var_lookup` over TLS.
const SSL_VARS: [&str; 16] = [
    "SSL_PROTOCOL",
    "SSL_CIPHER",
    "SSL_CIPHER_USEKEYSIZE",
    "SSL_SESSION_ID",
    "SSL_TLS_SNI",
    "SSL_CLIENT_VERIFY",
    "SSL_CLIENT_S_DN",
    "SSL_CLIENT_S_DN_CN",
    "SSL_CLIENT_S_DN_Email",
    "SSL_CLIENT_I_DN",
    "SSL_CLIENT_M_SERIAL",
    "SSL_CLIENT_V_START",
    "SSL_CLIENT_V_END",
    "SSL_CLIENT_CERT",
    "SSL_SERVER_S_DN",
    "SSL_SERVER_I_DN",
];

/// The entries of `environ` a daemon call carries: the same as embedded
/// mode's, `mod_wsgi.process_group` (the daemon group's name), and over
/// TLS the `SSL_*` variables `mod_ssl.var_lookup` answers in the daemon.
pub fn environ_entries(
    r: Request,
    daemon: &str,
    application_group: &str,
    entries: &mut Vec<(String, Vec<u8>)>,
) {
    entries.clear();
    request_entry_list_into(r, application_group, entries);
    entries.push((PROCESS_GROUP_KEY.to_owned(), daemon.as_bytes().to_vec()));
    if r.is_https() {
        for name in SSL_VARS {
            if let Some(value) = r.ssl_var(name) {
                entries.push((format!("{SSL_VAR_PREFIX}{name}"), value.into_bytes()));
            }
        }
    }
}

thread_local! {
    /// This worker thread's list of `environ` entries, kept from call to
    /// call for its capacity (a call allocates no list of its own).
    static ENTRIES: std::cell::RefCell<Vec<(String, Vec<u8>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Call `function` of `spec`'s script (in application group
/// `application_group`, expanded) in daemon group `daemon` with `args`;
/// the daemon's interpretation of the result. A failed call (already
/// logged) is `Outcome::Failed`; a timed-out one is noted on `slot`.
#[allow(clippy::too_many_arguments)]
pub fn call(
    r: Request,
    dir: &DirConfig,
    spec: &ScriptSpec,
    daemon: &str,
    application_group: &str,
    function: Function,
    args: Vec<String>,
    slot: &CallSlot,
) -> Outcome {
    let CallLimit { limit, setting } = call_limit(dir, daemon);
    let mut environ = ENTRIES.with(|e| std::mem::take(&mut *e.borrow_mut()));
    environ_entries(r, daemon, application_group, &mut environ);
    let request = CallRequest {
        sequence: 0,
        function,
        reloading: dir.script_reloading(),
        timeout_ms: limit.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
        script: spec.path.clone(),
        application_group: application_group.to_owned(),
        environ,
        args,
    };
    let deadline = client::deadline_for(request.timeout_ms);
    let answer = client::call(r, daemon, &request, deadline, &setting);
    let mut environ = request.environ;
    environ.clear();
    ENTRIES.with(|e| *e.borrow_mut() = environ);
    match answer {
        Ok(reply) => {
            if reply.timed_out {
                slot.note_timeout();
            }
            reply.outcome
        }
        Err(()) => {
            // No answer by the deadline: the call overran its limit (the
            // daemon process was stuck where it cannot be interrupted).
            if limit.is_some() && Instant::now() >= deadline {
                slot.note_timeout();
            }
            Outcome::Failed
        }
    }
}

/// An answer of another function than the one called: logged, an error.
pub fn unexpected(
    r: Request,
    spec: &ScriptSpec,
    function: Function,
    outcome: &Outcome,
) -> CallFailed {
    let what = match outcome {
        Outcome::Granted | Outcome::GrantedAs(_) | Outcome::Denied => "a check_password answer",
        Outcome::NotFound => "an unknown-user answer",
        Outcome::RealmHash(_) => "a realm hash",
        Outcome::Groups(_) => "a group list",
        Outcome::AllowAccess(_) => "an allow_access answer",
        Outcome::Failed => "a failure",
    };
    rlog!(
        &r,
        Level::Error,
        tags::DAEMON_REPLY_MISMATCH,
        "script '{}': the auth daemon process answered {}() with {what}; refused",
        spec.path,
        function.name()
    );
    CallFailed
}
