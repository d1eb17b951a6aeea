//! The arguments of `WSGIAuthDaemonProcess NAME [user=U] [group=G]
//! [processes=N] [threads=T] [python-home=DIR] [python-path=DIR:DIR...]
//! [call-timeout=SECONDS]` (docs/auth-daemons.md), read from httpd's words:
//! the name first, then `name=value` options, each at most once.

/// The most processes one daemon group may have.
pub const MAX_PROCESSES: u32 = 64;
/// The most threads one daemon process may have.
pub const MAX_THREADS: u32 = 1000;
/// Default `threads=`.
pub const DEFAULT_THREADS: u32 = 15;

/// One daemon group as configured (paths not yet made absolute, accounts
/// not yet resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonOptions {
    pub name: String,
    /// `None`: Apache's `User`.
    pub user: Option<String>,
    /// `None`: Apache's `Group`.
    pub group: Option<String>,
    pub processes: u32,
    pub threads: u32,
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    /// `None`: the location's `WSGIScriptTimeout`; `Some(0)`: none.
    pub call_timeout: Option<u64>,
}

/// What a daemon group's name may contain: it names a socket file.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the daemon group name is empty".to_owned());
    }
    if name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        || name.starts_with('.')
    {
        return Err(format!(
            "daemon group name '{name}': use at most 64 letters, digits, '_', '-' and '.' \
             (not first)"
        ));
    }
    Ok(())
}

fn number(option: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{option}={value}: write a whole number from {min} to {max}"
        )),
    }
}

/// Parse the directive's words.
pub fn parse_daemon_options(args: &[String]) -> Result<DaemonOptions, String> {
    let Some((name, options)) = args.split_first() else {
        return Err(
            "takes a name and options: NAME [user=U] [group=G] [processes=N] \
                    [threads=T] [python-home=DIR] [python-path=DIR:DIR...] [call-timeout=SECONDS]"
                .to_owned(),
        );
    };
    check_name(name)?;
    let mut parsed = DaemonOptions {
        name: name.clone(),
        user: None,
        group: None,
        processes: 1,
        threads: DEFAULT_THREADS,
        python_home: None,
        python_path: Vec::new(),
        call_timeout: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    for word in options {
        let Some((option, value)) = word.split_once('=') else {
            return Err(format!(
                "malformed option '{word}': options are written name=value, as in processes=2"
            ));
        };
        if seen.contains(&option) {
            return Err(format!("option '{option}' is given twice"));
        }
        let needs_value = |what: &str| {
            if value.is_empty() || value.chars().any(char::is_control) {
                Err(format!("{option}= needs {what}"))
            } else {
                Ok(value.to_owned())
            }
        };
        match option {
            "user" => parsed.user = Some(needs_value("a user name or #uid")?),
            "group" => parsed.group = Some(needs_value("a group name or #gid")?),
            "processes" => {
                parsed.processes = number(option, value, 1, u64::from(MAX_PROCESSES))? as u32
            }
            "threads" => parsed.threads = number(option, value, 1, u64::from(MAX_THREADS))? as u32,
            "python-home" => parsed.python_home = Some(needs_value("a directory")?),
            "python-path" => {
                parsed.python_path = needs_value("directories separated by ':'")?
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "call-timeout" => parsed.call_timeout = Some(number(option, value, 0, 86_400)?),
            other => {
                return Err(format!(
                    "unknown option '{other}': the options are user=, group=, processes=, \
                     threads=, python-home=, python-path= and call-timeout="
                ))
            }
        }
        seen.push(option);
    }
    Ok(parsed)
}

/// The socket path of daemon group `name` under the runtime directory's
/// `prefix` (`.../authnz-wsgi.<parent pid>.`), checked against `sun_path`'s
/// 108 bytes (107 and the terminating NUL).
pub fn socket_path(prefix: &str, name: &str) -> Result<String, String> {
    let path = format!("{prefix}{name}.sock");
    if path.len() > 107 {
        return Err(format!(
            "the socket path of daemon group '{name}' would be '{path}', {} bytes: a Unix \
             socket path has at most 107; set DefaultRuntimeDir to a shorter directory or \
             use a shorter name",
            path.len()
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults() {
        let d = parse_daemon_options(&words("auth")).unwrap();
        assert_eq!(d.name, "auth");
        assert_eq!((d.user, d.group), (None, None));
        assert_eq!((d.processes, d.threads), (1, DEFAULT_THREADS));
        assert_eq!(d.call_timeout, None);
        assert!(d.python_path.is_empty() && d.python_home.is_none());
    }

    #[test]
    fn every_option() {
        let d = parse_daemon_options(&words(
            "a-1 user=authd group=#123 processes=3 threads=4 python-home=/venv \
             python-path=/a:/b: call-timeout=0",
        ))
        .unwrap();
        assert_eq!(d.user.as_deref(), Some("authd"));
        assert_eq!(d.group.as_deref(), Some("#123"));
        assert_eq!((d.processes, d.threads), (3, 4));
        assert_eq!(d.python_home.as_deref(), Some("/venv"));
        assert_eq!(d.python_path, ["/a", "/b"]);
        assert_eq!(d.call_timeout, Some(0));
    }

    #[test]
    fn bad_values_are_refused_with_what_to_write() {
        for (raw, expect) in [
            ("", "takes a name"),
            ("a/b", "letters, digits"),
            (".x", "letters, digits"),
            ("a processes=0", "from 1 to 64"),
            ("a processes=x", "whole number"),
            ("a threads=1001", "from 1 to 1000"),
            ("a call-timeout=-1", "whole number"),
            ("a user=", "needs a user name"),
            ("a colour=blue", "unknown option 'colour'"),
            ("a processes", "malformed option"),
            ("a threads=2 threads=3", "given twice"),
        ] {
            let err = parse_daemon_options(&words(raw)).unwrap_err();
            assert!(err.contains(expect), "{raw}: {err}");
        }
    }

    #[test]
    fn socket_paths_fit_sun_path() {
        assert_eq!(
            socket_path("/run/apache2/authnz-wsgi.12.", "auth").unwrap(),
            "/run/apache2/authnz-wsgi.12.auth.sock"
        );
        let long = format!("/{}/authnz-wsgi.1.", "d".repeat(90));
        let err = socket_path(&long, "abcdefghij").unwrap_err();
        assert!(err.contains("at most 107") && err.contains("DefaultRuntimeDir"));
    }
}
