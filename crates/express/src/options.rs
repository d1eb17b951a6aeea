//! The command line: `authnz-wsgi-express <subcommand> [options]`, turned
//! into typed [`Options`] with every check that needs no file system
//! (syntax, values, and the rules between options). Paths stay as given
//! here; `resolve.rs` makes them absolute and checks that they exist.
//!
//! Options are `--name VALUE` or `--name=VALUE`; a value may not start with
//! `--` in the first form (that is a forgotten value). A single-valued option
//! given twice is an error rather than "last one wins".

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::access_log::{self, AccessLogFormat};
use crate::caching::{self, Caching};
use crate::call_limits::{self, CallLimits};
use crate::daemon::{self, AuthDaemon};
use crate::spec::find;
use crate::tls::{self, Tls};
use crate::values::{self, Checked, ProxyTarget};
use crate::workers::{self, Workers};

/// What to do with the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subcommand {
    /// Write the configuration and run Apache in the foreground.
    StartServer,
    /// Write the configuration only.
    SetupServer,
}

/// The HTTP authentication scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Basic,
    Digest,
}

impl AuthType {
    /// The `AuthType` argument.
    pub fn name(self) -> &'static str {
        match self {
            AuthType::Basic => "Basic",
            AuthType::Digest => "Digest",
        }
    }

    /// The directive that names the authn provider for this scheme.
    pub fn provider_directive(self) -> &'static str {
        match self {
            AuthType::Basic => "AuthBasicProvider",
            AuthType::Digest => "AuthDigestProvider",
        }
    }

    /// The httpd module that implements the scheme.
    pub fn module(self) -> &'static str {
        match self {
            AuthType::Basic => "auth_basic",
            AuthType::Digest => "auth_digest",
        }
    }
}

/// The multi-processing module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Worker,
    Prefork,
}

impl Mpm {
    pub fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }
}

/// What the server serves behind the authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Neither `--document-root` nor `--proxy-to`: an example page written
    /// into `<server root>/htdocs`.
    ExamplePage,
    /// Static files from this directory.
    DocumentRoot(PathBuf),
    /// Every request forwarded to this backend.
    ProxyTo(ProxyTarget),
}

/// Authentication settings (present when `--auth-user-script` is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub user_script: PathBuf,
    pub auth_type: AuthType,
    pub realm: String,
    /// `--auth-group-script`; when set, `groups` is not empty.
    pub group_script: Option<PathBuf>,
    pub groups: Vec<String>,
}

/// Everything the options say, checked for consistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The listen address in `Listen`/URL form (IPv6 in brackets).
    pub host: String,
    /// The plain HTTP port.
    pub port: u16,
    /// HTTPS, with `--https-port`.
    pub tls: Option<Tls>,
    pub content: Content,
    pub auth: Option<Auth>,
    pub host_access_script: Option<PathBuf>,
    /// The `application-group=` option for every script directive.
    pub application_group: Option<String>,
    pub reflect_auth: bool,
    /// `--proxy-user-header`: the request header the backend learns the
    /// authenticated user from.
    pub proxy_user_header: Option<String>,
    pub python_home: Option<PathBuf>,
    pub python_path: Vec<PathBuf>,
    pub mpm: Mpm,
    /// `--processes`/`--threads`; `None` keeps httpd's MPM defaults.
    pub workers: Option<Workers>,
    pub call_limits: CallLimits,
    /// `--auth-daemon` (or an option that implies it): the scripts run in
    /// a `WSGIAuthDaemonProcess` group.
    pub auth_daemon: Option<AuthDaemon>,
    pub caching: Caching,
    pub access_log_format: AccessLogFormat,
    /// `--server-status`: mod_status at `/server-status`, local only.
    pub server_status: bool,
    pub server_root: Option<PathBuf>,
    pub log_level: String,
    pub log_to_terminal: bool,
    pub module: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub httpd_executable: PathBuf,
}

/// Default realm when `--auth-realm` is not given.
pub const DEFAULT_REALM: &str = "Restricted";
/// Debian's httpd binary.
pub const DEFAULT_HTTPD: &str = "/usr/sbin/apache2";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Help,
    Version,
    Run(Subcommand, Box<Options>),
}

/// Parse the arguments after the program name.
pub fn parse(args: &[String]) -> Checked<Invocation> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Invocation::Help);
    }
    let Some((first, rest)) = args.split_first() else {
        return Err("a subcommand is required: start-server or setup-server".to_owned());
    };
    let subcommand = match first.as_str() {
        "start-server" => Subcommand::StartServer,
        "setup-server" => Subcommand::SetupServer,
        "--version" | "-V" => return Ok(Invocation::Version),
        other if other.starts_with('-') => {
            return Err(format!(
                "a subcommand must come first (start-server or setup-server), not '{other}'"
            ))
        }
        other => {
            return Err(format!(
                "unknown subcommand '{other}' (expected start-server or setup-server)"
            ))
        }
    };
    let raw = collect(rest)?;
    Ok(Invocation::Run(subcommand, Box::new(build(&raw)?)))
}

/// Option values by name, in command-line order.
pub(crate) type Raw = BTreeMap<&'static str, Vec<String>>;

/// Split the arguments into known options and their values.
fn collect(args: &[String]) -> Checked<Raw> {
    let mut raw = Raw::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(body) = arg.strip_prefix("--") else {
            return Err(format!(
                "unexpected argument '{arg}' (options start with --)"
            ));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let Some(spec) = find(name) else {
            return Err(format!("unknown option '--{name}'"));
        };
        let value = match (spec.value, inline) {
            (None, Some(_)) => return Err(format!("--{name} takes no value")),
            (None, None) => String::new(),
            (Some(_), Some(v)) => v,
            (Some(meta), None) => match args.get(i) {
                Some(v) if !v.starts_with("--") => {
                    i += 1;
                    v.clone()
                }
                _ => return Err(format!("--{name} needs a value: --{name} {meta}")),
            },
        };
        let values = raw.entry(spec.name).or_default();
        if !values.is_empty() && !spec.repeatable {
            return Err(format!("--{name} is given more than once"));
        }
        values.push(value);
    }
    Ok(raw)
}

pub(crate) fn single<'a>(raw: &'a Raw, name: &str) -> Option<&'a str> {
    raw.get(name).and_then(|v| v.last()).map(String::as_str)
}

pub(crate) fn all<'a>(raw: &'a Raw, name: &str) -> &'a [String] {
    raw.get(name).map(Vec::as_slice).unwrap_or(&[])
}

pub(crate) fn flag(raw: &Raw, name: &str) -> bool {
    raw.contains_key(name)
}

/// A path-valued option, checked for text that cannot go into the config.
pub(crate) fn path(raw: &Raw, name: &str) -> Checked<Option<PathBuf>> {
    single(raw, name)
        .map(|v| values::config_text(&format!("--{name}"), v).map(|()| PathBuf::from(v)))
        .transpose()
}

fn build(raw: &Raw) -> Checked<Options> {
    let port = single(raw, "port").map_or(Ok(8000), |v| values::port("--port", v))?;
    let host = values::listen_host(single(raw, "host").unwrap_or("127.0.0.1"))?;

    let content =
        match (path(raw, "document-root")?, single(raw, "proxy-to")) {
            (Some(_), Some(_)) => return Err(
                "--document-root and --proxy-to exclude each other: serve files or proxy, not both"
                    .to_owned(),
            ),
            (Some(dir), None) => Content::DocumentRoot(dir),
            (None, Some(url)) => Content::ProxyTo(values::proxy_target(url)?),
            (None, None) => Content::ExamplePage,
        };

    let auth = build_auth(raw)?;
    let host_access_script = path(raw, "host-access-script")?;
    let reflect_auth = flag(raw, "reflect-auth");
    if reflect_auth && auth.is_some() {
        return Err(
            "--reflect-auth and --auth-user-script exclude each other: with --auth-user-script \
             Apache authenticates every request itself, and a user Apache authenticated is never \
             replaced by the backend's X-Remote-User, so --reflect-auth would have no effect. \
             Use --reflect-auth for a backend that does its own login, or --proxy-user-header \
             NAME to tell the backend who logged in here"
                .to_owned(),
        );
    }
    let proxy_user_header = single(raw, "proxy-user-header").map(str::to_owned);
    if let Some(name) = &proxy_user_header {
        authnz_core::reflect::validate_header_name(name)
            .map_err(|e| format!("--proxy-user-header: {e}"))?;
        if !matches!(content, Content::ProxyTo(_)) || auth.is_none() {
            return Err(
                "--proxy-user-header needs --proxy-to (the backend that reads it) and \
                 --auth-user-script (the login whose user it carries)"
                    .to_owned(),
            );
        }
    }

    let application_group = single(raw, "application-group").map(str::to_owned);
    if let Some(group) = &application_group {
        values::config_text("--application-group", group)?;
        authnz_core::script_options::ApplicationGroup::parse(group)
            .map_err(|e| format!("--application-group: {e}"))?;
        if auth.is_none() && host_access_script.is_none() {
            return Err(
                "--application-group needs a script: --auth-user-script or --host-access-script"
                    .to_owned(),
            );
        }
    }

    let mut python_path = Vec::new();
    for dir in all(raw, "python-path") {
        values::config_text("--python-path", dir)?;
        for part in dir.split(':').filter(|p| !p.is_empty()) {
            python_path.push(PathBuf::from(part));
        }
    }

    let mpm = match single(raw, "mpm").unwrap_or("event") {
        "event" => Mpm::Event,
        "worker" => Mpm::Worker,
        "prefork" => Mpm::Prefork,
        other => {
            return Err(format!(
                "--mpm: '{other}' is not an MPM (event, worker or prefork)"
            ))
        }
    };

    let log_level = values::log_level(single(raw, "log-level").unwrap_or("warn"))?;
    let account = |name: &str| -> Checked<Option<String>> {
        single(raw, name)
            .map(|v| values::account_name(&format!("--{name}"), v).map(|()| v.to_owned()))
            .transpose()
    };

    let has_script = auth.is_some() || host_access_script.is_some();
    Ok(Options {
        tls: tls::parse(raw, port)?,
        workers: workers::parse(raw, mpm)?,
        call_limits: call_limits::parse(raw, has_script)?,
        auth_daemon: daemon::parse(raw, has_script)?,
        caching: caching::parse(raw, auth.is_some())?,
        access_log_format: access_log::parse(single(raw, "access-log-format"))?,
        server_status: flag(raw, "server-status"),
        host,
        port,
        content,
        auth,
        host_access_script,
        application_group,
        reflect_auth,
        proxy_user_header,
        python_home: path(raw, "python-home")?,
        python_path,
        mpm,
        server_root: path(raw, "server-root")?,
        log_level,
        log_to_terminal: flag(raw, "log-to-terminal"),
        module: path(raw, "module")?,
        user: account("user")?,
        group: account("group")?,
        httpd_executable: path(raw, "httpd-executable")?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HTTPD)),
    })
}

/// The authentication options, or `None` without `--auth-user-script`.
fn build_auth(raw: &Raw) -> Checked<Option<Auth>> {
    let user_script = path(raw, "auth-user-script")?;
    let group_script = path(raw, "auth-group-script")?;
    let groups = all(raw, "auth-group");
    for group in groups {
        values::expr_text("--auth-group", group)?;
    }
    let Some(user_script) = user_script else {
        for name in ["auth-type", "auth-realm", "auth-group-script", "auth-group"] {
            if flag(raw, name) {
                return Err(format!(
                    "--{name} needs --auth-user-script (the script that checks passwords)"
                ));
            }
        }
        return Ok(None);
    };
    if !groups.is_empty() && group_script.is_none() {
        return Err(
            "--auth-group needs --auth-group-script (the script that defines groups_for_user)"
                .to_owned(),
        );
    }
    if group_script.is_some() && groups.is_empty() {
        return Err(
            "--auth-group-script needs at least one --auth-group NAME (the group to require)"
                .to_owned(),
        );
    }
    let auth_type = match single(raw, "auth-type").unwrap_or("Basic") {
        t if t.eq_ignore_ascii_case("basic") => AuthType::Basic,
        t if t.eq_ignore_ascii_case("digest") => AuthType::Digest,
        other => {
            return Err(format!(
                "--auth-type: '{other}' is not supported (Basic or Digest)"
            ))
        }
    };
    let realm = single(raw, "auth-realm")
        .unwrap_or(DEFAULT_REALM)
        .to_owned();
    values::expr_text("--auth-realm", &realm)?;
    Ok(Some(Auth {
        user_script,
        auth_type,
        realm,
        group_script,
        groups: groups.to_vec(),
    }))
}

/// Parsing a `setup-server` command line in the unit tests of the option
/// files.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The options of `setup-server` followed by `list`.
    pub fn run(list: &[&str]) -> Checked<Options> {
        let mut full = vec!["setup-server".to_owned()];
        full.extend(list.iter().map(|s| s.to_string()));
        match parse(&full)? {
            Invocation::Run(Subcommand::SetupServer, o) => Ok(*o),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The usage error for `list`.
    pub fn err(list: &[&str]) -> String {
        run(list).unwrap_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(list: &[&str]) -> Checked<Options> {
        let mut full = vec!["setup-server"];
        full.extend_from_slice(list);
        match parse(&args(&full))? {
            Invocation::Run(Subcommand::SetupServer, o) => Ok(*o),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn err(list: &[&str]) -> String {
        run(list).unwrap_err()
    }

    #[test]
    fn defaults() {
        let o = run(&[]).unwrap();
        assert_eq!(o.port, 8000);
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!(o.content, Content::ExamplePage);
        assert_eq!(o.auth, None);
        assert_eq!(o.mpm, Mpm::Event);
        assert_eq!(o.log_level, "warn");
        assert!(!o.reflect_auth && !o.log_to_terminal);
        assert_eq!(o.httpd_executable, PathBuf::from("/usr/sbin/apache2"));
    }

    #[test]
    fn subcommands_help_and_version() {
        assert_eq!(parse(&args(&["--help"])).unwrap(), Invocation::Help);
        assert_eq!(
            parse(&args(&["start-server", "--port", "1", "-h"])).unwrap(),
            Invocation::Help
        );
        assert_eq!(parse(&args(&["--version"])).unwrap(), Invocation::Version);
        assert!(matches!(
            parse(&args(&["start-server"])).unwrap(),
            Invocation::Run(Subcommand::StartServer, _)
        ));
        assert!(parse(&[]).unwrap_err().contains("subcommand is required"));
        assert!(parse(&args(&["serve"]))
            .unwrap_err()
            .contains("unknown subcommand 'serve'"));
        assert!(parse(&args(&["--port", "1"]))
            .unwrap_err()
            .contains("must come first"));
    }

    #[test]
    fn both_value_forms() {
        assert_eq!(run(&["--port", "9000"]).unwrap().port, 9000);
        assert_eq!(run(&["--port=9001"]).unwrap().port, 9001);
        assert_eq!(
            run(&["--auth-user-script=a.py", "--auth-realm="]).unwrap_err(),
            "--auth-realm: the value is empty"
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err(&["--bogus"]), "unknown option '--bogus'");
        assert_eq!(err(&["--port"]), "--port needs a value: --port N");
        assert_eq!(
            err(&["--port", "--host", "x"]),
            "--port needs a value: --port N"
        );
        assert_eq!(
            err(&["--reflect-auth=yes"]),
            "--reflect-auth takes no value"
        );
        assert_eq!(
            err(&["--port", "1", "--port", "2"]),
            "--port is given more than once"
        );
        assert!(err(&["stray"]).contains("unexpected argument 'stray'"));
        assert!(err(&["--port", "http"]).contains("not a port number"));
        assert!(err(&["--mpm", "threaded"]).contains("not an MPM"));
        assert!(err(&["--log-level", "loud"]).contains("not a log level"));
        assert!(err(&["--host", "a b"]).contains("not a host name"));
    }

    #[test]
    fn content_choice() {
        assert_eq!(
            run(&["--document-root", "site"]).unwrap().content,
            Content::DocumentRoot("site".into())
        );
        let o = run(&["--proxy-to", "http://127.0.0.1:9000"]).unwrap();
        assert!(matches!(o.content, Content::ProxyTo(ref t) if t.url == "http://127.0.0.1:9000/"));
        assert!(err(&["--document-root", "d", "--proxy-to", "http://h/"])
            .contains("exclude each other"));
        assert!(err(&["--proxy-to", "localhost:9000"]).contains("not an http://"));
    }

    #[test]
    fn auth_options() {
        let o = run(&["--auth-user-script", "u.py"]).unwrap();
        let a = o.auth.unwrap();
        assert_eq!(
            (a.auth_type, a.realm.as_str()),
            (AuthType::Basic, "Restricted")
        );
        let a = run(&[
            "--auth-user-script",
            "u.py",
            "--auth-type",
            "digest",
            "--auth-realm",
            "My site",
        ])
        .unwrap()
        .auth
        .unwrap();
        assert_eq!(
            (a.auth_type, a.realm.as_str()),
            (AuthType::Digest, "My site")
        );
        let a = run(&[
            "--auth-user-script",
            "u.py",
            "--auth-group-script",
            "g.py",
            "--auth-group",
            "admins",
            "--auth-group=g 2",
        ])
        .unwrap()
        .auth
        .unwrap();
        assert_eq!(a.group_script, Some("g.py".into()));
        assert_eq!(a.groups, ["admins", "g 2"]);
    }

    #[test]
    fn auth_rules() {
        assert!(
            err(&["--auth-user-script", "u.py", "--auth-type", "NTLM"]).contains("Basic or Digest")
        );
        assert!(err(&["--auth-type", "Basic"]).contains("--auth-type needs --auth-user-script"));
        assert!(err(&["--auth-realm", "x"]).contains("--auth-realm needs --auth-user-script"));
        assert!(err(&["--auth-group-script", "g.py", "--auth-group", "a"])
            .contains("needs --auth-user-script"));
        assert!(err(&["--auth-user-script", "u.py", "--auth-group", "a"])
            .contains("--auth-group needs --auth-group-script"));
        assert!(
            err(&["--auth-user-script", "u.py", "--auth-group-script", "g.py"])
                .contains("at least one --auth-group")
        );
        assert!(err(&["--auth-user-script", "u.py", "--auth-realm", "a\"b"]).contains("quote"));
        assert!(err(&[
            "--auth-user-script",
            "u.py",
            "--auth-group-script",
            "g.py",
            "--auth-group",
            "%{X}"
        ])
        .contains("%{"));
    }

    #[test]
    fn reflection_and_the_backend_user() {
        let both = err(&["--auth-user-script", "u.py", "--reflect-auth"]);
        assert!(both.contains("--reflect-auth and --auth-user-script exclude each other"));
        assert!(both.contains("--proxy-user-header"));
        let o = run(&[
            "--proxy-to",
            "http://127.0.0.1:9000",
            "--auth-user-script",
            "u.py",
            "--proxy-user-header",
            "X-User",
        ])
        .unwrap();
        assert_eq!(o.proxy_user_header.as_deref(), Some("X-User"));
        assert!(err(&[
            "--auth-user-script",
            "u.py",
            "--proxy-user-header",
            "X-User"
        ])
        .contains("needs --proxy-to"));
        assert!(err(&[
            "--proxy-to",
            "http://127.0.0.1:9000",
            "--proxy-user-header",
            "X-User"
        ])
        .contains("and --auth-user-script"));
        assert!(err(&[
            "--proxy-to",
            "http://h/",
            "--auth-user-script",
            "u.py",
            "--proxy-user-header",
            "X User"
        ])
        .starts_with("--proxy-user-header: "));
    }

    #[test]
    fn scripts_and_python() {
        let o = run(&[
            "--host-access-script",
            "h.py",
            "--application-group",
            "site1",
            "--reflect-auth",
            "--python-home",
            "/venv",
            "--python-path",
            "/a:/b",
            "--python-path",
            "/c",
        ])
        .unwrap();
        assert_eq!(o.host_access_script, Some("h.py".into()));
        assert_eq!(o.application_group.as_deref(), Some("site1"));
        assert!(o.reflect_auth);
        assert_eq!(o.python_home, Some("/venv".into()));
        assert_eq!(
            o.python_path,
            [PathBuf::from("/a"), "/b".into(), "/c".into()]
        );
        assert!(err(&["--application-group", "x"]).contains("needs a script"));
        assert!(err(&[
            "--host-access-script",
            "h.py",
            "--application-group",
            "%{SERVERNAME}"
        ])
        .contains("write %{GLOBAL}"));
        assert!(err(&["--python-home", "/v/${X}"]).contains("${"));
    }

    #[test]
    fn run_as_and_paths() {
        let o = run(&[
            "--user",
            "nobody",
            "--group",
            "nogroup",
            "--module",
            "m.so",
            "--server-root",
            "r",
        ])
        .unwrap();
        assert_eq!(
            (o.user.as_deref(), o.group.as_deref()),
            (Some("nobody"), Some("nogroup"))
        );
        assert_eq!(o.module, Some("m.so".into()));
        assert_eq!(o.server_root, Some("r".into()));
        assert!(err(&["--user", "a b"]).contains("not a user or group name"));
    }

    #[test]
    fn every_spec_is_parsed() {
        // Each option in the table must be accepted by the parser.
        for spec in crate::spec::SPECS {
            let name = spec.name;
            let arg = if spec.value.is_some() {
                format!("--{name}=x")
            } else {
                format!("--{name}")
            };
            if let Err(e) = run(&[&arg]) {
                assert!(!e.contains("unknown option"), "{name}: {e}");
            }
        }
    }
}
