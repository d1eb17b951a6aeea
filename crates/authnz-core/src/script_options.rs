//! Options of the script directives (SPEC §2): `application-group=NAME`,
//! with `%{GLOBAL}`, `%{SERVER}` and `%{HOST}` as in mod_wsgi. Any other
//! option, `process-group=` included, is a configuration error.

/// Which application group (module namespace) a script is loaded into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ApplicationGroup {
    /// `%{GLOBAL}`: the empty group name, as in mod_wsgi.
    Global,
    /// `%{SERVER}`: the virtual host's server name (and port when not 80/443).
    Server,
    /// `%{HOST}`: the request's Host name.
    Host,
    /// A literal name.
    Named(String),
}

impl ApplicationGroup {
    fn parse(value: &str) -> Result<Self, String> {
        match value {
            "" => Err("application-group= needs a value".to_owned()),
            "%{GLOBAL}" => Ok(ApplicationGroup::Global),
            "%{SERVER}" => Ok(ApplicationGroup::Server),
            "%{HOST}" => Ok(ApplicationGroup::Host),
            v if v.contains("%{") => Err(format!(
                "application-group={v}: only %{{GLOBAL}}, %{{SERVER}} and %{{HOST}} may be expanded"
            )),
            v if v.chars().any(char::is_control) => {
                Err("application-group= contains a control character".to_owned())
            }
            v => Ok(ApplicationGroup::Named(v.to_owned())),
        }
    }
}

/// Parsed options of one script directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    pub application_group: ApplicationGroup,
}

/// Parse `key=value` options given after the script path.
pub fn parse_script_options<'a>(
    options: impl IntoIterator<Item = &'a str>,
) -> Result<ScriptOptions, String> {
    let mut parsed = ScriptOptions {
        application_group: ApplicationGroup::Global,
    };
    for option in options {
        let Some((key, value)) = option.split_once('=') else {
            return Err(format!("malformed option '{option}': expected key=value"));
        };
        match key {
            "application-group" => parsed.application_group = ApplicationGroup::parse(value)?,
            "process-group" => {
                return Err(format!(
                    "option '{key}' is not supported: mod_authnz_wsgi runs scripts in the Apache child \
                     itself (there are no daemon process groups)"
                ))
            }
            _ => return Err(format!("unknown option '{key}' (only application-group= is supported)")),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_global() {
        let opts = parse_script_options([]).unwrap();
        assert_eq!(opts.application_group, ApplicationGroup::Global);
    }

    #[test]
    fn groups_parse() {
        let g = |s| parse_script_options([s]).unwrap().application_group;
        assert_eq!(g("application-group=%{GLOBAL}"), ApplicationGroup::Global);
        assert_eq!(g("application-group=%{SERVER}"), ApplicationGroup::Server);
        assert_eq!(g("application-group=%{HOST}"), ApplicationGroup::Host);
        assert_eq!(
            g("application-group=site1"),
            ApplicationGroup::Named("site1".into())
        );
    }

    #[test]
    fn bad_options_are_named() {
        let err = parse_script_options(["process-group=x"]).unwrap_err();
        assert!(err.contains("process-group"), "{err}");
        let err = parse_script_options(["colour=blue"]).unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let err = parse_script_options(["application-group"]).unwrap_err();
        assert!(err.contains("malformed"), "{err}");
        let err = parse_script_options(["application-group="]).unwrap_err();
        assert!(err.contains("needs a value"), "{err}");
        let err = parse_script_options(["application-group=%{ENV:X}"]).unwrap_err();
        assert!(err.contains("%{ENV:X}"), "{err}");
    }
}
