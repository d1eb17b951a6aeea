//! HTTPS with mod_ssl: `--https-port`, `--ssl-certificate-file`,
//! `--ssl-certificate-key-file`, `--ssl-certificate-chain-file` and
//! `--https-only` — the rules between them, the configuration they write,
//! and the start-up warning for Basic passwords sent over plain HTTP to an
//! address other machines can reach.
//!
//! The protected `<Location />`, the content and the Python settings stay
//! in the main server; both ports inherit them. The HTTPS port gets a
//! `<VirtualHost *:PORT>` with `SSLEngine on`. With `--https-only` the plain
//! port gets a virtual host of its own that answers every request with a
//! redirect to the same path on HTTPS: mod_rewrite in server context runs
//! in the translate-name phase, before authentication, so no password is
//! asked for (or sent) over plain HTTP, and `ProxyPassInherit Off` keeps
//! the main server's `ProxyPass` (whose translate-name hook would run
//! first) out of that virtual host.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::options::{flag, path, single, AuthType, Content, Options, Raw};
use crate::quote::{conf, conf_path};
use crate::resolve::Settings;
use crate::values::{self, Checked};

/// The HTTPS settings (present when `--https-port` is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub port: u16,
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Intermediate certificates (`SSLCertificateChainFile`).
    pub chain: Option<PathBuf>,
    /// The plain port only redirects to HTTPS.
    pub https_only: bool,
}

/// The TLS options, or `None` without `--https-port`.
pub fn parse(raw: &Raw, plain_port: u16) -> Checked<Option<Tls>> {
    let port = single(raw, "https-port")
        .map(|v| values::port("--https-port", v))
        .transpose()?;
    let certificate = path(raw, "ssl-certificate-file")?;
    let key = path(raw, "ssl-certificate-key-file")?;
    let chain = path(raw, "ssl-certificate-chain-file")?;
    let https_only = flag(raw, "https-only");
    let Some(port) = port else {
        for name in [
            "ssl-certificate-file",
            "ssl-certificate-key-file",
            "ssl-certificate-chain-file",
            "https-only",
        ] {
            if flag(raw, name) {
                return Err(format!(
                    "--{name} needs --https-port (the port that serves HTTPS)"
                ));
            }
        }
        return Ok(None);
    };
    if port == plain_port {
        return Err(format!(
            "--https-port: {port} is also --port (the plain HTTP port); give two different ports"
        ));
    }
    let (certificate, key) = match (certificate, key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => {
            return Err(
                "--https-port needs --ssl-certificate-file (the server's certificate, \
                 PEM) and --ssl-certificate-key-file (its private key)"
                    .to_owned(),
            )
        }
        (Some(_), None) => {
            return Err(
                "--ssl-certificate-file needs --ssl-certificate-key-file (the certificate's \
                 private key, PEM)"
                    .to_owned(),
            )
        }
        (None, Some(_)) => {
            return Err(
                "--ssl-certificate-key-file needs --ssl-certificate-file (the certificate \
                 that goes with the key, PEM)"
                    .to_owned(),
            )
        }
    };
    Ok(Some(Tls {
        port,
        certificate,
        key,
        chain,
        https_only,
    }))
}

/// Whether `host` (in `Listen` form) is reachable from this machine only.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// The warning printed at start when Basic passwords would cross the
/// network in clear: Basic authentication served on plain HTTP (not only
/// redirected by `--https-only`) at an address other machines can reach.
pub fn plain_basic_warning(o: &Options) -> Option<String> {
    let basic = o
        .auth
        .as_ref()
        .is_some_and(|a| a.auth_type == AuthType::Basic);
    let plain_serves = !o.tls.as_ref().is_some_and(|t| t.https_only);
    if !basic || !plain_serves || is_loopback(&o.host) {
        return None;
    }
    Some(format!(
        "Basic authentication over plain HTTP on {}:{}: every password crosses the network \
         readable by anyone on the way. Serve HTTPS (--https-port with --ssl-certificate-file \
         and --ssl-certificate-key-file) and add --https-only, or listen on 127.0.0.1 behind \
         a proxy that does",
        o.host, o.port
    ))
}

/// The modules TLS needs: mod_ssl, shmcb for its session cache, and
/// mod_rewrite for `--https-only`.
pub fn modules(tls: &Tls) -> Vec<&'static str> {
    let mut list = vec!["ssl", "socache_shmcb"];
    if tls.https_only {
        list.push("rewrite");
    }
    list
}

/// The `Listen` line of the HTTPS port.
pub fn listen(out: &mut String, o: &Options) {
    if let Some(tls) = &o.tls {
        let _ = writeln!(out, "Listen {}:{} https", o.host, tls.port);
    }
}

/// Server-wide mod_ssl settings: a session cache in the server root (so
/// clients can resume sessions, and mod_ssl does not warn at start).
pub fn server_settings(out: &mut String, s: &Settings) {
    if s.options.tls.is_none() {
        return;
    }
    let cache = format!(
        "shmcb:{}(512000)",
        s.server_root.join("ssl_scache").to_string_lossy()
    );
    let _ = write!(
        out,
        "SSLSessionCache {}\nSSLSessionCacheTimeout 300\n\n",
        conf(&cache)
    );
}

/// The HTTPS virtual host, and with `--https-only` the plain port's
/// redirecting one.
pub fn virtual_hosts(out: &mut String, s: &Settings, server_name: &str) {
    let o = &s.options;
    let Some(tls) = &o.tls else {
        return;
    };
    let _ = write!(
        out,
        "\n<VirtualHost *:{port}>\n    SSLEngine on\n    SSLCertificateFile {cert}\n    SSLCertificateKeyFile {key}\n",
        port = tls.port,
        cert = conf_path(&tls.certificate),
        key = conf_path(&tls.key),
    );
    if let Some(chain) = &tls.chain {
        let _ = writeln!(out, "    SSLCertificateChainFile {}", conf_path(chain));
    }
    out.push_str("</VirtualHost>\n");
    if !tls.https_only {
        return;
    }
    let port = if tls.port == 443 {
        String::new()
    } else {
        format!(":{}", tls.port)
    };
    let _ = write!(out, "\n<VirtualHost *:{}>\n", o.port);
    if matches!(o.content, Content::ProxyTo(_)) {
        out.push_str("    ProxyPassInherit Off\n");
    }
    // The host the client asked for (without its port), else ServerName
    // for a request without a usable Host header: never anything served.
    let _ = write!(
        out,
        "    RewriteEngine On\n    \
         RewriteCond %{{HTTP_HOST}} ^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+)(:[0-9]+)?$\n    \
         RewriteRule ^ https://%1{port}%{{REQUEST_URI}} [R=301,L]\n    \
         RewriteRule ^ https://{server_name}{port}%{{REQUEST_URI}} [R=301,L]\n\
         </VirtualHost>\n",
    );
}

/// The URL a browser would use for HTTPS.
pub fn url(host: &str, tls: &Tls) -> String {
    format!("https://{host}:{}/", tls.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests_support::{err, run};

    const CERT: [&str; 6] = [
        "--https-port",
        "8443",
        "--ssl-certificate-file",
        "c.pem",
        "--ssl-certificate-key-file",
        "k.pem",
    ];

    fn with_cert(more: &[&str]) -> Vec<&'static str> {
        let mut list = CERT.to_vec();
        for m in more {
            list.push(Box::leak(m.to_string().into_boxed_str()));
        }
        list
    }

    #[test]
    fn https_options() {
        assert_eq!(run(&[]).unwrap().tls, None);
        let t = run(&CERT).unwrap().tls.unwrap();
        assert_eq!(
            t,
            Tls {
                port: 8443,
                certificate: "c.pem".into(),
                key: "k.pem".into(),
                chain: None,
                https_only: false
            }
        );
        let t = run(&with_cert(&[
            "--ssl-certificate-chain-file",
            "ch.pem",
            "--https-only",
        ]))
        .unwrap()
        .tls
        .unwrap();
        assert_eq!(t.chain, Some("ch.pem".into()));
        assert!(t.https_only);
    }

    #[test]
    fn https_rules() {
        for name in [
            "--ssl-certificate-file",
            "--ssl-certificate-key-file",
            "--ssl-certificate-chain-file",
        ] {
            assert_eq!(
                err(&[name, "x.pem"]),
                format!("{name} needs --https-port (the port that serves HTTPS)")
            );
        }
        assert!(err(&["--https-only"]).starts_with("--https-only needs --https-port"));
        assert!(
            err(&["--https-port", "8443"]).contains("--https-port needs --ssl-certificate-file")
        );
        assert!(
            err(&["--https-port", "8443", "--ssl-certificate-file", "c.pem"])
                .starts_with("--ssl-certificate-file needs --ssl-certificate-key-file")
        );
        assert!(err(&[
            "--https-port",
            "8443",
            "--ssl-certificate-key-file",
            "k.pem"
        ])
        .starts_with("--ssl-certificate-key-file needs --ssl-certificate-file"));
        assert!(err(&with_cert(&["--port", "8443"])).contains("give two different ports"));
        assert!(err(&["--https-port", "0"]).starts_with("--https-port: '0' is not a port"));
        assert!(err(&with_cert(&["--ssl-certificate-chain-file", "${X}"])).contains("${"));
    }

    #[test]
    fn loopback_addresses() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "[::]", "192.168.1.5", "example.com", "[fe80::1]"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn warning_for_basic_over_plain_http_beyond_this_machine() {
        let warn = |list: &[&str]| plain_basic_warning(&run(list).unwrap());
        let w = warn(&["--host", "0.0.0.0", "--auth-user-script", "u.py"]).unwrap();
        assert!(w.starts_with("Basic authentication over plain HTTP on 0.0.0.0:8000"));
        assert!(w.contains("--https-only"));
        // Also when HTTPS is served beside a plain port that still serves.
        assert!(warn(&with_cert(&[
            "--host",
            "10.0.0.1",
            "--auth-user-script",
            "u.py"
        ]))
        .is_some());
        assert_eq!(warn(&["--auth-user-script", "u.py"]), None);
        assert_eq!(warn(&["--host", "::1", "--auth-user-script", "u.py"]), None);
        assert_eq!(warn(&["--host", "0.0.0.0"]), None);
        assert_eq!(
            warn(&[
                "--host",
                "0.0.0.0",
                "--auth-user-script",
                "u.py",
                "--auth-type",
                "Digest"
            ]),
            None
        );
        assert_eq!(
            warn(&with_cert(&[
                "--host",
                "0.0.0.0",
                "--auth-user-script",
                "u.py",
                "--https-only"
            ])),
            None
        );
    }
}
