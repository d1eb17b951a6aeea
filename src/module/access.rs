//! Host access (docs/authorization.md#host-access-wsgiaccessscript-and-require-wsgi-host): `WSGIAccessScript` on the access phase and the
//! composable authz provider `wsgi-host` (`Require wsgi-host`), both calling
//! `allow_access(environ, host)` with the host as `Request::access_host`
//! defines it.

use authnz_core::daemon_frame::{Allow, Function, Outcome as DaemonOutcome};
use authnz_core::host_verdict::Verdict;
use authnz_core::log_tags as tags;
use std::ffi::{c_int, CStr};

use pyo3::types::PyString;

use crate::apr::Pool;
use crate::ffi;
use crate::httpd::auth_providers::{
    self as providers, authz_record, AuthzProvider, AuthzStatus, ParsedLine, Provider, Registration,
};
use crate::httpd::cmd::Cmd;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::Request;
use crate::module::answer::with_call_slot;
use crate::module::config::{DirConfig, ScriptSpec};
use crate::module::daemon_dispatch;
use crate::module::request_state::RequestState;
use crate::module::status::{self, Outcome};
use crate::python::call::{application_group_name, call_script, CallFailed, Target};
use crate::python::call_limit::CallSlot;
use crate::python::environ::latin1;
use crate::python::results;
use crate::rlog;

/// `allow_access`'s answer for this request: asked once per script and
/// application group, shared by the access phase and `Require wsgi-host`
/// lines (also under `AuthzProviderAlias` sections naming the same script).
fn ask(r: Request, dir: &DirConfig, what: &str) -> Result<Verdict, CallFailed> {
    let Some(spec) = dir.access_script.as_deref() else {
        rlog!(
            &r,
            Level::Error,
            tags::NO_ACCESS_SCRIPT,
            "{what} is used here but no WSGIAccessScript applies"
        );
        return Err(CallFailed);
    };
    let group = application_group_name(r, &spec.application_group);
    let target = Target::new(&spec.path, &group);
    let known = r.state::<RequestState>().host_verdict(target);
    if let Some(known) = known {
        return known;
    }
    let verdict = ask_python(r, dir, spec, target);
    r.state::<RequestState>()
        .remember_host_verdict(target, verdict);
    verdict
}

fn ask_python(
    r: Request,
    dir: &DirConfig,
    spec: &ScriptSpec,
    target: Target<'_>,
) -> Result<Verdict, CallFailed> {
    let host = latin1(&r.access_host());
    with_call_slot(r, "allow_access", target.path, |slot| {
        let figures = status::call_starts(target.path, "allow_access");
        let verdict = match dir.daemon_of(spec) {
            Some(daemon) => ask_daemon(r, dir, spec, daemon, target, &host, slot),
            None => call_script(
                r,
                dir.call_limits(),
                target,
                slot,
                "allow_access",
                None,
                |py| [PyString::new(py, &host).into_any()],
                |log, value| results::allow_access(log, target.path, value),
            ),
        };
        if let Some(figures) = figures {
            figures.finish(verdict_outcome(&verdict), slot.timed_out());
        }
        verdict
    })
    .unwrap_or(Err(CallFailed))
}

/// `allow_access` of a script in auth daemon group `daemon`.
fn ask_daemon(
    r: Request,
    dir: &DirConfig,
    spec: &ScriptSpec,
    daemon: &str,
    target: Target<'_>,
    host: &str,
    slot: &CallSlot,
) -> Result<Verdict, CallFailed> {
    let outcome = daemon_dispatch::call(
        r,
        dir,
        spec,
        daemon,
        target.group,
        Function::AllowAccess,
        vec![host.to_owned()],
        slot,
    );
    match outcome {
        DaemonOutcome::AllowAccess(Allow::True) => Ok(Verdict::Allow),
        DaemonOutcome::AllowAccess(Allow::False) => Ok(Verdict::Deny),
        DaemonOutcome::AllowAccess(Allow::None) => Ok(Verdict::Neutral),
        DaemonOutcome::Failed => Err(CallFailed),
        other => Err(daemon_dispatch::unexpected(
            r,
            spec,
            Function::AllowAccess,
            &other,
        )),
    }
}

/// How the live figures count `allow_access`'s answer.
fn verdict_outcome(verdict: &Result<Verdict, CallFailed>) -> Outcome {
    match verdict {
        Ok(Verdict::Allow) => Outcome::Granted,
        Ok(Verdict::Deny) => Outcome::Denied,
        Ok(Verdict::Neutral) => Outcome::Unknown,
        Err(CallFailed) => Outcome::Error,
    }
}

/// The authz provider `wsgi-host`.
pub fn provider() -> Provider {
    Provider::Authz(c"wsgi-host", &WSGI_HOST_PROVIDER)
}

/// Host access's access-phase hook and provider.
pub fn register(pool: Pool) {
    hooks::check_access_per_conf::<AccessPhase>(Order::MIDDLE);
    providers::register(pool, provider(), Registration::Counted);
}

/// `WSGIAccessScript`: True or None leave the decision to `Require`; False
/// and every error answer 403. Where the section itself says
/// `Require wsgi-host` in the server configuration for this request's
/// method, the provider asks instead (once, composably); one in
/// `.htaccess`, or one inside a `<Limit>` of other methods, leaves this
/// gate in place.
fn check_access(r: Request) -> c_int {
    let Some(dir) = r.dir_config::<DirConfig>() else {
        return ffi::HOOK_DECLINED;
    };
    if dir.access_script.is_none() || dir.host_access_by_require_for(r.method_number()) {
        return ffi::HOOK_DECLINED;
    }
    match ask(r, dir, "WSGIAccessScript") {
        Ok(Verdict::Allow) | Ok(Verdict::Neutral) => ffi::HOOK_DECLINED,
        Ok(Verdict::Deny) => {
            rlog!(
                &r,
                Level::Error,
                tags::ACCESS_DENIED,
                "client denied by allow_access: {}",
                latin1(&r.access_host())
            );
            ffi::HOOK_FORBIDDEN
        }
        Err(CallFailed) => ffi::HOOK_FORBIDDEN,
    }
}

/// The access phase, when `WSGIAccessScript` applies.
struct AccessPhase;

impl hooks::RequestHook for AccessPhase {
    const NAME: &'static str = "WSGIAccessScript";
    const ON_PANIC: hooks::Status = ffi::HOOK_FORBIDDEN;

    fn run(r: Request) -> hooks::Status {
        check_access(r)
    }
}

/// The provider record for `Require wsgi-host`.
static WSGI_HOST_PROVIDER: ffi::authz_provider = authz_record::<WsgiHost>();

/// `Require wsgi-host`: the `WSGIAccessScript` of the location decides.
struct WsgiHost;

impl AuthzProvider for WsgiHost {
    const NAME: &'static str = "Require wsgi-host";
    const PARSE_PANIC: &'static CStr = c"internal error parsing Require wsgi-host";

    fn parse(mut cmd: Cmd, arguments: &CStr) -> Result<ParsedLine, String> {
        if !arguments.to_bytes().iter().all(u8::is_ascii_whitespace) {
            return Err(
                "Require wsgi-host takes no arguments: the WSGIAccessScript of the \
                        location decides"
                    .to_owned(),
            );
        }
        // A `Require wsgi-host` in `.htaccess` must not switch off the
        // access-phase gate the server configuration set: there both run,
        // sharing one call.
        if cmd.in_htaccess() {
            return Ok(ParsedLine::Nothing);
        }
        let limited = cmd.limited_methods();
        match cmd.section_config_mut::<DirConfig>() {
            Some(dir) => {
                dir.host_access_by_require |= limited;
                Ok(ParsedLine::Nothing)
            }
            None => Err("Require wsgi-host: no configuration for this section".to_owned()),
        }
    }

    fn check(r: Request, _parsed: ParsedLine) -> AuthzStatus {
        let Some(dir) = r.dir_config::<DirConfig>() else {
            return ffi::authz_status_AUTHZ_GENERAL_ERROR;
        };
        match ask(r, dir, "Require wsgi-host") {
            Ok(Verdict::Allow) => ffi::authz_status_AUTHZ_GRANTED,
            Ok(Verdict::Deny) => ffi::authz_status_AUTHZ_DENIED,
            Ok(Verdict::Neutral) => ffi::authz_status_AUTHZ_NEUTRAL,
            Err(CallFailed) => ffi::authz_status_AUTHZ_GENERAL_ERROR,
        }
    }
}
