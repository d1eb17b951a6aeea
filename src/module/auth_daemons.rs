//! `WSGIAuthDaemonProcess`, the scripts' `process-group=` option and
//! `WSGIAuthProcessGroup` (docs/auth-daemons.md): the daemon groups a
//! configuration defines, the directives that name one, and the checks
//! made once the whole configuration is read (`check_config`, so
//! `apache2 -t` makes them too): every `process-group=` and
//! `WSGIAuthProcessGroup` names a defined group, no group runs as root,
//! every account resolves and, when Apache was not started as root, is
//! Apache's own (only root may change its account), every socket path
//! fits `sun_path`.
//!
//! The groups that pass are kept for `post_config`, which (in the reading
//! the server runs with) hands them to the supervisor (`src/daemon/`) to
//! make their sockets and start their processes; `child_init` closes the
//! listening sockets an Apache child inherits.
//!
//! The directives note what they read here; `pre_config` forgets the
//! notes of an earlier reading (httpd reads the configuration twice at
//! start and again on each restart).

use std::sync::Mutex;

use authnz_core::daemon_options::{socket_path, DaemonOptions};
use authnz_core::log_tags as tags;

use crate::apr::{unix, Pool};
use crate::daemon::supervisor::{self, GroupPlan};
use crate::ffi;
use crate::httpd::hooks::{self, Order};
use crate::httpd::log::Level;
use crate::httpd::server_state;
use crate::httpd::unixd::{apache_group_id, apache_user_id, resolve_group, resolve_user};
use crate::httpd::Server;
use crate::module::config::ServerConfig;
use crate::python::daemon_side::DaemonPython;
use crate::slog;

/// A `WSGIAuthDaemonProcess` read from the configuration.
struct DefinedGroup {
    options: DaemonOptions,
    /// `file:line` of the directive.
    location: String,
}

/// A script directive with `process-group=`, or a `WSGIAuthProcessGroup`.
struct GroupUse {
    name: String,
    directive: String,
    /// How the name was written (`process-group=NAME`, or `NAME`).
    written: String,
    location: String,
}

#[derive(Default)]
struct Notes {
    defined: Vec<DefinedGroup>,
    used: Vec<GroupUse>,
}

/// The groups of the last reading that passed every check, accounts
/// resolved, for `post_config`.
static CHECKED: Mutex<Vec<GroupPlan>> = Mutex::new(Vec::new());

static NOTES: Mutex<Notes> = Mutex::new(Notes {
    defined: Vec::new(),
    used: Vec::new(),
});

fn notes() -> std::sync::MutexGuard<'static, Notes> {
    NOTES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Register the hook (from `lib.rs`'s `register_hooks`).
pub fn register() {
    hooks::check_config::<CheckDaemonGroups>(Order::MIDDLE);
    hooks::post_config::<StartDaemonGroups>(Order::MIDDLE);
    hooks::child_init::<CloseDaemonSockets>(Order::FIRST);
}

/// Forget the notes of an earlier reading of the configuration.
pub fn forget() {
    *notes() = Notes::default();
}

/// Note a daemon group; its name must be new in the whole server.
pub fn define(options: DaemonOptions, location: String) -> Result<(), String> {
    let mut notes = notes();
    if let Some(earlier) = notes
        .defined
        .iter()
        .find(|d| d.options.name == options.name)
    {
        return Err(format!(
            "WSGIAuthDaemonProcess: the name '{}' is already defined at {}; daemon group names \
             are unique in the whole server",
            options.name, earlier.location
        ));
    }
    notes.defined.push(DefinedGroup { options, location });
    Ok(())
}

/// Note a script directive's `process-group=NAME` or a
/// `WSGIAuthProcessGroup NAME`, the name as `written` there (checked once
/// the whole configuration is read: the group may be defined after it).
pub fn note_use(name: &str, directive: &str, written: &str, location: String) {
    notes().used.push(GroupUse {
        name: name.to_owned(),
        directive: directive.to_owned(),
        written: written.to_owned(),
        location,
    });
}

/// The account a group without `user=`/`group=` runs as: Apache's `User`
/// and `Group` when Apache was started as root; otherwise the account
/// Apache runs as (httpd ignores `User` then, and so do the daemons).
fn default_ids() -> (Option<u32>, Option<u32>) {
    if unix::is_root() {
        (apache_user_id(), apache_group_id())
    } else {
        let (uid, gid) = unix::ids();
        (Some(uid), Some(gid))
    }
}

/// Why a daemon group's accounts cannot be used, if they cannot.
fn account_problem(group: &DefinedGroup) -> Option<String> {
    let options = &group.options;
    let uid = match &options.user {
        Some(user) => match resolve_user(user) {
            Some(uid) => Some(uid),
            None => return Some(format!("user={user} is not a user of this system")),
        },
        None => default_ids().0,
    };
    if uid == Some(0) {
        return Some(match &options.user {
            Some(user) => format!("user={user} is root; daemon processes never run as root"),
            None => "without user= it runs as Apache's User, which is root here; daemon \
                     processes never run as root: give user="
                .to_owned(),
        });
    }
    match &options.group {
        Some(name) if resolve_group(name).is_none() => {
            Some(format!("group={name} is not a group of this system"))
        }
        Some(name) if resolve_group(name) == Some(0) => Some(format!(
            "group={name} is root's group; daemon processes never run with it"
        )),
        Some(_) => None,
        None if default_ids().1 == Some(0) && options.user.is_some() => Some(
            "without group= it runs as Apache's Group, which is root's group here: give group="
                .to_owned(),
        ),
        None => None,
    }
}

/// `check_config`: one line per problem; any problem stops start-up (and
/// fails `apache2 -t`).
struct CheckDaemonGroups;

impl hooks::CheckConfig for CheckDaemonGroups {
    const NAME: &'static str = "check_config (auth daemon groups)";

    fn run(main: Server) -> hooks::Status {
        let notes = std::mem::take(&mut *notes());
        if notes.defined.is_empty() && notes.used.is_empty() {
            return ffi::HOOK_OK;
        }
        let mut refused = false;
        for used in &notes.used {
            if notes.defined.iter().all(|d| d.options.name != used.name) {
                refused = true;
                // The logs are not open yet: NULL writes to stderr.
                slog!(
                    None,
                    Level::Emerg,
                    tags::DAEMON_GROUP_UNKNOWN,
                    "{} at {}: {} names no WSGIAuthDaemonProcess of this server",
                    used.directive,
                    used.location,
                    used.written
                );
            }
        }
        let prefix = main.runtime_dir_relative("authnz-wsgi.");
        for group in &notes.defined {
            let name = &group.options.name;
            if let Some(problem) = account_problem(group) {
                refused = true;
                slog!(
                    None,
                    Level::Emerg,
                    tags::DAEMON_ACCOUNT_REFUSED,
                    "WSGIAuthDaemonProcess {name} at {}: {problem}",
                    group.location
                );
            } else if let Some(problem) = unprivileged_problem(&group.options) {
                refused = true;
                slog!(
                    None,
                    Level::Emerg,
                    tags::DAEMON_ACCOUNT_UNREACHABLE,
                    "WSGIAuthDaemonProcess {name} at {}: {problem}",
                    group.location
                );
            }
            // The parent's pid is part of the path: allow for the longest.
            let with_pid = prefix.as_deref().map(|p| format!("{p}4194304."));
            if let Some(Err(problem)) = with_pid.map(|p| socket_path(&p, name)) {
                refused = true;
                slog!(
                    None,
                    Level::Emerg,
                    tags::DAEMON_SOCKET_PATH_TOO_LONG,
                    "WSGIAuthDaemonProcess {name} at {}: {problem}",
                    group.location
                );
            }
        }
        let plans = if refused {
            Vec::new()
        } else {
            notes
                .defined
                .iter()
                .map(|d| plan(main, &d.options))
                .collect()
        };
        *CHECKED.lock().unwrap_or_else(|e| e.into_inner()) = plans;
        if refused {
            ffi::HOOK_SERVER_ERROR
        } else {
            ffi::HOOK_OK
        }
    }
}

/// The uid and gid a group runs as: `user=` (or the default account of
/// `default_ids`, or this process's user), `group=` (likewise).
fn group_ids(options: &DaemonOptions) -> (u32, u32) {
    let (own_uid, own_gid) = unix::ids();
    let (default_uid, default_gid) = default_ids();
    let uid = options
        .user
        .as_deref()
        .and_then(resolve_user)
        .or(default_uid)
        .unwrap_or(own_uid);
    let gid = options
        .group
        .as_deref()
        .and_then(resolve_group)
        .or(default_gid)
        .unwrap_or(own_gid);
    (uid, gid)
}

/// Why a group's processes cannot become its account when Apache was not
/// started as root (only root may change its account), if they cannot.
fn unprivileged_problem(options: &DaemonOptions) -> Option<String> {
    if unix::is_root() {
        return None;
    }
    let (own_uid, own_gid) = unix::ids();
    let (uid, gid) = group_ids(options);
    if (uid, gid) == (own_uid, own_gid) {
        return None;
    }
    let named = |option: &str, value: &Option<String>, id: u32| match value {
        Some(v) => format!("{option}={v} ({option} id {id})"),
        None => format!("{option} id {id}"),
    };
    Some(format!(
        "Apache was not started as root and runs as uid {own_uid} gid {own_gid}, so the \
         group's processes cannot become {} {}; start Apache as root, or drop user= and \
         group= (the processes then run as uid {own_uid} gid {own_gid})",
        named("user", &options.user, uid),
        named("group", &options.group, gid),
    ))
}

/// A checked group with its accounts resolved (`group_ids`),
/// `python-home=` (or `WSGIPythonHome`).
fn plan(main: Server, options: &DaemonOptions) -> GroupPlan {
    let (uid, gid) = group_ids(options);
    let home = options.python_home.clone().or_else(|| {
        main.module_config::<ServerConfig>()
            .and_then(|c| c.python_home.clone())
    });
    GroupPlan {
        name: options.name.clone(),
        uid,
        gid,
        processes: options.processes,
        threads: options.threads,
        python: DaemonPython {
            home,
            path: options.python_path.clone(),
        },
        call_timeout: options.call_timeout,
    }
}

/// `post_config`: start the daemon groups of the reading the server runs
/// with (not of httpd's first reading at start-up).
struct StartDaemonGroups;

impl hooks::PostConfig for StartDaemonGroups {
    const NAME: &'static str = "post_config (auth daemon groups)";

    fn run(main: Server) -> hooks::Status {
        if server_state::is_first_reading() {
            return ffi::HOOK_OK;
        }
        let plans = std::mem::take(&mut *CHECKED.lock().unwrap_or_else(|e| e.into_inner()));
        match supervisor::start_generation(main, plans) {
            Ok(()) => ffi::HOOK_OK,
            Err(problem) => {
                slog!(
                    Some(main),
                    Level::Emerg,
                    tags::DAEMON_SOCKET_FAILED,
                    "{problem}"
                );
                ffi::HOOK_SERVER_ERROR
            }
        }
    }
}

/// `child_init`: an Apache child closes the daemon groups' listening
/// sockets it inherited.
struct CloseDaemonSockets;

impl hooks::ChildInit for CloseDaemonSockets {
    const NAME: &'static str = "child_init (auth daemon sockets)";

    fn run(_pchild: Pool, _main: Server) {
        supervisor::close_listeners_in_child();
    }
}
