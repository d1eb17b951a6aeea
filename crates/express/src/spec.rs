//! The table of command-line options (name, value, repeatability, help
//! line): the parser and the `--help` text both read it, so they cannot
//! disagree.

/// One `--name` option.
pub struct Spec {
    pub name: &'static str,
    /// The value's placeholder in help, or `None` for a flag.
    pub value: Option<&'static str>,
    pub repeatable: bool,
    pub help: &'static str,
}

const fn opt(name: &'static str, value: &'static str, help: &'static str) -> Spec {
    Spec {
        name,
        value: Some(value),
        repeatable: false,
        help,
    }
}

const fn many(name: &'static str, value: &'static str, help: &'static str) -> Spec {
    Spec {
        name,
        value: Some(value),
        repeatable: true,
        help,
    }
}

const fn flag(name: &'static str, help: &'static str) -> Spec {
    Spec {
        name,
        value: None,
        repeatable: false,
        help,
    }
}

pub const SPECS: &[Spec] = &[
    opt("port", "N", "TCP port to listen on (default 8000)"),
    opt("host", "ADDR", "address to listen on (default 127.0.0.1; IPv6 as ::1 or [::1])"),
    opt("https-port", "N", "also serve HTTPS on port N (mod_ssl); needs --ssl-certificate-file and --ssl-certificate-key-file"),
    opt("ssl-certificate-file", "FILE", "the server's certificate, PEM (SSLCertificateFile)"),
    opt("ssl-certificate-key-file", "FILE", "its private key, PEM, unencrypted (SSLCertificateKeyFile)"),
    opt("ssl-certificate-chain-file", "FILE", "intermediate CA certificates, PEM (SSLCertificateChainFile)"),
    flag("https-only", "the plain HTTP port only redirects (301) to the same URL on --https-port and serves nothing else"),
    opt("document-root", "DIR", "serve static files from DIR"),
    opt("proxy-to", "URL", "forward every request to URL (http:// or https://) with mod_proxy"),
    opt("auth-user-script", "FILE", "Python script with check_password (Basic) / get_realm_hash (Digest)"),
    opt("auth-type", "TYPE", "Basic (default) or Digest"),
    opt("auth-realm", "NAME", "authentication realm, AuthName (default \"Restricted\")"),
    opt("auth-group-script", "FILE", "Python script with groups_for_user; needs --auth-group"),
    many("auth-group", "NAME", "require membership of NAME (repeatable: any one of them suffices); a logged-in user in none of them gets 403, not a new password prompt (AuthzSendForbiddenOnFailure On)"),
    opt("host-access-script", "FILE", "Python script with allow_access(environ, host) (WSGIAccessScript)"),
    opt("application-group", "NAME", "application-group= for every script (default %{GLOBAL})"),
    flag("reflect-auth", "WSGIReflectAuth On: the backend's X-Remote-User response header becomes the logged user (for backends with their own login; not with --auth-user-script, where Apache's user always wins)"),
    opt("proxy-user-header", "NAME", "with --proxy-to and --auth-user-script: pass the logged-in user to the backend in request header NAME, after removing any NAME a client sent (the backend may trust NAME only on requests that come through this server)"),
    opt("python-home", "DIR", "Python home or virtualenv (WSGIPythonHome)"),
    many("python-path", "DIR[:DIR]", "extra sys.path directories (WSGIPythonPath; repeatable)"),
    opt("mpm", "NAME", "event (default), worker or prefork"),
    opt("processes", "N", "Apache child processes, all kept running (StartServers, ServerLimit)"),
    opt("threads", "N", "worker threads per process (ThreadsPerChild; prefork: 1 only); MaxRequestWorkers is processes x threads"),
    opt("script-timeout", "SECONDS", "time limit of one Python call, 0 for none (WSGIScriptTimeout; default 30)"),
    opt("max-concurrent-calls", "N", "Python calls one process runs at once; beyond that a call waits 1 s, then its request gets 500 (WSGIMaxConcurrentCalls)"),
    flag("auth-daemon", "run the scripts in daemon processes that Apache forks and supervises (WSGIAuthDaemonProcess express, process-group=express); the caches stay in Apache's children"),
    opt("auth-daemon-user", "NAME", "user the daemon processes run as, never root (default: Apache's user); implies --auth-daemon"),
    opt("auth-daemon-group", "NAME", "their group (default: the --auth-daemon-user's primary group, else Apache's group); implies --auth-daemon"),
    opt("auth-daemon-processes", "N", "daemon processes, 1 to 64 (default 1); implies --auth-daemon"),
    opt("auth-daemon-threads", "N", "threads of each daemon process, 1 to 1000 (default 15); implies --auth-daemon"),
    opt("auth-daemon-timeout", "SECONDS", "time limit of one call in a daemon process, 0 for none (call-timeout=; default: --script-timeout's); implies --auth-daemon"),
    opt("auth-cache-timeout", "SECONDS", "remember a granted login for SECONDS in each process (WSGIAuthCacheTimeout); with --shared-cache also the shared entries' lifetime"),
    opt("shared-cache", "STORE", "memcache:HOST:PORT or redis:HOST:PORT: logins shared by every server using the store, answered without Python (mod_authn_socache; AuthnCacheTimeout 300 unless --auth-cache-timeout)"),
    opt("access-log-format", "FORMAT", "common, combined (default), referer, agent, or a LogFormat string such as \"%h %u %t \\\"%r\\\" %>s %D\""),
    flag("server-status", "mod_status at /server-status (add ?auto for machine-readable), for requests from this machine only (Require local)"),
    opt("server-root", "DIR", "where the configuration and logs go (default /tmp/authnz-wsgi-express-PORT)"),
    opt("log-level", "LEVEL", "LogLevel, e.g. info or \"warn authnz_wsgi:debug\" (default warn)"),
    flag("log-to-terminal", "send the error log to stderr and the access log to stdout"),
    opt("module", "PATH", "mod_authnz_wsgi.so to load (default: found next to this program, then in apxs's LIBEXECDIR)"),
    opt("user", "NAME", "user Apache's children run as (default www-data when started as root)"),
    opt("group", "NAME", "group Apache's children run as (default: the user's primary group)"),
    opt("httpd-executable", "PATH", "the Apache binary (default /usr/sbin/apache2)"),
];

/// The option called `name` (without `--`).
pub fn find(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// The `--help` text.
pub fn usage() -> String {
    let mut text = String::from(
        "Usage: authnz-wsgi-express start-server [options]\n\
         \x20      authnz-wsgi-express setup-server [options]\n\
         \n\
         Writes a complete Apache httpd configuration in which Python scripts\n\
         authenticate every request (mod_authnz_wsgi), into the server root.\n\
         start-server then runs Apache in the foreground (Ctrl-C or SIGTERM stops it);\n\
         setup-server only writes the files, with an apachectl script beside them.\n\
         Without --document-root or --proxy-to an example page is served.\n\
         \n\
         Options:\n",
    );
    for spec in SPECS {
        let left = match spec.value {
            Some(v) => format!("--{} {}", spec.name, v),
            None => format!("--{}", spec.name),
        };
        text.push_str(&format!("  {left:<30} {}\n", spec.help));
    }
    text.push_str(&format!("  {:<30} {}\n", "--help", "show this help"));
    text.push_str(&format!("  {:<30} {}\n", "--version", "show the version"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_listed_in_help() {
        let help = usage();
        for (i, spec) in SPECS.iter().enumerate() {
            assert!(
                SPECS[i + 1..].iter().all(|o| o.name != spec.name),
                "{}",
                spec.name
            );
            assert!(help.contains(&format!("--{}", spec.name)), "{}", spec.name);
        }
    }
}
