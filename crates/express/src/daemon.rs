//! Running the scripts in daemon processes: `--auth-daemon` writes one
//! `WSGIAuthDaemonProcess express ...` at server level and
//! `process-group=express` on every script directive, so that
//! `check_password`, `get_realm_hash`, `groups_for_user` and `allow_access`
//! run in separate processes that Apache forks from its parent and
//! supervises (each named `authnz-daemon`), reached over a Unix socket. The
//! in-process cache (`--auth-cache-timeout`) and the shared cache stay in
//! front, in Apache's children.
//!
//! `--auth-daemon-user`, `--auth-daemon-group`, `--auth-daemon-processes`,
//! `--auth-daemon-threads` and `--auth-daemon-timeout` each imply
//! `--auth-daemon`. The processes and threads are always written (the
//! module's defaults, 1 and 15, when not given), so the configuration says
//! what runs; `user=`/`group=` only when given (the daemons otherwise run as
//! Apache's `User`/`Group`); `call-timeout=` only when given. The Python of
//! `--python-home`/`--python-path` is written for the daemons too
//! (`python-home=`, `python-path=`), since that is where the scripts run.
//!
//! A daemon never runs as root: `--auth-daemon-user root` (or `#0`) is
//! refused here; `resolve.rs` refuses a name whose uid is 0, root's group,
//! daemons left to Apache's `User` when that is root, other accounts than
//! this process's when it is not root (Apache could not switch to them),
//! and a server root too long for the daemons' socket path — the checks
//! the module makes at start-up, made before anything is written.

use std::fmt::Write;
use std::path::PathBuf;

use crate::options::{flag, single, Raw};
use crate::quote::conf;
use crate::values::{self, Checked};

/// The name of the one daemon group the launcher writes.
pub const GROUP_NAME: &str = "express";
/// The module's default `processes=`.
pub const DEFAULT_PROCESSES: u32 = 1;
/// The module's default `threads=`.
pub const DEFAULT_THREADS: u32 = 15;
/// The module's limits (`processes=` 1-64, `threads=` 1-1000).
const MAX_PROCESSES: u32 = 64;
const MAX_THREADS: u32 = 1_000;
/// The longest `call-timeout=` the module accepts (0 is none).
const MAX_TIMEOUT: u32 = 86_400;

/// The options that imply `--auth-daemon`, without `--`.
pub const IMPLYING: [&str; 5] = [
    "auth-daemon-user",
    "auth-daemon-group",
    "auth-daemon-processes",
    "auth-daemon-threads",
    "auth-daemon-timeout",
];

/// The daemon group's settings (present with `--auth-daemon` or any
/// option that implies it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthDaemon {
    /// `user=`; `None`: Apache's `User`.
    pub user: Option<String>,
    /// `group=`; `None`: Apache's `Group`, or, when `user` is given, that
    /// user's primary group (filled in by `resolve.rs`).
    pub group: Option<String>,
    pub processes: u32,
    pub threads: u32,
    /// `call-timeout=` in seconds, 0 for none; `None`: the module's
    /// default, the location's `WSGIScriptTimeout` (`--script-timeout`).
    pub timeout: Option<u32>,
}

/// A name that is root whatever the user database says.
fn is_root_name(name: &str) -> bool {
    name == "root" || name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok()) == Some(0)
}

/// The daemon options, checked; `has_script` says whether any script
/// directive is written (without one no script runs anywhere).
pub fn parse(raw: &Raw, has_script: bool) -> Checked<Option<AuthDaemon>> {
    let given: Vec<&str> = std::iter::once("auth-daemon")
        .chain(IMPLYING)
        .filter(|name| flag(raw, name))
        .collect();
    let Some(first) = given.first() else {
        return Ok(None);
    };
    if !has_script {
        return Err(format!(
            "--{first} needs a script to run in the daemon processes: --auth-user-script or \
             --host-access-script"
        ));
    }
    let account = |name: &str| -> Checked<Option<String>> {
        single(raw, name)
            .map(|v| values::account_name(&format!("--{name}"), v).map(|()| v.to_owned()))
            .transpose()
    };
    let user = account("auth-daemon-user")?;
    if let Some(u) = user.as_deref().filter(|u| is_root_name(u)) {
        return Err(format!(
            "--auth-daemon-user: '{u}' is root; the daemon processes run Python scripts and \
             never as root: name an unprivileged account (default: Apache's user)"
        ));
    }
    let number = |name: &str, min: u32, max: u32| {
        single(raw, name)
            .map(|v| values::number(&format!("--{name}"), v, min, max))
            .transpose()
    };
    Ok(Some(AuthDaemon {
        user,
        group: account("auth-daemon-group")?,
        processes: number("auth-daemon-processes", 1, MAX_PROCESSES)?.unwrap_or(DEFAULT_PROCESSES),
        threads: number("auth-daemon-threads", 1, MAX_THREADS)?.unwrap_or(DEFAULT_THREADS),
        timeout: number("auth-daemon-timeout", 0, MAX_TIMEOUT)?,
    }))
}

/// The server-level `WSGIAuthDaemonProcess` line (and a blank line), with
/// the Python the daemons use.
pub fn render(
    out: &mut String,
    daemon: &AuthDaemon,
    python_home: Option<&PathBuf>,
    python_path: &[PathBuf],
) {
    let _ = write!(out, "WSGIAuthDaemonProcess {GROUP_NAME}");
    if let Some(user) = &daemon.user {
        let _ = write!(out, " user={user}");
    }
    if let Some(group) = &daemon.group {
        let _ = write!(out, " group={group}");
    }
    let _ = write!(
        out,
        " processes={} threads={}",
        daemon.processes, daemon.threads
    );
    if let Some(secs) = daemon.timeout {
        let _ = write!(out, " call-timeout={secs}");
    }
    // httpd splits the line into words (a quoted word may hold spaces):
    // a path is written as one quoted `name=value` word.
    if let Some(home) = python_home {
        let _ = write!(
            out,
            " {}",
            conf(&format!("python-home={}", home.to_string_lossy()))
        );
    }
    if !python_path.is_empty() {
        let joined: Vec<String> = python_path
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let _ = write!(
            out,
            " {}",
            conf(&format!("python-path={}", joined.join(":")))
        );
    }
    out.push_str("\n\n");
}

/// The option every script directive gets.
pub fn script_option() -> String {
    format!(" process-group={GROUP_NAME}")
}

/// One line for the launcher's summary; `apache` is Apache's `User` and
/// `Group` when the configuration names them.
pub fn summary(daemon: &AuthDaemon, apache: Option<(&str, &str)>) -> String {
    let mut text = format!(
        "{GROUP_NAME}: {} x {} threads",
        match daemon.processes {
            1 => "1 process".to_owned(),
            n => format!("{n} processes"),
        },
        daemon.threads
    );
    match (&daemon.user, &daemon.group) {
        (Some(u), Some(g)) => {
            let _ = write!(text, ", as {u}:{g}");
        }
        (Some(u), None) => {
            let _ = write!(text, ", as {u}");
        }
        (None, Some(g)) => {
            let _ = write!(text, ", group {g}");
        }
        (None, None) => match apache {
            Some((u, g)) => {
                let _ = write!(text, ", as {u}:{g} (Apache's)");
            }
            None => text.push_str(", as Apache's user"),
        },
    }
    match daemon.timeout {
        Some(0) => text.push_str(", no call timeout"),
        Some(secs) => {
            let _ = write!(text, ", call timeout {secs} s");
        }
        None => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests_support::{err, run};

    fn daemon(list: &[&str]) -> Option<AuthDaemon> {
        let mut full = vec!["--auth-user-script", "u.py"];
        full.extend_from_slice(list);
        run(&full).unwrap().auth_daemon
    }

    fn auth_err(list: &[&str]) -> String {
        let mut full = vec!["--auth-user-script", "u.py"];
        full.extend_from_slice(list);
        err(&full)
    }

    #[test]
    fn off_unless_asked_for() {
        assert_eq!(daemon(&[]), None);
        assert_eq!(run(&[]).unwrap().auth_daemon, None);
    }

    #[test]
    fn the_flag_gives_the_module_defaults() {
        assert_eq!(
            daemon(&["--auth-daemon"]),
            Some(AuthDaemon {
                user: None,
                group: None,
                processes: 1,
                threads: 15,
                timeout: None
            })
        );
        let o = run(&["--host-access-script", "h.py", "--auth-daemon"]).unwrap();
        assert!(o.auth_daemon.is_some());
    }

    #[test]
    fn every_daemon_option_implies_the_flag() {
        let d = daemon(&["--auth-daemon-processes", "2"]).unwrap();
        assert_eq!((d.processes, d.threads), (2, 15));
        let d = daemon(&["--auth-daemon-threads=4"]).unwrap();
        assert_eq!((d.processes, d.threads), (1, 4));
        assert_eq!(
            daemon(&["--auth-daemon-timeout", "30"]).unwrap().timeout,
            Some(30)
        );
        let d = daemon(&["--auth-daemon-user", "nobody"]).unwrap();
        assert_eq!(
            (d.user.as_deref(), d.group.as_deref()),
            (Some("nobody"), None)
        );
        let d = daemon(&["--auth-daemon-group", "nogroup"]).unwrap();
        assert_eq!(
            (d.user.as_deref(), d.group.as_deref()),
            (None, Some("nogroup"))
        );
        let d = daemon(&[
            "--auth-daemon",
            "--auth-daemon-user",
            "nobody",
            "--auth-daemon-group",
            "nogroup",
            "--auth-daemon-processes",
            "3",
            "--auth-daemon-threads",
            "5",
            "--auth-daemon-timeout",
            "9",
        ])
        .unwrap();
        assert_eq!(
            d,
            AuthDaemon {
                user: Some("nobody".into()),
                group: Some("nogroup".into()),
                processes: 3,
                threads: 5,
                timeout: Some(9)
            }
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in ["0", "65", "two", "-1", "1.5", ""] {
            let e = auth_err(&[&format!("--auth-daemon-processes={bad}")]);
            assert!(
                e.starts_with("--auth-daemon-processes: ") && e.contains("from 1 to 64"),
                "{bad}: {e}"
            );
        }
        assert!(auth_err(&["--auth-daemon-threads", "0"]).contains("from 1 to 1000"));
        assert!(auth_err(&["--auth-daemon-threads", "1001"]).contains("from 1 to 1000"));
        assert!(auth_err(&["--auth-daemon-timeout", "-1"]).contains("from 0 to 86400"));
        assert!(auth_err(&["--auth-daemon-timeout", "86401"]).contains("from 0 to 86400"));
        assert_eq!(
            daemon(&["--auth-daemon-timeout", "0"]).unwrap().timeout,
            Some(0)
        );
        for root in ["root", "#0"] {
            let e = auth_err(&["--auth-daemon-user", root]);
            assert!(
                e.starts_with(&format!("--auth-daemon-user: '{root}' is root")),
                "{e}"
            );
        }
        assert!(auth_err(&["--auth-daemon-user", "a b"]).contains("not a user or group name"));
        assert!(auth_err(&["--auth-daemon-group", "a\"b"]).contains("not a user or group name"));
        assert_eq!(
            auth_err(&["--auth-daemon", "--auth-daemon"]),
            "--auth-daemon is given more than once"
        );
        assert_eq!(
            auth_err(&["--auth-daemon=yes"]),
            "--auth-daemon takes no value"
        );
    }

    #[test]
    fn a_script_is_needed() {
        for list in [
            vec!["--auth-daemon"],
            vec!["--auth-daemon-processes", "2"],
            vec!["--auth-daemon-timeout", "5", "--document-root", "d"],
        ] {
            let e = err(&list);
            assert!(e.starts_with(&format!("{} needs a script", list[0])), "{e}");
            assert!(e.contains("--auth-user-script or --host-access-script"));
        }
    }

    #[test]
    fn written_directive() {
        let mut out = String::new();
        render(
            &mut out,
            &AuthDaemon {
                user: None,
                group: None,
                processes: 1,
                threads: 15,
                timeout: None,
            },
            None,
            &[],
        );
        assert_eq!(
            out,
            "WSGIAuthDaemonProcess express processes=1 threads=15\n\n"
        );
        let mut out = String::new();
        render(
            &mut out,
            &AuthDaemon {
                user: Some("auth".into()),
                group: Some("auth".into()),
                processes: 2,
                threads: 4,
                timeout: Some(20),
            },
            Some(&PathBuf::from("/srv/venv")),
            &[PathBuf::from("/a b"), PathBuf::from("/c")],
        );
        assert_eq!(
            out,
            "WSGIAuthDaemonProcess express user=auth group=auth processes=2 threads=4 \
             call-timeout=20 \"python-home=/srv/venv\" \"python-path=/a b:/c\"\n\n"
        );
        assert_eq!(script_option(), " process-group=express");
    }

    #[test]
    fn summary_line() {
        let d = |user: Option<&str>, group: Option<&str>, p, timeout| AuthDaemon {
            user: user.map(str::to_owned),
            group: group.map(str::to_owned),
            processes: p,
            threads: 15,
            timeout,
        };
        assert_eq!(
            summary(&d(None, None, 1, None), None),
            "express: 1 process x 15 threads, as Apache's user"
        );
        assert_eq!(
            summary(&d(None, None, 1, None), Some(("www-data", "www-data"))),
            "express: 1 process x 15 threads, as www-data:www-data (Apache's)"
        );
        assert_eq!(
            summary(&d(Some("auth"), Some("authg"), 2, Some(5)), None),
            "express: 2 processes x 15 threads, as auth:authg, call timeout 5 s"
        );
        assert_eq!(
            summary(&d(None, Some("g"), 2, Some(0)), None),
            "express: 2 processes x 15 threads, group g, no call timeout"
        );
    }
}
