//! Checks of single option values that need no file system: port, listen
//! host, log level, proxy URL, and the strings that end up inside the
//! generated httpd configuration.
//!
//! httpd substitutes `${NAME}` in every configuration line before parsing it
//! (`ap_resolve_env`), and a control character would end or corrupt a line,
//! so neither may appear in any value we write. `AuthName` and the arguments
//! of `Require wsgi-group` are also parsed as `ap_expr` strings, where `%{`
//! starts a variable and a backslash is an escape: those values get the
//! stricter [`expr_text`] check.

/// A usage error: the message names the option and what is wrong.
pub type Checked<T> = Result<T, String>;

/// A TCP port for `Listen` (`--port`, `--https-port`): 1..=65535.
pub fn port(option: &str, value: &str) -> Checked<u16> {
    match value.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!(
            "{option}: '{value}' is not a port number (1-65535)"
        )),
        Ok(p) => Ok(p),
    }
}

/// A whole number for `option` in `min..=max`.
pub fn number(option: &str, value: &str, min: u32, max: u32) -> Checked<u32> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{option}: '{value}' is not a whole number from {min} to {max}"
        )),
    }
}

/// The address to listen on, in the form `Listen` and URLs want: a host
/// name, an IPv4 address, or an IPv6 address (given bare or in brackets,
/// returned in brackets).
pub fn listen_host(value: &str) -> Checked<String> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '%' | '_');
    if bare.is_empty() || !bare.chars().all(allowed) || bare.starts_with('-') {
        return Err(format!(
            "--host: '{value}' is not a host name or IP address"
        ));
    }
    Ok(if bare.contains(':') {
        format!("[{bare}]")
    } else {
        bare.to_owned()
    })
}

/// A value written into the configuration (paths, user names): no control
/// characters and no `${` (httpd would substitute a variable there).
pub fn config_text(option: &str, value: &str) -> Checked<()> {
    if value.is_empty() {
        return Err(format!("{option}: the value is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{option}: '{}' contains a control character",
            value.escape_debug()
        ));
    }
    if value.contains("${") {
        return Err(format!(
            "{option}: '{value}' contains '${{', which httpd would replace with a variable"
        ));
    }
    Ok(())
}

/// A value that httpd parses as an `ap_expr` string (`AuthName`, the group
/// names of `Require wsgi-group`): as [`config_text`], and no `"`, `\` or `%{`.
pub fn expr_text(option: &str, value: &str) -> Checked<()> {
    config_text(option, value)?;
    if value.contains('"') || value.contains('\\') {
        return Err(format!(
            "{option}: '{value}' contains a quote or backslash, which httpd's expression parser would change"
        ));
    }
    if value.contains("%{") {
        return Err(format!(
            "{option}: '{value}' contains '%{{', which httpd would expand as an expression variable"
        ));
    }
    Ok(())
}

/// A user or group name for `User`/`Group`: a single word.
pub fn account_name(option: &str, value: &str) -> Checked<()> {
    config_text(option, value)?;
    if value
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        return Err(format!("{option}: '{value}' is not a user or group name"));
    }
    Ok(())
}

const LEVELS: [&str; 16] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

/// A `LogLevel` argument list: words that are a level (`info`) or a
/// module-specific level (`authnz_wsgi:debug`).
pub fn log_level(value: &str) -> Checked<String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() {
        return Err("--log-level: the value is empty".to_owned());
    }
    for word in &words {
        let (module, level) = match word.split_once(':') {
            Some((m, l)) => (Some(m), l),
            None => (None, *word),
        };
        let module_ok = module.is_none_or(|m| {
            !m.is_empty() && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !module_ok || !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "--log-level: '{word}' is not a log level (one of {}, optionally as module:level)",
                LEVELS[..8].join(", ") + ", trace1-trace8"
            ));
        }
    }
    Ok(words.join(" "))
}

/// Where `--proxy-to` sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    /// The URL as written after `ProxyPass /`, always ending in `/` so that
    /// `/a/b` maps to `<url>a/b`.
    pub url: String,
    /// Whether the backend is reached over TLS (needs mod_ssl).
    pub tls: bool,
}

/// An `http://` or `https://` URL with a host, as a [`ProxyTarget`].
pub fn proxy_target(value: &str) -> Checked<ProxyTarget> {
    config_text("--proxy-to", value)?;
    let lower = value.to_ascii_lowercase();
    let (tls, rest) = if lower.starts_with("http://") {
        (false, &value["http://".len()..])
    } else if lower.starts_with("https://") {
        (true, &value["https://".len()..])
    } else {
        return Err(format!(
            "--proxy-to: '{value}' is not an http:// or https:// URL"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("--proxy-to: '{value}' has no host"));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(format!(
            "--proxy-to: '{value}' contains white space, a quote or a backslash"
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "--proxy-to: '{value}' has a query or fragment; give the base URL only"
        ));
    }
    let mut url = value.to_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    Ok(ProxyTarget { url, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(port("--port", "8000"), Ok(8000));
        assert_eq!(port("--https-port", "65535"), Ok(65535));
        for bad in ["0", "65536", "-1", "80a", "", " 80"] {
            assert!(
                port("--port", bad)
                    .unwrap_err()
                    .contains("not a port number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(number("--threads", "25", 1, 100), Ok(25));
        assert_eq!(number("--threads", "1", 1, 100), Ok(1));
        for bad in ["0", "101", "-1", "2.5", "", "x"] {
            let e = number("--threads", bad, 1, 100).unwrap_err();
            assert!(
                e.starts_with("--threads: ") && e.contains("from 1 to 100"),
                "{bad}"
            );
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(listen_host("127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(listen_host("localhost").unwrap(), "localhost");
        assert_eq!(listen_host("::1").unwrap(), "[::1]");
        assert_eq!(listen_host("[::1]").unwrap(), "[::1]");
        for bad in ["", "a b", "x\"y", "-x", "[]", "h/p"] {
            assert!(listen_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_text_rejects_line_breaks_and_variables() {
        assert!(config_text("--x", "/a b/c\"d\\e").is_ok());
        assert!(config_text("--x", "a\nb")
            .unwrap_err()
            .contains("control character"));
        assert!(config_text("--x", "/a/${HOME}").unwrap_err().contains("${"));
        assert!(config_text("--x", "").unwrap_err().contains("empty"));
    }

    #[test]
    fn expr_text_rejects_expression_syntax() {
        assert!(expr_text("--auth-group", "g 2").is_ok());
        assert!(expr_text("--auth-group", "50% off").is_ok());
        for bad in ["a\"b", "a\\b", "%{REMOTE_USER}"] {
            assert!(expr_text("--auth-group", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_names() {
        assert!(account_name("--user", "www-data").is_ok());
        assert!(account_name("--user", "#33").is_ok());
        assert!(account_name("--user", "a b").is_err());
    }

    #[test]
    fn log_levels() {
        assert_eq!(log_level("info").unwrap(), "info");
        assert_eq!(
            log_level("warn  authnz_wsgi:debug").unwrap(),
            "warn authnz_wsgi:debug"
        );
        assert_eq!(log_level("TRACE8").unwrap(), "TRACE8");
        for bad in ["", "loud", "x:", ":info", "a-b:info", "trace9"] {
            assert!(log_level(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_targets() {
        let t = proxy_target("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            t,
            ProxyTarget {
                url: "http://127.0.0.1:9000/".into(),
                tls: false
            }
        );
        let t = proxy_target("https://backend.example/app").unwrap();
        assert_eq!(t.url, "https://backend.example/app/");
        assert!(t.tls);
        assert_eq!(proxy_target("HTTP://h/").unwrap().url, "HTTP://h/");
        for bad in [
            "ftp://h/",
            "http://",
            "http:///x",
            "127.0.0.1:9000",
            "http://h/a b",
            "http://h/?q=1",
        ] {
            assert!(proxy_target(bad).is_err(), "{bad}");
        }
    }
}
