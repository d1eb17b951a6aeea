//! The directive table and its handlers. Arguments arrive as words
//! (`TAKE_ARGV`), or for the three script directives as the text whole
//! (`RAW_ARGS`, read as mod_wsgi reads them, so option values may be
//! quoted); an `Err` becomes httpd's "Syntax error on line N of FILE"
//! message, so `apache2 -t` names file and line (httpd/directives.rs).

use std::sync::Arc;
use std::time::Duration;

use authnz_core::basic_entry_hash::BasicEntryHash;
use authnz_core::daemon_options::parse_daemon_options;
use authnz_core::process_group::ProcessGroup;
use authnz_core::python_home::venv_mismatch;
use authnz_core::reflect::validate_header_name;
use authnz_core::script_options::{parse_script_directive, ScriptDirective};
use authnz_core::user_name_encoding::UserNameEncoding;
use authnz_core::wait_time::parse_wait_time;

use crate::ffi;
use crate::httpd::cmd::Cmd;
use crate::httpd::directives::{end, entry, raw_entry, CommandTable};
use crate::module::auth_daemons;
use crate::module::config::{DirConfig, ScriptSpec, ServerConfig};
use crate::module::daemon_dispatch;
use crate::module::lifecycle;
use crate::module::process_group_scope;
use crate::module::script_readability;
use crate::module::status;
use crate::python::runtime;

fn server_config(cmd: &mut Cmd) -> Result<&mut ServerConfig, String> {
    cmd.server_config_mut::<ServerConfig>()
        .ok_or_else(|| "mod_authnz_wsgi: no server configuration".to_owned())
}

fn expect_count(
    cmd: Cmd,
    args: &[String],
    min: usize,
    max: usize,
    usage: &str,
) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        return Err(format!("{} takes {usage}", cmd.directive_name()));
    }
    Ok(())
}

fn parse_flag(cmd: Cmd, args: &[String]) -> Result<bool, String> {
    expect_count(cmd, args, 1, 1, "one argument, On or Off")?;
    match args[0].to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!(
            "{} must be On or Off, not '{other}'",
            cmd.directive_name()
        )),
    }
}

/// `WSGIAuthUserScript path [application-group=NAME] [process-group=NAME]`
/// and its siblings, read from the whole argument text as mod_wsgi reads
/// it; `dir` is the record of the section it is written in.
fn parse_script(mut cmd: Cmd, dir: &DirConfig, raw: &str) -> Result<Arc<ScriptSpec>, String> {
    let name = cmd.directive_name();
    if cmd.in_htaccess() && !server_config(&mut cmd)?.allows_htaccess_scripts() {
        return Err(format!(
            "{name} is not allowed in .htaccess files: running Python there would let whoever \
             writes .htaccess run code in the server. Set 'WSGIAuthAllowOverride On' in the \
             server configuration to allow it."
        ));
    }
    let ScriptDirective { path, options } =
        parse_script_directive(raw).map_err(|e| format!("{name}: {e}"))?;
    let path = path.as_str();
    let full = cmd
        .server_root_relative(path)
        .ok_or_else(|| format!("{name}: invalid path '{path}'"))?;
    match std::fs::metadata(&full) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Err(format!("{name}: '{full}' is not a regular file")),
        Err(e) => return Err(format!("{name}: cannot access script '{full}': {e}")),
    }
    if let Err(e) = std::fs::File::open(&full) {
        return Err(format!("{name}: cannot read script '{full}': {e}"));
    }
    let configured_at = cmd.directive_location();
    if let Some(group) = &options.process_group {
        if cmd.in_htaccess() {
            return Err(format!(
                "{name}: process-group= is not allowed in .htaccess files; name the daemon \
                 group in the server configuration"
            ));
        }
        if let Some(daemon) = group.daemon() {
            let written = format!("process-group={daemon}");
            auth_daemons::note_use(daemon, &name, &written, configured_at.clone());
        }
    }
    if !cmd.in_htaccess() {
        // Whether the children can read it is known once `User` is final.
        script_readability::note_script(&name, &full, configured_at.clone());
        status::note_script(&full);
    }
    match &options.process_group {
        // `.htaccess` scripts need `WSGIAuthAllowOverride On`, which
        // already makes Python necessary.
        _ if cmd.in_htaccess() => lifecycle::note_python_needed(),
        Some(ProcessGroup::Daemon(_)) => lifecycle::note_daemon_script(),
        Some(ProcessGroup::Embedded) => lifecycle::note_python_needed(),
        // `WSGIAuthProcessGroup` decides, per request.
        None => process_group_scope::note_script(cmd, dir),
    }
    Ok(Arc::new(ScriptSpec {
        path: full,
        application_group: options.application_group,
        process_group: options.process_group,
        configured_at,
    }))
}

fn auth_user_script(cmd: Cmd, dir: &mut DirConfig, args: &str) -> Result<(), String> {
    dir.auth_user_script = Some(parse_script(cmd, dir, args)?);
    Ok(())
}

fn auth_group_script(cmd: Cmd, dir: &mut DirConfig, args: &str) -> Result<(), String> {
    dir.auth_group_script = Some(parse_script(cmd, dir, args)?);
    Ok(())
}

fn access_script(cmd: Cmd, dir: &mut DirConfig, args: &str) -> Result<(), String> {
    dir.access_script = Some(parse_script(cmd, dir, args)?);
    Ok(())
}

/// `WSGIAuthProcessGroup NAME|%{GLOBAL}` (docs/auth-daemons.md): where the
/// scripts in force in this section run when their directive has no
/// `process-group=`. Not in `.htaccess`, as `process-group=` is not: the
/// server configuration decides which account runs a script. The name is
/// checked once the whole configuration is read (`auth_daemons`).
fn auth_process_group(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    let name = cmd.directive_name();
    if cmd.in_htaccess() {
        return Err(format!(
            "{name} is not allowed in .htaccess files; name the daemon group in the server \
             configuration"
        ));
    }
    expect_count(
        cmd,
        args,
        1,
        1,
        "one argument: the name of a WSGIAuthDaemonProcess, or %{GLOBAL} for the Apache child",
    )?;
    let group = ProcessGroup::parse(&args[0]).map_err(|e| format!("{name} {e}"))?;
    match group.daemon() {
        Some(daemon) => {
            auth_daemons::note_use(daemon, &name, daemon, cmd.directive_location());
            process_group_scope::note_setting(cmd, dir, false);
        }
        None => process_group_scope::note_setting(cmd, dir, true),
    }
    dir.auth_process_group = Some(group);
    Ok(())
}

fn script_reloading(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    dir.script_reloading = Some(parse_flag(cmd, args)?);
    Ok(())
}

fn parse_number(cmd: Cmd, args: &[String], what: &str) -> Result<u64, String> {
    expect_count(cmd, args, 1, 1, what)?;
    args[0]
        .parse::<u64>()
        .map_err(|_| format!("{} takes {what}, not '{}'", cmd.directive_name(), args[0]))
}

fn script_timeout(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    let secs = parse_number(cmd, args, "a number of seconds (0: no limit)")?;
    if secs > 86_400 {
        return Err("WSGIScriptTimeout: at most 86400 seconds".to_owned());
    }
    dir.script_timeout = Some(secs);
    Ok(())
}

/// `WSGIAuthCacheTimeout seconds` (0: off).
fn auth_cache_timeout(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    let secs = parse_number(cmd, args, "a number of seconds (0: no cache)")?;
    if secs > 86_400 {
        return Err("WSGIAuthCacheTimeout: at most 86400 seconds".to_owned());
    }
    dir.auth_cache_timeout = Some(secs);
    Ok(())
}

/// `WSGISocacheHash sha1-crypt|bcrypt`.
fn socache_hash(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    expect_count(cmd, args, 1, 1, "one argument, sha1-crypt or bcrypt")?;
    let scheme = BasicEntryHash::parse(&args[0]).ok_or_else(|| {
        format!(
            "{} must be sha1-crypt or bcrypt, not '{}'",
            cmd.directive_name(),
            args[0]
        )
    })?;
    dir.socache_hash = Some(scheme);
    Ok(())
}

/// `WSGIUserNameEncoding as-sent|utf-8`.
fn user_name_encoding(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    expect_count(cmd, args, 1, 1, "one argument, as-sent or utf-8")?;
    let encoding = UserNameEncoding::parse(&args[0]).ok_or_else(|| {
        format!(
            "{} must be as-sent (Apache's user is the bytes the client sent) or utf-8 (the \
             UTF-8 encoding of the name as Python sees it), not '{}'",
            cmd.directive_name(),
            args[0]
        )
    })?;
    dir.user_name_encoding = Some(encoding);
    Ok(())
}

/// The longest wait `WSGIMaxConcurrentCalls` accepts for a call beyond the cap.
const MAX_CALL_WAIT: Duration = Duration::from_secs(60);

/// `WSGIMaxConcurrentCalls calls [wait]`: the wait is `N` seconds or `Nms`.
fn max_concurrent_calls(mut cmd: Cmd, _dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    let usage =
        "a positive number of calls and optionally a wait (seconds, or milliseconds with ms)";
    // One interpreter per child: a virtual host's value would be ignored.
    cmd.check_context(ffi::GLOBAL_ONLY)?;
    expect_count(cmd, args, 1, 2, usage)?;
    let calls = parse_number(cmd, &args[..1], usage)?;
    if calls == 0 {
        return Err("WSGIMaxConcurrentCalls must be at least 1".to_owned());
    }
    let wait = match args.get(1) {
        Some(text) => Some(parse_wait_time(text, MAX_CALL_WAIT).ok_or_else(|| {
            format!(
                "WSGIMaxConcurrentCalls: the wait must be whole seconds or milliseconds \
                 (e.g. 2 or 500ms), at most {}s, not '{text}'",
                MAX_CALL_WAIT.as_secs()
            )
        })?),
        None => None,
    };
    let server = server_config(&mut cmd)?;
    server.max_concurrent_calls = Some(calls as usize);
    server.max_call_wait = wait;
    Ok(())
}

fn python_home(mut cmd: Cmd, _dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    cmd.check_context(ffi::GLOBAL_ONLY)?;
    expect_count(cmd, args, 1, 1, "one directory")?;
    let home = cmd
        .server_root_relative(&args[0])
        .ok_or("WSGIPythonHome: invalid path")?;
    if !std::path::Path::new(&home).is_dir() {
        return Err(format!("WSGIPythonHome: '{home}' is not a directory"));
    }
    // A virtualenv of another minor version: refused here, so `apache2 -t`
    // says so too (the children check again as they start Python).
    let cfg = std::path::Path::new(&home).join("pyvenv.cfg");
    if let Ok(text) = std::fs::read_to_string(&cfg) {
        if let Some(problem) = venv_mismatch(&home, &text, &runtime::runtime_python_version()) {
            return Err(problem);
        }
    }
    server_config(&mut cmd)?.python_home = Some(home);
    Ok(())
}

fn python_path(mut cmd: Cmd, _dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    cmd.check_context(ffi::GLOBAL_ONLY)?;
    expect_count(cmd, args, 1, 1, "one argument: dir[:dir...]")?;
    let mut dirs = Vec::new();
    for part in args[0].split(':').filter(|p| !p.is_empty()) {
        dirs.push(
            cmd.server_root_relative(part)
                .ok_or("WSGIPythonPath: invalid path")?,
        );
    }
    server_config(&mut cmd)?.python_path.extend(dirs);
    Ok(())
}

/// `WSGIAuthDaemonProcess NAME [options]` (docs/auth-daemons.md): paths made
/// absolute against ServerRoot; the rest is checked once the whole
/// configuration is read (`auth_daemons`).
fn auth_daemon_process(cmd: Cmd, _dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    let name = cmd.directive_name();
    let mut options = parse_daemon_options(args).map_err(|e| format!("{name}: {e}"))?;
    if let Some(home) = &options.python_home {
        let full = cmd
            .server_root_relative(home)
            .ok_or_else(|| format!("{name}: python-home={home} is not a usable path"))?;
        if !std::path::Path::new(&full).is_dir() {
            return Err(format!("{name}: python-home='{full}' is not a directory"));
        }
        options.python_home = Some(full);
    }
    let mut dirs = Vec::new();
    for dir in &options.python_path {
        dirs.push(
            cmd.server_root_relative(dir)
                .ok_or_else(|| format!("{name}: python-path={dir} is not a usable path"))?,
        );
    }
    options.python_path = dirs;
    daemon_dispatch::note_daemon(&options.name, options.call_timeout);
    auth_daemons::define(options, cmd.directive_location())
}

fn allow_override(mut cmd: Cmd, _dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    let allow = parse_flag(cmd, args)?;
    if allow {
        // `.htaccess` files may name scripts at request time.
        lifecycle::note_python_needed();
    }
    server_config(&mut cmd)?.allow_htaccess_scripts = Some(allow);
    Ok(())
}

/// `WSGIWarnRequireAny On|Off`. `require_any_warning` reads it from the
/// parsed configuration tree, where it applies to the section it is
/// written in and those inside; the handler only checks the value.
fn warn_require_any(cmd: Cmd, _dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    parse_flag(cmd, args).map(|_| ())
}

fn reflect_auth(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    dir.reflect_auth = Some(parse_flag(cmd, args)?);
    Ok(())
}

/// `WSGIReflectUserHeader name` / `WSGIReflectAuthTypeHeader name`.
fn parse_header_name(cmd: Cmd, args: &[String]) -> Result<Arc<str>, String> {
    expect_count(cmd, args, 1, 1, "one header name")?;
    validate_header_name(&args[0]).map_err(|e| format!("{}: {e}", cmd.directive_name()))?;
    Ok(Arc::from(args[0].as_str()))
}

fn reflect_user_header(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    dir.reflect_user_header = Some(parse_header_name(cmd, args)?);
    Ok(())
}

fn reflect_auth_type_header(cmd: Cmd, dir: &mut DirConfig, args: &[String]) -> Result<(), String> {
    dir.reflect_auth_type_header = Some(parse_header_name(cmd, args)?);
    Ok(())
}

/// The directives, as httpd's `cmds` table.
pub static COMMANDS: CommandTable<19> = CommandTable([
    raw_entry(
        c"WSGIAuthUserScript",
        auth_user_script,
        ffi::OR_AUTHCFG,
        c"path to a Python script defining check_password and/or get_realm_hash, [application-group=NAME] [process-group=NAME]",
    ),
    raw_entry(
        c"WSGIAuthGroupScript",
        auth_group_script,
        ffi::OR_AUTHCFG,
        c"path to a Python script defining groups_for_user, [application-group=NAME] [process-group=NAME]",
    ),
    raw_entry(
        c"WSGIAccessScript",
        access_script,
        ffi::OR_AUTHCFG,
        c"path to a Python script defining allow_access, [application-group=NAME] [process-group=NAME]",
    ),
    entry(
        c"WSGIAuthProcessGroup",
        auth_process_group,
        ffi::OR_AUTHCFG | ffi::RSRC_CONF,
        c"NAME|%{GLOBAL}: the WSGIAuthDaemonProcess group the script directives here run in when they have no process-group= of their own (%{GLOBAL}: in the Apache child)",
    ),
    entry(
        c"WSGIScriptReloading",
        script_reloading,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"On|Off: re-load a script when its modification time changes (default On)",
    ),
    entry(
        c"WSGIScriptTimeout",
        script_timeout,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"seconds a Python call may run before it is interrupted (default 30, 0: no limit)",
    ),
    entry(
        c"WSGIAuthCacheTimeout",
        auth_cache_timeout,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"seconds a granted Basic login or a user's groups are reused in this process without calling Python (default 0: off)",
    ),
    entry(
        c"WSGISocacheHash",
        socache_hash,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"sha1-crypt|bcrypt: the salted hash a granted Basic login is handed to mod_authn_socache as (default sha1-crypt)",
    ),
    entry(
        c"WSGIUserNameEncoding",
        user_name_encoding,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"as-sent|utf-8: Apache's user is the bytes the client sent, or the UTF-8 encoding of the name as Python sees it (default as-sent)",
    ),
    entry(
        c"WSGIMaxConcurrentCalls",
        max_concurrent_calls,
        ffi::RSRC_CONF,
        c"Python calls one child runs at once (default 3/4 of ThreadsPerChild), and how long a call beyond that waits before it is refused (default 1s)",
    ),
    entry(c"WSGIPythonHome", python_home, ffi::RSRC_CONF, c"Python home or virtualenv directory"),
    entry(c"WSGIPythonPath", python_path, ffi::RSRC_CONF, c"extra sys.path directories, colon-separated"),
    entry(
        c"WSGIAuthDaemonProcess",
        auth_daemon_process,
        ffi::RSRC_CONF,
        c"NAME [user=U] [group=G] [processes=N] [threads=T] [python-home=DIR] [python-path=DIR:DIR] [call-timeout=SECONDS]: a group of auth daemon processes scripts name with process-group=NAME",
    ),
    entry(
        c"WSGIAuthAllowOverride",
        allow_override,
        ffi::RSRC_CONF,
        c"On|Off: allow the script directives in .htaccess files (default Off)",
    ),
    entry(
        c"WSGIWarnRequireAny",
        warn_require_any,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"On|Off: warn at start-up about a section whose other Require lines let users past its Require wsgi-group (default On)",
    ),
    // Reflection is for the server administrator: a .htaccess author could
    // otherwise make the access log name any user for their directory.
    entry(
        c"WSGIReflectAuth",
        reflect_auth,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"On|Off: take the user (and auth type) for the log from the application's response headers, and keep those headers from the client (default Off)",
    ),
    entry(
        c"WSGIReflectUserHeader",
        reflect_user_header,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"response header naming the user when WSGIReflectAuth is On (default X-Remote-User)",
    ),
    entry(
        c"WSGIReflectAuthTypeHeader",
        reflect_auth_type_header,
        ffi::ACCESS_CONF | ffi::RSRC_CONF,
        c"response header naming the auth type when WSGIReflectAuth is On (default X-Auth-Type)",
    ),
    end(),
]);
