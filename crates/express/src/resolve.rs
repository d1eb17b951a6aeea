//! From [`Options`] to [`Settings`]: every path made absolute (against the
//! working directory, without resolving symbolic links, so that a script
//! reached through a `current -> release-N` link follows the link when it is
//! switched), every named file and directory checked to exist, the module
//! found, and the account Apache's children run as decided.

use std::path::{Path, PathBuf};

use crate::daemon::AuthDaemon;
use crate::identity;
use crate::locate;
use crate::options::{Content, Options};

/// The account for `User`/`Group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub group: String,
}

/// Everything the configuration is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The options, with all paths absolute.
    pub options: Options,
    pub server_root: PathBuf,
    pub module: PathBuf,
    /// `None` when not started as root and no `--user`/`--group` was given:
    /// Apache then keeps running as the invoking user.
    pub run_as: Option<RunAs>,
}

impl Settings {
    pub fn conf_path(&self) -> PathBuf {
        self.server_root.join("httpd.conf")
    }

    pub fn apachectl_path(&self) -> PathBuf {
        self.server_root.join("apachectl")
    }

    /// The document root: the one given, or the example page's directory.
    pub fn document_root(&self) -> Option<PathBuf> {
        match &self.options.content {
            Content::DocumentRoot(dir) => Some(dir.clone()),
            Content::ExamplePage => Some(self.server_root.join("htdocs")),
            Content::ProxyTo(_) => None,
        }
    }

    /// Error and access log destinations.
    pub fn log_paths(&self) -> (PathBuf, PathBuf) {
        if self.options.log_to_terminal {
            ("/dev/stderr".into(), "/dev/stdout".into())
        } else {
            (
                self.server_root.join("error_log"),
                self.server_root.join("access_log"),
            )
        }
    }

    /// The host a browser on this machine would use.
    fn browser_host(&self) -> &str {
        match self.options.host.as_str() {
            "0.0.0.0" | "[::]" => "localhost",
            h => h,
        }
    }

    /// The URL a browser would use (plain HTTP).
    pub fn url(&self) -> String {
        format!("http://{}:{}/", self.browser_host(), self.options.port)
    }

    /// The HTTPS URL, with `--https-port`.
    pub fn https_url(&self) -> Option<String> {
        let tls = self.options.tls.as_ref()?;
        Some(crate::tls::url(self.browser_host(), tls))
    }
}

/// The default server root for a port.
pub fn default_server_root(port: u16) -> PathBuf {
    PathBuf::from(format!("/tmp/authnz-wsgi-express-{port}"))
}

/// `path` made absolute against `cwd` (lexically; `.` components dropped).
pub fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let joined = cwd.join(path);
    std::path::absolute(&joined).unwrap_or(joined)
}

fn file(option: &str, path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!(
            "{option}: '{}' is not a regular file",
            path.display()
        )),
        Err(e) => Err(format!("{option}: '{}': {e}", path.display())),
    }
}

/// A regular file this process can open for reading: mod_ssl reads the
/// certificate and key in Apache's parent, which runs as this user.
fn readable_file(option: &str, path: &Path) -> Result<(), String> {
    file(option, path)?;
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| format!("{option}: '{}' cannot be read: {e}", path.display()))
}

fn dir(option: &str, path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("{option}: '{}' is not a directory", path.display())),
        Err(e) => Err(format!("{option}: '{}': {e}", path.display())),
    }
}

/// Make every path in `options` absolute and check it exists.
pub fn absolute_options(mut options: Options, cwd: &Path) -> Result<Options, String> {
    let abs = |p: &mut PathBuf| *p = absolute(cwd, p);
    if let Content::DocumentRoot(root) = &mut options.content {
        abs(root);
        dir("--document-root", root)?;
    }
    if let Some(auth) = &mut options.auth {
        abs(&mut auth.user_script);
        file("--auth-user-script", &auth.user_script)?;
        if let Some(script) = &mut auth.group_script {
            abs(script);
            file("--auth-group-script", script)?;
        }
    }
    if let Some(script) = &mut options.host_access_script {
        abs(script);
        file("--host-access-script", script)?;
    }
    if let Some(home) = &mut options.python_home {
        abs(home);
        dir("--python-home", home)?;
    }
    for entry in &mut options.python_path {
        abs(entry);
        dir("--python-path", entry)?;
    }
    if let Some(tls) = &mut options.tls {
        abs(&mut tls.certificate);
        readable_file("--ssl-certificate-file", &tls.certificate)?;
        abs(&mut tls.key);
        readable_file("--ssl-certificate-key-file", &tls.key)?;
        if let Some(chain) = &mut tls.chain {
            abs(chain);
            readable_file("--ssl-certificate-chain-file", chain)?;
        }
    }
    if let Some(module) = &mut options.module {
        abs(module);
        file("--module", module)?;
    }
    if let Some(root) = &mut options.server_root {
        abs(root);
    }
    // A bare name is looked up like a shell would, through PATH.
    if options.httpd_executable.components().count() > 1 {
        abs(&mut options.httpd_executable);
        file("--httpd-executable", &options.httpd_executable)?;
    }
    Ok(options)
}

/// `User`/`Group`: what was asked for, else `www-data` (and its primary
/// group) when running as root; checked to exist.
pub fn run_as(user: Option<&str>, group: Option<&str>, euid: u32) -> Result<Option<RunAs>, String> {
    if user.is_none() && group.is_none() && euid != 0 {
        return Ok(None);
    }
    let user_name = user.unwrap_or("www-data");
    let Some(account) = identity::user(user_name) else {
        return Err(format!("--user: there is no user '{user_name}'"));
    };
    let group = match group {
        Some(g) if identity::group_exists(g) => g.to_owned(),
        Some(g) => return Err(format!("--group: there is no group '{g}'")),
        None => identity::group_name(account.gid).unwrap_or_else(|| format!("#{}", account.gid)),
    };
    Ok(Some(RunAs {
        user: account.name,
        group,
    }))
}

/// The daemon group's accounts, checked: `--auth-daemon-user` must exist
/// and not be root (its primary group becomes the daemons' group unless
/// `--auth-daemon-group` names one), `--auth-daemon-group` must exist, and
/// without `--auth-daemon-user` Apache's own user (`run_as`, which the
/// daemons then run as) must not be root. Apache can start the daemons as
/// another account only when it starts as root (`euid`, `egid`: this
/// process's, which Apache keeps).
pub fn daemon_accounts(
    daemon: &mut AuthDaemon,
    run_as: Option<&RunAs>,
    euid: u32,
    egid: u32,
) -> Result<(), String> {
    let not_root = "Apache can start the daemon processes as another account only when it is \
                    started as root";
    if let Some(name) = &daemon.user {
        let Some(account) = identity::user(name) else {
            return Err(format!("--auth-daemon-user: there is no user '{name}'"));
        };
        if account.uid == 0 {
            return Err(format!(
                "--auth-daemon-user: '{name}' is root; the daemon processes run Python scripts \
                 and never as root: name an unprivileged account"
            ));
        }
        if euid != 0 && account.uid != euid {
            return Err(format!(
                "--auth-daemon-user: '{name}' is not the user this runs as (uid {euid}); {not_root}"
            ));
        }
        if daemon.group.is_none() {
            daemon.group = Some(
                identity::group_name(account.gid).unwrap_or_else(|| format!("#{}", account.gid)),
            );
        }
    } else if let Some(run_as) = run_as {
        if identity::user(&run_as.user).is_some_and(|a| a.uid == 0) {
            return Err(format!(
                "--auth-daemon: the daemon processes would run as Apache's user '{}', which is \
                 root; give --auth-daemon-user NAME (an unprivileged account)",
                run_as.user
            ));
        }
    }
    if let Some(name) = &daemon.group {
        let Some(gid) = identity::group_id(name) else {
            return Err(format!("--auth-daemon-group: there is no group '{name}'"));
        };
        if gid == 0 {
            return Err(format!(
                "--auth-daemon-group: '{name}' is root's group; the daemon processes never run \
                 with it: name an unprivileged group"
            ));
        }
        if euid != 0 && gid != egid {
            return Err(format!(
                "--auth-daemon-group: '{name}' is not the group this runs as (gid {egid}); {not_root}"
            ));
        }
    }
    Ok(())
}

/// The longest Unix socket path (`sun_path`, 108 bytes with the NUL).
const SOCKET_PATH_MAX: usize = 107;

/// The daemons' socket, `<DefaultRuntimeDir>/authnz-wsgi.<parent pid>.express.sock`
/// (the runtime directory is the server root), must fit a Unix socket
/// path with the longest pid Linux gives (4194304), as the module checks at
/// start-up.
pub fn daemon_socket_fits(server_root: &Path) -> Result<(), String> {
    let socket = server_root.join(format!(
        "authnz-wsgi.4194304.{}.sock",
        crate::daemon::GROUP_NAME
    ));
    let len = socket.as_os_str().len();
    if len > SOCKET_PATH_MAX {
        let room = SOCKET_PATH_MAX - (len - server_root.as_os_str().len());
        return Err(format!(
            "--server-root: '{}' is too long for --auth-daemon: the daemons' socket \
             '{}' would be {len} bytes, and a Unix socket path has at most {SOCKET_PATH_MAX}; \
             use a server root of at most {room} bytes",
            server_root.display(),
            socket.display()
        ));
    }
    Ok(())
}

/// Resolve everything for the current process (working directory,
/// effective user, location of this program).
pub fn resolve(options: Options) -> Result<Settings, String> {
    let cwd = std::env::current_dir()
        .map_err(|e| format!("cannot determine the working directory: {e}"))?;
    let mut options = absolute_options(options, &cwd)?;
    let module = match &options.module {
        Some(m) => m.clone(),
        None => locate::find_module()?,
    };
    let server_root = options
        .server_root
        .clone()
        .unwrap_or_else(|| default_server_root(options.port));
    let euid = identity::effective_uid();
    let run_as = run_as(options.user.as_deref(), options.group.as_deref(), euid)?;
    if let Some(daemon) = &mut options.auth_daemon {
        daemon_accounts(daemon, run_as.as_ref(), euid, identity::effective_gid())?;
        daemon_socket_fits(&server_root)?;
    }
    Ok(Settings {
        options,
        server_root,
        module,
        run_as,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse, Invocation};
    use std::fs;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "authnz-wsgi-express-test-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("docs")).unwrap();
        fs::write(dir.join("auth.py"), "").unwrap();
        dir
    }

    fn options(list: &[&str]) -> Options {
        let mut args = vec!["setup-server".to_owned()];
        args.extend(list.iter().map(|s| s.to_string()));
        match parse(&args).unwrap() {
            Invocation::Run(_, o) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn relative_paths_become_absolute() {
        let cwd = scratch("abs");
        let o = options(&[
            "--auth-user-script",
            "./auth.py",
            "--document-root",
            "docs",
            "--server-root",
            "root",
            "--python-path",
            "docs",
        ]);
        let o = absolute_options(o, &cwd).unwrap();
        assert_eq!(o.auth.unwrap().user_script, cwd.join("auth.py"));
        assert_eq!(o.content, Content::DocumentRoot(cwd.join("docs")));
        assert_eq!(o.server_root, Some(cwd.join("root")));
        assert_eq!(o.python_path, [cwd.join("docs")]);
        fs::remove_dir_all(cwd).unwrap();
    }

    #[test]
    fn missing_files_and_wrong_kinds() {
        let cwd = scratch("missing");
        let err = |list: &[&str]| absolute_options(options(list), &cwd).unwrap_err();
        assert!(err(&["--auth-user-script", "nope.py"]).contains("--auth-user-script: '"));
        assert!(err(&["--auth-user-script", "docs"]).contains("not a regular file"));
        assert!(err(&["--document-root", "auth.py"]).contains("not a directory"));
        assert!(err(&["--document-root", "nowhere"]).contains("--document-root"));
        assert!(err(&["--host-access-script", "x.py"]).contains("--host-access-script"));
        assert!(err(&["--python-home", "nowhere"]).contains("--python-home"));
        assert!(err(&["--module", "nowhere.so"]).contains("--module"));
        assert!(err(&["--httpd-executable", "./nowhere"]).contains("--httpd-executable"));
        let tls = |cert: &str, key: &str, chain: &str| {
            err(&[
                "--https-port",
                "8443",
                "--ssl-certificate-file",
                cert,
                "--ssl-certificate-key-file",
                key,
                "--ssl-certificate-chain-file",
                chain,
            ])
        };
        assert!(tls("nope.pem", "auth.py", "auth.py").starts_with("--ssl-certificate-file: '"));
        assert!(
            tls("auth.py", "docs", "auth.py").starts_with("--ssl-certificate-key-file: '")
                && tls("auth.py", "docs", "auth.py").ends_with("is not a regular file")
        );
        assert!(tls("auth.py", "auth.py", "nope").starts_with("--ssl-certificate-chain-file: '"));
        fs::remove_dir_all(cwd).unwrap();
    }

    #[test]
    fn accounts() {
        let _lookups = identity::TEST_LOOKUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        assert_eq!(run_as(None, None, 1000).unwrap(), None);
        let root = run_as(Some("root"), None, 1000).unwrap().unwrap();
        assert_eq!(
            root,
            RunAs {
                user: "root".into(),
                group: "root".into()
            }
        );
        assert!(run_as(Some("no-such-user-x"), None, 0)
            .unwrap_err()
            .contains("no user"));
        assert!(run_as(Some("root"), Some("no-such-group-x"), 0)
            .unwrap_err()
            .contains("no group"));
    }

    #[test]
    fn daemon_accounts_are_checked() {
        let _lookups = identity::TEST_LOOKUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let nobody = identity::user("nobody").expect("the nobody account");
        let nobody_group = identity::group_name(nobody.gid).unwrap();
        let daemon = |user: Option<&str>, group: Option<&str>| AuthDaemon {
            user: user.map(str::to_owned),
            group: group.map(str::to_owned),
            processes: 1,
            threads: 15,
            timeout: None,
        };
        let www = RunAs {
            user: "nobody".into(),
            group: nobody_group.clone(),
        };
        let root = RunAs {
            user: "root".into(),
            group: "root".into(),
        };
        // The user's primary group is filled in.
        let mut d = daemon(Some("nobody"), None);
        daemon_accounts(&mut d, Some(&root), 0, 0).unwrap();
        assert_eq!(d.group.as_deref(), Some(nobody_group.as_str()));
        // A group given is kept.
        let mut d = daemon(Some("nobody"), Some("www-data"));
        daemon_accounts(&mut d, Some(&www), 0, 0).unwrap();
        assert_eq!(d.group.as_deref(), Some("www-data"));
        // Apache's user, when it is not root.
        let mut d = daemon(None, None);
        daemon_accounts(&mut d, Some(&www), 0, 0).unwrap();
        assert_eq!(d, daemon(None, None));
        daemon_accounts(&mut d, None, 1000, 1000).unwrap();
        let e = daemon_accounts(&mut daemon(None, None), Some(&root), 0, 0).unwrap_err();
        assert!(
            e.starts_with("--auth-daemon: the daemon processes would run as Apache's user 'root'")
        );
        let e = daemon_accounts(&mut daemon(Some("no-such-user-x"), None), None, 0, 0).unwrap_err();
        assert_eq!(e, "--auth-daemon-user: there is no user 'no-such-user-x'");
        let e = daemon_accounts(&mut daemon(Some("#0"), None), None, 0, 0).unwrap_err();
        assert!(e.contains("is root"), "{e}");
        let e =
            daemon_accounts(&mut daemon(None, Some("no-such-group-x")), None, 0, 0).unwrap_err();
        assert_eq!(
            e,
            "--auth-daemon-group: there is no group 'no-such-group-x'"
        );
        // Not started as root: only this process's own accounts.
        let e = daemon_accounts(&mut daemon(Some("nobody"), None), None, nobody.uid + 1, 0)
            .unwrap_err();
        assert!(e.contains("only when it is started as root"), "{e}");
        let mut d = daemon(Some("nobody"), None);
        daemon_accounts(&mut d, None, nobody.uid, nobody.gid).unwrap();
        let e =
            daemon_accounts(&mut daemon(None, Some(&nobody_group)), None, 1000, 1000).unwrap_err();
        assert!(e.contains("is not the group this runs as"), "{e}");
        let e = daemon_accounts(&mut daemon(None, Some("root")), None, 0, 0).unwrap_err();
        assert!(
            e.starts_with("--auth-daemon-group: 'root' is root's group"),
            "{e}"
        );
    }

    #[test]
    fn daemon_socket_path_fits() {
        assert!(daemon_socket_fits(Path::new("/tmp/authnz-wsgi-express-8000")).is_ok());
        let fits = format!("/{}", "r".repeat(73));
        assert!(daemon_socket_fits(Path::new(&fits)).is_ok());
        let long = format!("/{}", "r".repeat(74));
        let e = daemon_socket_fits(Path::new(&long)).unwrap_err();
        assert!(e.starts_with("--server-root: '/rrr"), "{e}");
        assert!(
            e.contains("108 bytes") && e.contains("at most 74 bytes"),
            "{e}"
        );
    }

    #[test]
    fn urls() {
        let s = |host: &str| Settings {
            options: Options {
                host: host.into(),
                port: 8080,
                ..options(&[])
            },
            server_root: "/r".into(),
            module: "/m.so".into(),
            run_as: None,
        };
        assert_eq!(s("127.0.0.1").url(), "http://127.0.0.1:8080/");
        assert_eq!(s("0.0.0.0").url(), "http://localhost:8080/");
        assert_eq!(s("[::1]").url(), "http://[::1]:8080/");
        assert_eq!(s("127.0.0.1").document_root(), Some("/r/htdocs".into()));
    }
}
