//! Arguments of the script directives (docs/directives.md), read as mod_wsgi reads
//! them: the whole argument text (httpd's `RAW_ARGS`), whose first word
//! (httpd's quoting, [`getword_conf`]) is the script path, followed by
//! `name=value` options. An option's name runs up to `=`; its value is the
//! next word with httpd's quoting, so `application-group='%{GLOBAL}'`,
//! `application-group="%{GLOBAL}"` and `application-group="two words"`
//! work as they do under mod_wsgi.
//!
//! The options are `application-group=` and `process-group=` (the
//! `WSGIAuthDaemonProcess` group the script runs in, docs/auth-daemons.md;
//! whether that group exists is checked once the whole configuration is
//! read). For auth scripts mod_wsgi
//! expands `%{GLOBAL}`, `%{SERVER}` and `%{HOST}` only (its
//! `wsgi_server_group`); `%{RESOURCE}` and `%{ENV:NAME}`, which it expands
//! for `WSGIApplicationGroup`, are kept there as the literal group name, so
//! they are kept literally here too: one fixed group that neither the URL
//! nor a request variable (which `SetEnvIf` may take from a request header)
//! can choose. Any other option is a configuration error whose message
//! says what to write instead.

use crate::process_group::ProcessGroup;
use crate::require_words::getword_conf;

/// Which application group (module namespace) a script is loaded into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ApplicationGroup {
    /// `%{GLOBAL}`: the empty group name, as in mod_wsgi.
    Global,
    /// `%{SERVER}`: the virtual host's server name (and port when not 80/443).
    Server,
    /// `%{HOST}`: the request's Host name.
    Host,
    /// A literal name (`%{RESOURCE}` and `%{ENV:NAME}` included).
    Named(String),
}

/// What to write instead of an unusable `application-group=` value.
const GROUP_FORMS: &str = "write %{GLOBAL} (the default), %{SERVER}, %{HOST}, %{RESOURCE}, \
     %{ENV:NAME} or a name of your own without %{";

/// `%{ENV:NAME}` with a non-empty name.
fn is_env_reference(value: &str) -> bool {
    value
        .strip_prefix("%{ENV:")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| !name.is_empty() && !name.contains(['{', '}']))
}

impl ApplicationGroup {
    /// The group an `application-group=` value names.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "" => Err(format!(
                "application-group= needs a value: {GROUP_FORMS}, or leave the option out"
            )),
            "%{GLOBAL}" => Ok(ApplicationGroup::Global),
            "%{SERVER}" => Ok(ApplicationGroup::Server),
            "%{HOST}" => Ok(ApplicationGroup::Host),
            v if v.chars().any(char::is_control) => Err(format!(
                "application-group= contains a control character: {GROUP_FORMS}"
            )),
            "%{RESOURCE}" => Ok(ApplicationGroup::Named(value.to_owned())),
            v if is_env_reference(v) => Ok(ApplicationGroup::Named(v.to_owned())),
            v if v.contains("%{") => Err(format!(
                "application-group={v} is not a form this module knows: {GROUP_FORMS} \
                 (the names in %{{...}} are upper case)"
            )),
            v => Ok(ApplicationGroup::Named(v.to_owned())),
        }
    }
}

/// Parsed options of one script directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    pub application_group: ApplicationGroup,
    /// `process-group=NAME` (a daemon group, or `%{GLOBAL}`: the Apache
    /// child); `None`: not given, `WSGIAuthProcessGroup` decides.
    pub process_group: Option<ProcessGroup>,
}

/// A script directive's path (as written, not yet made absolute) and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptDirective {
    pub path: String,
    pub options: ScriptOptions,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Why an option other than `application-group=` and `process-group=` is
/// refused, and what to write instead.
fn refuse_option(name: &str) -> String {
    match name {
        "pass-authorization" => "unknown option 'pass-authorization': the script gets the \
             credentials as arguments (check_password(environ, user, password)); remove it"
            .to_owned(),
        "callable-object" => "unknown option 'callable-object': the functions called are always \
             check_password, get_realm_hash, groups_for_user and allow_access; remove it"
            .to_owned(),
        n if n.starts_with(['"', '\'']) => format!(
            "unknown option '{n}': quote the value, not the option: \
             application-group=\"VALUE\""
        ),
        n if n.eq_ignore_ascii_case("application-group")
            || n.eq_ignore_ascii_case("application_group") =>
        {
            format!(
                "unknown option '{n}': write application-group=NAME (lower case, with a hyphen)"
            )
        }
        n if n.eq_ignore_ascii_case("process-group") || n.eq_ignore_ascii_case("process_group") => {
            format!("unknown option '{n}': write process-group=NAME (lower case, with a hyphen)")
        }
        n => format!(
            "unknown option '{n}': the options are application-group=NAME and \
             process-group=NAME; remove '{n}='"
        ),
    }
}

/// Parse the whole argument text of `WSGIAuthUserScript`,
/// `WSGIAuthGroupScript` or `WSGIAccessScript`.
pub fn parse_script_directive(raw: &str) -> Result<ScriptDirective, String> {
    let (path, mut rest) = getword_conf(raw.as_bytes());
    let path = text(&path);
    if path.trim().is_empty() {
        return Err("the script path is empty".to_owned());
    }
    let mut options = ScriptOptions {
        application_group: ApplicationGroup::Global,
        process_group: None,
    };
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'=' || is_space(b))
            .unwrap_or(rest.len());
        if end == 0 || rest.get(end) != Some(&b'=') {
            let word_end = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
            return Err(format!(
                "malformed option '{}': options are written name=value, as in \
                 application-group=NAME",
                text(&rest[..word_end])
            ));
        }
        let name = text(&rest[..end]);
        let (value, after) = getword_conf(&rest[end + 1..]);
        match name.as_str() {
            "application-group" => {
                options.application_group = ApplicationGroup::parse(&text(&value))?;
            }
            "process-group" => {
                let group = ProcessGroup::parse(&text(&value))
                    .map_err(|e| format!("process-group= {e}"))?;
                options.process_group = Some(group);
            }
            other => return Err(refuse_option(other)),
        }
        rest = after;
    }
    Ok(ScriptDirective { path, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(raw: &str) -> ApplicationGroup {
        parse_script_directive(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .options
            .application_group
    }

    fn named(name: &str) -> ApplicationGroup {
        ApplicationGroup::Named(name.to_owned())
    }

    #[test]
    fn default_is_global() {
        let parsed = parse_script_directive("/srv/auth.py").unwrap();
        assert_eq!(parsed.path, "/srv/auth.py");
        assert_eq!(parsed.options.application_group, ApplicationGroup::Global);
    }

    #[test]
    fn paths_are_words_with_httpd_quoting() {
        let parsed = parse_script_directive(r#""/srv/my auth.py" application-group=a"#).unwrap();
        assert_eq!(parsed.path, "/srv/my auth.py");
        assert_eq!(parsed.options.application_group, named("a"));
        assert_eq!(parse_script_directive("  'x.py'  ").unwrap().path, "x.py");
    }

    #[test]
    fn groups_parse() {
        assert_eq!(
            group("a.py application-group=%{GLOBAL}"),
            ApplicationGroup::Global
        );
        assert_eq!(
            group("a.py application-group=%{SERVER}"),
            ApplicationGroup::Server
        );
        assert_eq!(
            group("a.py application-group=%{HOST}"),
            ApplicationGroup::Host
        );
        assert_eq!(group("a.py application-group=site1"), named("site1"));
    }

    #[test]
    fn quoted_values_as_mod_wsgi_reads_them() {
        assert_eq!(
            group("a.py application-group='%{GLOBAL}'"),
            ApplicationGroup::Global
        );
        assert_eq!(
            group(r#"a.py application-group="%{GLOBAL}""#),
            ApplicationGroup::Global
        );
        assert_eq!(
            group(r#"a.py application-group="%{SERVER}""#),
            ApplicationGroup::Server
        );
        assert_eq!(
            group(r#"a.py application-group="two words""#),
            named("two words")
        );
        assert_eq!(group(r"a.py application-group='it\'s'"), named("it's"));
        // ap_getword_conf skips white space before the value, as in mod_wsgi.
        assert_eq!(group("a.py application-group= spaced"), named("spaced"));
        // The last option wins.
        assert_eq!(
            group("a.py application-group=a application-group=b"),
            named("b")
        );
    }

    #[test]
    fn resource_and_env_are_literal_names_as_for_mod_wsgi_auth_scripts() {
        assert_eq!(
            group("a.py application-group=%{RESOURCE}"),
            named("%{RESOURCE}")
        );
        assert_eq!(
            group("a.py application-group='%{RESOURCE}'"),
            named("%{RESOURCE}")
        );
        assert_eq!(
            group("a.py application-group=%{ENV:SITE}"),
            named("%{ENV:SITE}")
        );
    }

    #[test]
    fn bad_values_say_what_to_write() {
        for raw in [
            "a.py application-group=",
            "a.py application-group=''",
            "a.py application-group=%{global}",
            "a.py application-group=%{ENV:}",
            "a.py application-group=x-%{SERVER}",
            "a.py application-group='a\tb'",
        ] {
            let err = parse_script_directive(raw).unwrap_err();
            assert!(
                err.contains("%{GLOBAL}") && err.contains("write"),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn bad_options_are_named_with_what_to_do() {
        let err = parse_script_directive("a.py colour=blue").unwrap_err();
        assert!(err.contains("unknown option 'colour'") && err.contains("application-group=NAME"));
        let err = parse_script_directive("a.py Process-Group=x").unwrap_err();
        assert!(err.contains("process-group=NAME"), "{err}");
        for raw in ["a.py process-group=", "a.py process-group='a b'"] {
            let err = parse_script_directive(raw).unwrap_err();
            assert!(err.contains("WSGIAuthDaemonProcess"), "{raw}: {err}");
        }
        let err = parse_script_directive("a.py Application-Group=x").unwrap_err();
        assert!(err.contains("lower case"), "{err}");
        let err = parse_script_directive("a.py pass-authorization=On").unwrap_err();
        assert!(err.contains("remove it"), "{err}");
        let err = parse_script_directive(r#"a.py "application-group=x y""#).unwrap_err();
        assert!(err.contains(r#"application-group="VALUE""#), "{err}");
        let err = parse_script_directive("a.py application-group").unwrap_err();
        assert!(
            err.contains("malformed option 'application-group'"),
            "{err}"
        );
        let err = parse_script_directive("a.py =x").unwrap_err();
        assert!(err.contains("malformed option '=x'"), "{err}");
    }

    #[test]
    fn process_group_names_a_daemon_group() {
        let parsed =
            parse_script_directive("a.py process-group=auth application-group=%{SERVER}").unwrap();
        assert_eq!(
            parsed.options.process_group,
            Some(ProcessGroup::Daemon("auth".to_owned()))
        );
        let embedded = parse_script_directive("a.py process-group='%{GLOBAL}'").unwrap();
        assert_eq!(embedded.options.process_group, Some(ProcessGroup::Embedded));
        assert_eq!(parsed.options.application_group, ApplicationGroup::Server);
        let parsed = parse_script_directive("a.py").unwrap();
        assert_eq!(parsed.options.process_group, None);
    }

    #[test]
    fn empty_paths_are_refused() {
        for raw in ["", "   ", "\"\"", "'  '"] {
            let err = parse_script_directive(raw).unwrap_err();
            assert!(err.contains("script path is empty"), "{raw:?}: {err}");
        }
    }
}
