//! The generated `httpd.conf`: a complete, self-contained Apache 2.4
//! configuration (no Debian `/etc/apache2` includes) rendered from
//! [`Settings`]. Pure text generation; writing it is `server_root.rs`'s job.
//!
//! One rule matters more than the rest: when groups are required, the
//! `Require` lines go inside `<RequireAll>`. In httpd 2.4 several `Require`
//! lines outside a container mean *any* of them, so `Require valid-user`
//! next to `Require wsgi-group x` would admit every valid user.

use std::fmt::Write;
use std::path::Path;

use crate::access_log;
use crate::caching;
use crate::call_limits;
use crate::daemon;
use crate::locate::DEBIAN_MODULES;
use crate::options::Content;
use crate::quote::{conf, conf_path};
use crate::resolve::Settings;
use crate::tls;
use crate::workers;

/// Where `--server-status` puts mod_status.
pub const SERVER_STATUS_PATH: &str = "/server-status";

/// The httpd modules (short names, `mod_<name>.so`) the configuration uses.
pub fn modules(s: &Settings) -> Vec<String> {
    let o = &s.options;
    let mut list = vec![
        format!("mpm_{}", o.mpm.name()),
        "authn_core".into(),
        "authz_core".into(),
    ];
    if let Some(auth) = &o.auth {
        list.push("authz_user".into());
        list.push(auth.auth_type.module().into());
    }
    match &o.content {
        Content::ProxyTo(target) => {
            list.push("proxy".into());
            list.push("proxy_http".into());
            if o.proxy_user_header.is_some() {
                list.push("headers".into());
            }
            if target.tls {
                list.push("ssl".into());
            }
        }
        Content::DocumentRoot(_) | Content::ExamplePage => {
            list.push("dir".into());
            list.push("mime".into());
        }
    }
    let mut more: Vec<&str> = Vec::new();
    if let Some(t) = &o.tls {
        more.extend(tls::modules(t));
    }
    more.extend(caching::modules(&o.caching));
    if o.server_status {
        // mod_authz_host: Require local.
        more.extend(["status", "authz_host"]);
    }
    for name in more {
        if !list.iter().any(|m| m == name) {
            list.push(name.into());
        }
    }
    list
}

/// `ServerName`: httpd rejects an IPv6 literal there, and a wildcard
/// address is no name.
fn server_name(host: &str) -> &str {
    match host {
        "0.0.0.0" => "localhost",
        h if h.starts_with('[') => "localhost",
        h => h,
    }
}

/// The complete configuration text.
pub fn render(s: &Settings) -> String {
    let mut out = String::new();
    header(&mut out, s);
    load_modules(&mut out, s);
    identity_and_logs(&mut out, s);
    workers::render(&mut out, s.options.mpm, s.options.workers);
    call_limits::render(&mut out, s.options.call_limits);
    tls::server_settings(&mut out, s);
    caching::server_settings(&mut out, &s.options.caching);
    python(&mut out, s);
    auth_daemon(&mut out, s);
    content(&mut out, s);
    location(&mut out, s);
    server_status(&mut out, s);
    tls::virtual_hosts(&mut out, s, server_name(&s.options.host));
    out
}

fn header(out: &mut String, s: &Settings) {
    let o = &s.options;
    let root = &s.server_root;
    let _ = write!(
        out,
        "# Apache httpd configuration written by authnz-wsgi-express {version}.\n\
         # It is rewritten by every setup-server/start-server run: edit the options, not this file.\n\
         \n\
         ServerRoot {root}\n\
         PidFile {pid}\n\
         DefaultRuntimeDir {root}\n\
         ServerName {server_name}\n\
         Listen {listen}\n",
        version = env!("CARGO_PKG_VERSION"),
        root = conf_path(root),
        pid = conf_path(&root.join("httpd.pid")),
        server_name = server_name(&o.host),
        listen = format_args!("{}:{}", o.host, o.port),
    );
    tls::listen(out, o);
    out.push('\n');
}

fn load_modules(out: &mut String, s: &Settings) {
    for name in modules(s) {
        let so = Path::new(DEBIAN_MODULES).join(format!("mod_{name}.so"));
        let _ = writeln!(out, "LoadModule {name}_module {}", conf_path(&so));
    }
    let _ = writeln!(
        out,
        "LoadModule authnz_wsgi_module {}\n",
        conf_path(&s.module)
    );
}

fn identity_and_logs(out: &mut String, s: &Settings) {
    if let Some(run_as) = &s.run_as {
        let _ = writeln!(out, "User {}\nGroup {}\n", run_as.user, run_as.group);
    }
    let (error_log, access_log) = s.log_paths();
    let _ = write!(
        out,
        "ErrorLog {error}\nLogLevel {level}\n",
        error = conf_path(&error_log),
        level = s.options.log_level,
    );
    let nickname = access_log::render(out, &s.options.access_log_format);
    let _ = write!(out, "CustomLog {} {nickname}\n\n", conf_path(&access_log));
}

fn python(out: &mut String, s: &Settings) {
    let o = &s.options;
    if let Some(home) = &o.python_home {
        let _ = writeln!(out, "WSGIPythonHome {}", conf_path(home));
    }
    if !o.python_path.is_empty() {
        let joined: Vec<String> = o
            .python_path
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let _ = writeln!(out, "WSGIPythonPath {}", conf(&joined.join(":")));
    }
    if o.python_home.is_some() || !o.python_path.is_empty() {
        out.push('\n');
    }
}

/// `--auth-daemon`: the daemon group, before the `<Location />` whose
/// script directives name it.
fn auth_daemon(out: &mut String, s: &Settings) {
    let o = &s.options;
    if let Some(d) = &o.auth_daemon {
        daemon::render(out, d, o.python_home.as_ref(), &o.python_path);
    }
}

fn content(out: &mut String, s: &Settings) {
    out.push_str(
        "<Directory />\n    Options None\n    AllowOverride None\n    Require all denied\n</Directory>\n\n",
    );
    match (&s.options.content, s.document_root()) {
        (Content::ProxyTo(target), _) => {
            out.push_str("ProxyRequests Off\n");
            if s.options.server_status {
                let _ = writeln!(out, "ProxyPass {SERVER_STATUS_PATH} !");
            }
            if target.tls {
                out.push_str(
                    "SSLProxyEngine On\n\
                     SSLProxyVerify require\n\
                     SSLProxyCheckPeerName On\n\
                     SSLProxyCACertificateFile \"/etc/ssl/certs/ca-certificates.crt\"\n",
                );
            }
            let _ = writeln!(
                out,
                "ProxyPass / {}\nProxyPassReverse / {}\n",
                target.url, target.url
            );
        }
        (_, Some(root)) => {
            let root = conf_path(&root);
            let _ = write!(
                out,
                "DocumentRoot {root}\n\
                 <Directory {root}>\n    Options FollowSymLinks\n    AllowOverride None\n    Require all granted\n</Directory>\n\
                 DirectoryIndex index.html\n\
                 TypesConfig /etc/mime.types\n\
                 \n",
            );
        }
        (_, None) => {}
    }
}

/// The `<Location />` that protects everything.
fn location(out: &mut String, s: &Settings) {
    let o = &s.options;
    let mut options = o
        .application_group
        .as_ref()
        // The value is quoted, not the option: mod_wsgi's reading (name up
        // to `=`, then one quoted word), which the script directives follow.
        .map(|g| format!(" application-group={}", conf(g)))
        .unwrap_or_default();
    if o.auth_daemon.is_some() {
        options.push_str(&daemon::script_option());
    }
    out.push_str("<Location />\n");
    if let Some(auth) = &o.auth {
        let _ = write!(
            out,
            "    AuthType {kind}\n    AuthName {realm}\n    {provider} {providers}\n    WSGIAuthUserScript {script}{options}\n",
            kind = auth.auth_type.name(),
            realm = conf(&auth.realm),
            provider = auth.auth_type.provider_directive(),
            providers = caching::providers(&o.caching),
            script = conf_path(&auth.user_script),
        );
        caching::location_settings(out, &o.caching, &auth.realm);
        if let Some(script) = &auth.group_script {
            let _ = writeln!(
                out,
                "    WSGIAuthGroupScript {}{options}",
                conf_path(script)
            );
        }
    }
    if let Some(script) = &o.host_access_script {
        let _ = writeln!(out, "    WSGIAccessScript {}{options}", conf_path(script));
    }
    if o.reflect_auth {
        out.push_str("    WSGIReflectAuth On\n");
    }
    if let Some(name) = &o.proxy_user_header {
        proxy_user_header(out, name);
    }
    match &o.auth {
        None => out.push_str("    Require all granted\n"),
        Some(auth) if auth.groups.is_empty() => out.push_str("    Require valid-user\n"),
        Some(auth) => {
            let groups: Vec<String> = auth.groups.iter().map(|g| conf(g)).collect();
            // A logged-in user outside the groups gets 403, not another
            // password prompt (httpd's default answer is 401).
            out.push_str("    AuthzSendForbiddenOnFailure On\n");
            let _ = write!(
                out,
                "    <RequireAll>\n        Require valid-user\n        Require wsgi-group {}\n    </RequireAll>\n",
                groups.join(" ")
            );
        }
    }
    out.push_str("</Location>\n");
}

/// `--server-status`: mod_status's page, for requests from this machine
/// only. Its `Require local` replaces the `Require` lines of
/// `<Location />` (sections merge, and without `AuthMerging` the later
/// section's authorization wins), and it is granted without a user, so no
/// password is asked for.
fn server_status(out: &mut String, s: &Settings) {
    if s.options.server_status {
        let _ = write!(
            out,
            "\n<Location {SERVER_STATUS_PATH}>\n    SetHandler server-status\n    Require local\n</Location>\n"
        );
    }
}

/// `--proxy-user-header NAME`: mod_headers' `RequestHeader` lines run in
/// the fixup phase, after authentication and before the proxy handler,
/// in the order written: first every copy a client sent is removed (also
/// the `_` spelling, which WSGI servers fold into the same variable),
/// then the header is set from the user Apache authenticated.
fn proxy_user_header(out: &mut String, name: &str) {
    let mut spellings = vec![name.to_owned()];
    for other in [name.replace('-', "_"), name.replace('_', "-")] {
        if !spellings.contains(&other) {
            spellings.push(other);
        }
    }
    for spelling in &spellings {
        let _ = writeln!(out, "    RequestHeader unset {}", conf(spelling));
    }
    let _ = writeln!(
        out,
        "    RequestHeader set {} \"expr=%{{REMOTE_USER}}\"",
        conf(name)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse, Invocation, Options};
    use crate::resolve::RunAs;

    fn settings(list: &[&str]) -> Settings {
        let mut args = vec!["setup-server".to_owned()];
        args.extend(list.iter().map(|s| s.to_string()));
        let options: Options = match parse(&args).unwrap() {
            Invocation::Run(_, o) => *o,
            other => panic!("{other:?}"),
        };
        Settings {
            options,
            server_root: "/tmp/root".into(),
            module: "/build/libmod_authnz_wsgi.so".into(),
            run_as: Some(RunAs {
                user: "www-data".into(),
                group: "www-data".into(),
            }),
        }
    }

    fn render_with(list: &[&str]) -> String {
        render(&settings(list))
    }

    fn location_block(conf: &str) -> &str {
        let start = conf.find("<Location />").unwrap();
        &conf[start..]
    }

    #[test]
    fn default_serves_example_page_to_everyone() {
        let c = render_with(&[]);
        assert!(c.contains("ServerRoot \"/tmp/root\"\n"));
        assert!(c.contains("Listen 127.0.0.1:8000\n"));
        assert!(c.contains("PidFile \"/tmp/root/httpd.pid\"\n"));
        assert!(c.contains(
            "LoadModule mpm_event_module \"/usr/lib/apache2/modules/mod_mpm_event.so\"\n"
        ));
        assert!(c.contains("LoadModule authnz_wsgi_module \"/build/libmod_authnz_wsgi.so\"\n"));
        assert!(c.contains("User www-data\nGroup www-data\n"));
        assert!(c.contains("ErrorLog \"/tmp/root/error_log\"\nLogLevel warn\n"));
        assert!(c.contains("CustomLog \"/tmp/root/access_log\" combined\n"));
        assert!(c.contains(r#"LogFormat "%h %l %u %t \"%r\" %>s %b"#));
        assert!(c.contains("DocumentRoot \"/tmp/root/htdocs\"\n"));
        assert_eq!(
            location_block(&c),
            "<Location />\n    Require all granted\n</Location>\n"
        );
        assert!(!c.contains("auth_basic") && !c.contains("proxy"));
    }

    #[test]
    fn basic_auth() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--auth-realm",
            "My site",
        ]);
        assert!(c.contains("LoadModule auth_basic_module"));
        assert!(c.contains("LoadModule authz_user_module"));
        assert_eq!(
            location_block(&c),
            "<Location />\n    AuthType Basic\n    AuthName \"My site\"\n    AuthBasicProvider wsgi\n    \
             WSGIAuthUserScript \"/s/auth.py\"\n    Require valid-user\n</Location>\n"
        );
    }

    #[test]
    fn digest_auth() {
        let c = render_with(&["--auth-user-script", "/s/auth.py", "--auth-type", "Digest"]);
        assert!(c.contains("LoadModule auth_digest_module"));
        assert!(!c.contains("auth_basic"));
        let l = location_block(&c);
        assert!(l.contains(
            "AuthType Digest\n    AuthName \"Restricted\"\n    AuthDigestProvider wsgi\n"
        ));
    }

    #[test]
    fn groups_are_always_inside_require_all() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--auth-group-script",
            "/s/groups.py",
            "--auth-group",
            "admins",
            "--auth-group",
            "g 2",
        ]);
        let l = location_block(&c);
        assert!(l.contains("    WSGIAuthGroupScript \"/s/groups.py\"\n"));
        // A member of no group gets 403, not a new password prompt.
        assert!(l.contains("    AuthzSendForbiddenOnFailure On\n    <RequireAll>\n"));
        assert!(
            !location_block(&render_with(&["--auth-user-script", "/s/auth.py"]))
                .contains("AuthzSendForbiddenOnFailure")
        );
        assert!(l.contains(
            "    <RequireAll>\n        Require valid-user\n        Require wsgi-group \"admins\" \"g 2\"\n    </RequireAll>\n"
        ));
        // Exactly one Require valid-user, and it is inside the container.
        assert_eq!(l.matches("Require valid-user").count(), 1);
        let inside = &l[l.find("<RequireAll>").unwrap()..l.find("</RequireAll>").unwrap()];
        assert!(inside.contains("Require valid-user") && inside.contains("Require wsgi-group"));
    }

    #[test]
    fn access_script_reflection_and_application_group() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--host-access-script",
            "/s/hosts.py",
            "--application-group",
            "site 1",
        ]);
        let l = location_block(&c);
        assert!(l.contains("WSGIAuthUserScript \"/s/auth.py\" application-group=\"site 1\"\n"));
        assert!(l.contains("WSGIAccessScript \"/s/hosts.py\" application-group=\"site 1\"\n"));
        let c = render_with(&["--host-access-script", "/s/hosts.py", "--reflect-auth"]);
        assert!(location_block(&c).contains("    WSGIReflectAuth On\n"));
        let c = render_with(&["--host-access-script", "/s/hosts.py"]);
        assert!(location_block(&c).ends_with(
            "    WSGIAccessScript \"/s/hosts.py\"\n    Require all granted\n</Location>\n"
        ));
    }

    #[test]
    fn proxy() {
        let c = render_with(&["--proxy-to", "http://127.0.0.1:9000"]);
        assert!(c.contains("LoadModule proxy_module"));
        assert!(c.contains("LoadModule proxy_http_module"));
        assert!(c.contains(
            "ProxyPass / http://127.0.0.1:9000/\nProxyPassReverse / http://127.0.0.1:9000/\n"
        ));
        assert!(!c.contains("DocumentRoot") && !c.contains("SSLProxyEngine"));
        let c = render_with(&["--proxy-to", "https://backend/"]);
        assert!(c.contains("LoadModule ssl_module"));
        assert!(c.contains("SSLProxyEngine On\nSSLProxyVerify require\n"));
        assert!(!c.contains("headers_module") && !c.contains("RequestHeader"));
    }

    #[test]
    fn proxy_user_header() {
        let c = render_with(&[
            "--proxy-to",
            "http://127.0.0.1:9000",
            "--auth-user-script",
            "/s/auth.py",
            "--proxy-user-header",
            "X-Remote-User",
        ]);
        assert!(c.contains("LoadModule headers_module"));
        assert!(location_block(&c).contains(
            "    RequestHeader unset \"X-Remote-User\"\n    RequestHeader unset \"X_Remote_User\"\n    \
             RequestHeader set \"X-Remote-User\" \"expr=%{REMOTE_USER}\"\n"
        ));
    }

    #[test]
    fn document_root_and_python() {
        let c = render_with(&[
            "--document-root",
            "/srv/my site",
            "--python-home",
            "/venv",
            "--python-path",
            "/a:/b",
            "--python-path",
            "/c",
        ]);
        assert!(c.contains("DocumentRoot \"/srv/my site\"\n<Directory \"/srv/my site\">\n"));
        assert!(c.contains("WSGIPythonHome \"/venv\"\nWSGIPythonPath \"/a:/b:/c\"\n"));
    }

    #[test]
    fn listen_mpm_logging() {
        let c = render_with(&[
            "--host",
            "::1",
            "--port",
            "8443",
            "--mpm",
            "prefork",
            "--log-level",
            "info authnz_wsgi:debug",
            "--log-to-terminal",
        ]);
        assert!(c.contains("Listen [::1]:8443\n"));
        assert!(c.contains("ServerName localhost\n"));
        assert!(c.contains("mod_mpm_prefork.so"));
        assert!(c.contains("LogLevel info authnz_wsgi:debug\n"));
        assert!(c.contains("ErrorLog \"/dev/stderr\"\n"));
        assert!(c.contains("CustomLog \"/dev/stdout\" combined\n"));
    }

    #[test]
    fn paths_are_quoted() {
        let mut s = settings(&["--auth-user-script", "/s/x"]);
        s.options.auth.as_mut().unwrap().user_script = r#"/s/a "b"\c.py"#.into();
        let c = render(&s);
        assert!(c.contains(r#"WSGIAuthUserScript "/s/a \"b\"\\c.py""#));
    }

    const TLS: [&str; 6] = [
        "--https-port",
        "8443",
        "--ssl-certificate-file",
        "/c/cert.pem",
        "--ssl-certificate-key-file",
        "/c/key.pem",
    ];

    fn with_tls(more: &[&str]) -> String {
        let mut list = TLS.to_vec();
        list.extend_from_slice(more);
        render_with(&list)
    }

    #[test]
    fn https_beside_plain_http() {
        let c = with_tls(&["--ssl-certificate-chain-file", "/c/chain.pem"]);
        assert!(c.contains("Listen 127.0.0.1:8000\nListen 127.0.0.1:8443 https\n"));
        assert!(
            c.contains("LoadModule ssl_module") && c.contains("LoadModule socache_shmcb_module")
        );
        assert!(c.contains("SSLSessionCache \"shmcb:/tmp/root/ssl_scache(512000)\"\n"));
        assert!(c.ends_with(
            "<VirtualHost *:8443>\n    SSLEngine on\n    SSLCertificateFile \"/c/cert.pem\"\n    \
             SSLCertificateKeyFile \"/c/key.pem\"\n    SSLCertificateChainFile \"/c/chain.pem\"\n\
             </VirtualHost>\n"
        ));
        assert!(!c.contains("Rewrite") && !c.contains("<VirtualHost *:8000>"));
        // mod_ssl once, also with an https backend.
        let c = with_tls(&["--proxy-to", "https://backend/"]);
        assert_eq!(c.matches("LoadModule ssl_module").count(), 1);
    }

    #[test]
    fn https_only_redirects_the_plain_port() {
        let c = with_tls(&["--https-only", "--proxy-to", "http://127.0.0.1:9000"]);
        assert!(c.contains("LoadModule rewrite_module"));
        let plain = &c[c.find("<VirtualHost *:8000>").unwrap()..];
        assert!(plain.contains("    ProxyPassInherit Off\n"));
        assert!(plain.contains("RewriteRule ^ https://%1:8443%{REQUEST_URI} [R=301,L]\n"));
        assert!(plain.contains("RewriteRule ^ https://127.0.0.1:8443%{REQUEST_URI} [R=301,L]\n"));
        let c = render_with(&[
            "--https-port",
            "443",
            "--ssl-certificate-file",
            "/c",
            "--ssl-certificate-key-file",
            "/k",
            "--https-only",
        ]);
        assert!(c.contains("RewriteRule ^ https://%1%{REQUEST_URI} [R=301,L]\n"));
        assert!(!c.contains("ProxyPassInherit"));
    }

    #[test]
    fn caches_in_the_location() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--shared-cache",
            "redis:127.0.0.1:6379",
            "--auth-cache-timeout",
            "60",
        ]);
        assert!(c.contains("LoadModule authn_socache_module"));
        assert!(c.contains("LoadModule socache_redis_module"));
        assert!(c.contains("AuthnCacheSOCache redis:127.0.0.1:6379\n"));
        assert!(location_block(&c).contains(
            "    AuthBasicProvider socache wsgi\n    WSGIAuthUserScript \"/s/auth.py\"\n    \
             AuthnCacheProvideFor wsgi\n    AuthnCacheContext \"Restricted\"\n    \
             AuthnCacheTimeout 60\n    WSGIAuthCacheTimeout 60\n"
        ));
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--auth-type",
            "Digest",
            "--shared-cache",
            "memcache:h:11211",
        ]);
        assert!(location_block(&c).contains("    AuthDigestProvider socache wsgi\n"));
        assert!(location_block(&c).contains("    AuthnCacheTimeout 300\n"));
        assert!(!c.contains("WSGIAuthCacheTimeout"));
    }

    #[test]
    fn workers_limits_log_format_and_status() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--processes",
            "2",
            "--threads",
            "5",
            "--script-timeout",
            "7",
            "--max-concurrent-calls",
            "3",
            "--access-log-format",
            "%u \"%r\" %>s",
            "--server-status",
            "--proxy-to",
            "http://127.0.0.1:9000",
        ]);
        assert!(c.contains("ThreadsPerChild 5\nMaxRequestWorkers 10\n"));
        assert!(c.contains("WSGIScriptTimeout 7\nWSGIMaxConcurrentCalls 3\n"));
        assert!(c.contains(
            "LogFormat \"%u \\\"%r\\\" %>s\" custom\nCustomLog \"/tmp/root/access_log\" custom\n"
        ));
        assert!(c.contains("LoadModule status_module"));
        // The status page is not proxied, and only this machine sees it.
        assert!(c.contains("ProxyPass /server-status !\nProxyPass / http://127.0.0.1:9000/\n"));
        assert!(c.contains(
            "<Location /server-status>\n    SetHandler server-status\n    Require local\n</Location>\n"
        ));
        let c = render_with(&["--access-log-format", "common"]);
        assert!(c.contains("\" common\nCustomLog \"/tmp/root/access_log\" common\n"));
        assert!(!c.contains("status_module") && !c.contains("ThreadsPerChild"));
    }

    #[test]
    fn auth_daemon_names_the_group_on_every_script() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--auth-group-script",
            "/s/groups.py",
            "--auth-group",
            "admins",
            "--host-access-script",
            "/s/hosts.py",
            "--auth-daemon",
        ]);
        assert!(c.contains(
            "WSGIAuthDaemonProcess express processes=1 threads=15

"
        ));
        // Server level, before the section whose directives name it.
        assert!(c.find("WSGIAuthDaemonProcess").unwrap() < c.find("<Location />").unwrap());
        let l = location_block(&c);
        assert!(l.contains("    WSGIAuthUserScript \"/s/auth.py\" process-group=express\n"));
        assert!(l.contains("    WSGIAuthGroupScript \"/s/groups.py\" process-group=express\n"));
        assert!(l.contains("    WSGIAccessScript \"/s/hosts.py\" process-group=express\n"));
        assert_eq!(c.matches("process-group=").count(), 3);
        assert!(!render_with(&["--auth-user-script", "/s/auth.py"]).contains("process-group"));
        assert!(!render_with(&["--auth-user-script", "/s/auth.py"]).contains("WSGIAuthDaemon"));
    }

    #[test]
    fn auth_daemon_with_every_setting_python_groups_and_caches() {
        let c = render_with(&[
            "--auth-user-script",
            "/s/auth.py",
            "--host-access-script",
            "/s/hosts.py",
            "--application-group",
            "site 1",
            "--auth-daemon-user",
            "nobody",
            "--auth-daemon-group",
            "nogroup",
            "--auth-daemon-processes",
            "2",
            "--auth-daemon-threads",
            "8",
            "--auth-daemon-timeout",
            "20",
            "--python-home",
            "/venv",
            "--python-path",
            "/a:/b",
            "--auth-cache-timeout",
            "60",
        ]);
        // The embedded settings stay; the daemons get the same Python.
        assert!(c.contains(
            "WSGIPythonHome \"/venv\"\nWSGIPythonPath \"/a:/b\"\n\n\
             WSGIAuthDaemonProcess express user=nobody group=nogroup processes=2 threads=8 \
             call-timeout=20 \"python-home=/venv\" \"python-path=/a:/b\"\n\n"
        ));
        let l = location_block(&c);
        assert!(l.contains(
            "    WSGIAuthUserScript \"/s/auth.py\" application-group=\"site 1\" process-group=express\n"
        ));
        assert!(l.contains(
            "    WSGIAccessScript \"/s/hosts.py\" application-group=\"site 1\" process-group=express\n"
        ));
        // The in-process cache stays in front, in Apache's children.
        assert!(l.contains("    WSGIAuthCacheTimeout 60\n"));
    }

    #[test]
    fn not_root_means_no_user_directive() {
        let mut s = settings(&[]);
        s.run_as = None;
        assert!(!render(&s).contains("\nUser "));
    }
}
