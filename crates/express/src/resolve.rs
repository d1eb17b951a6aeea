//! From [`Options`] to [`Settings`]: every path made absolute (against the
//! working directory, without resolving symbolic links, so that a script
//! reached through a `current -> release-N` link follows the link when it is
//! switched), every named file and directory checked to exist, the module
//! found, and the account Apache's children run as decided.

use std::path::{Path, PathBuf};

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

/// Resolve everything for the current process (working directory,
/// effective user, location of this program).
pub fn resolve(options: Options) -> Result<Settings, String> {
    let cwd = std::env::current_dir()
        .map_err(|e| format!("cannot determine the working directory: {e}"))?;
    let options = absolute_options(options, &cwd)?;
    let module = match &options.module {
        Some(m) => m.clone(),
        None => locate::find_module()?,
    };
    let server_root = options
        .server_root
        .clone()
        .unwrap_or_else(|| default_server_root(options.port));
    let run_as = run_as(
        options.user.as_deref(),
        options.group.as_deref(),
        identity::effective_uid(),
    )?;
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
