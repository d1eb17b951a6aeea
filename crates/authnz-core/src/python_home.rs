//! What a `WSGIPythonHome` directory is, read from its files before Python
//! is started there: a virtualenv's `pyvenv.cfg` names the Python that made
//! it (`version = 3.11.2` from `venv`, `version_info = 3.11.2.final.0`
//! from `virtualenv`), and a plain Python home holds
//! `lib/pythonX.Y/os.py`. CPython itself only reports a wrong home after
//! a long dump of its path configuration, and a virtualenv of another
//! minor version starts and then fails to import its packages.

/// `major.minor` of the Python that made the virtualenv whose `pyvenv.cfg`
/// reads `text`; `None` when it names no version.
pub fn venv_version(text: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key != "version" && key != "version_info" {
            continue;
        }
        let mut parts = value.trim().split('.');
        let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
            continue;
        };
        if major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok() {
            found = Some(format!("{major}.{minor}"));
            // `version` wins over `version_info` when both are present.
            if key == "version" {
                break;
            }
        }
    }
    found
}

/// Why the virtualenv at `home` (its `pyvenv.cfg` reads `cfg`) cannot be
/// used by a module that runs Python `runtime` (`major.minor`); `None`
/// when it can (or names no version: CPython then decides).
pub fn venv_mismatch(home: &str, cfg: &str, runtime: &str) -> Option<String> {
    let made_with = venv_version(cfg)?;
    if made_with == runtime {
        return None;
    }
    Some(format!(
        "WSGIPythonHome '{home}' is a virtualenv of Python {made_with} (its pyvenv.cfg says so), \
         but mod_authnz_wsgi runs Python {runtime}: packages installed for {made_with} cannot be \
         imported. Re-create it with python{runtime} -m venv, or rebuild the module for Python \
         {made_with}"
    ))
}

/// The file a Python `version` home must hold, relative to the home.
pub fn stdlib_marker(version: &str) -> String {
    format!("lib/python{version}/os.py")
}

/// Why `home`, which is no virtualenv and lacks [`stdlib_marker`], is not
/// a Python home for Python `version`.
pub fn not_a_home(home: &str, version: &str) -> String {
    format!(
        "WSGIPythonHome '{home}' is not a Python {version} home: it has neither pyvenv.cfg (a \
         virtualenv) nor {} (an installation prefix such as /usr). Give the directory of a \
         virtualenv made with python{version} -m venv, or the prefix Python {version} is \
         installed under",
        stdlib_marker(version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_writes_version() {
        let cfg = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n";
        assert_eq!(venv_version(cfg).as_deref(), Some("3.11"));
    }

    #[test]
    fn virtualenv_writes_version_info() {
        let cfg = "home = /opt/py/bin\nimplementation = CPython\nversion_info = 3.12.1.final.0\n";
        assert_eq!(venv_version(cfg).as_deref(), Some("3.12"));
    }

    #[test]
    fn version_wins_over_version_info() {
        let cfg = "version_info = 3.9.1.final.0\nversion = 3.10.4\n";
        assert_eq!(venv_version(cfg).as_deref(), Some("3.10"));
    }

    #[test]
    fn no_or_bad_version_is_none() {
        assert_eq!(venv_version("home = /usr/bin\n"), None);
        assert_eq!(venv_version("version = three\n"), None);
        assert_eq!(venv_version("version = 3\n"), None);
    }

    #[test]
    fn mismatch_names_both_versions() {
        let cfg = "version = 3.12.1\n";
        let message = venv_mismatch("/srv/venv", cfg, "3.11").unwrap();
        assert!(message.contains("virtualenv of Python 3.12"), "{message}");
        assert!(message.contains("runs Python 3.11"), "{message}");
        assert!(message.contains("'/srv/venv'"), "{message}");
        assert_eq!(
            venv_mismatch("/srv/venv", "version = 3.11.7\n", "3.11"),
            None
        );
        assert_eq!(
            venv_mismatch("/srv/venv", "home = /usr/bin\n", "3.11"),
            None
        );
    }

    #[test]
    fn not_a_home_names_what_is_missing() {
        let message = not_a_home("/srv/empty", "3.11");
        assert!(message.contains("lib/python3.11/os.py"), "{message}");
        assert!(message.contains("'/srv/empty'"), "{message}");
    }
}
