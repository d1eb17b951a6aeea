//! Running Apache in the foreground: this process *becomes* Apache's parent
//! (`execv` of `apache2 -f <conf> -DFOREGROUND`) rather than spawning it.
//!
//! That gives the launcher's contract with no moving parts: SIGINT and
//! SIGTERM sent to the launcher's pid (or by Ctrl-C to its process group)
//! are delivered to Apache itself, which stops its children and exits
//! cleanly; nothing is left behind even if the launcher would have been
//! killed with SIGKILL; and the exit status is Apache's own. Rust's
//! `Command` resets the signal mask and SIGPIPE before `exec`, so Apache
//! starts with default signal handling.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::resolve::Settings;

/// The command line that runs Apache in the foreground.
pub fn foreground_command(s: &Settings) -> Command {
    let mut cmd = Command::new(&s.options.httpd_executable);
    cmd.arg("-f").arg(s.conf_path()).arg("-DFOREGROUND");
    cmd
}

/// Replace this process with Apache. Returns only if `exec` failed.
pub fn exec_apache(s: &Settings) -> String {
    let err = foreground_command(s).exec();
    format!(
        "cannot run '{}': {err}",
        s.options.httpd_executable.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse, Invocation};

    #[test]
    fn command_line() {
        let options = match parse(&["start-server".to_owned()]).unwrap() {
            Invocation::Run(_, o) => *o,
            other => panic!("{other:?}"),
        };
        let s = Settings {
            options,
            server_root: "/r".into(),
            module: "/m.so".into(),
            run_as: None,
        };
        let cmd = foreground_command(&s);
        assert_eq!(cmd.get_program(), "/usr/sbin/apache2");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(args, ["-f", "/r/httpd.conf", "-DFOREGROUND"]);
    }
}
