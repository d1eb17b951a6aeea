//! `--access-log-format`: one of the nicknames httpd's configurations
//! define (`common`, `combined`, `referer`, `agent`), or a `LogFormat`
//! string of its own. The string is written quoted (`quote::conf`): it
//! reaches mod_log_config as given, so `\t`, `\n` and `\"` keep the
//! meaning mod_log_config gives them, and a `"` is logged as itself.

use std::fmt::Write;

use crate::quote::conf;
use crate::values::{self, Checked};

/// The nicknames and their formats (as Debian's apache2.conf defines them).
const NICKNAMES: [(&str, &str); 4] = [
    ("common", r#"%h %l %u %t \"%r\" %>s %b"#),
    (
        "combined",
        r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""#,
    ),
    ("referer", r#"%{Referer}i -> %U"#),
    ("agent", r#"%{User-Agent}i"#),
];

/// The default, as before the option existed.
pub const DEFAULT: &str = "combined";

/// What the access log lines look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// One of [`NICKNAMES`].
    Nickname(&'static str),
    /// A format string of the user's.
    Custom(String),
}

/// The option's value, checked.
pub fn parse(value: Option<&str>) -> Checked<AccessLogFormat> {
    let value = value.unwrap_or(DEFAULT);
    if let Some((name, _)) = NICKNAMES.iter().find(|(n, _)| *n == value) {
        return Ok(AccessLogFormat::Nickname(name));
    }
    values::config_text("--access-log-format", value)?;
    if !value.contains('%') {
        let names: Vec<&str> = NICKNAMES.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "--access-log-format: '{value}' is neither a nickname ({}) nor a format with \
             %-directives such as \"%h %u %t \\\"%r\\\" %>s\"",
            names.join(", ")
        ));
    }
    Ok(AccessLogFormat::Custom(value.to_owned()))
}

/// The `LogFormat` line and the nickname `CustomLog` names.
pub fn render(out: &mut String, format: &AccessLogFormat) -> &'static str {
    match format {
        AccessLogFormat::Nickname(name) => {
            let (_, text) = NICKNAMES.iter().find(|(n, _)| n == name).unwrap();
            let _ = writeln!(out, "LogFormat \"{text}\" {name}");
            name
        }
        AccessLogFormat::Custom(text) => {
            let _ = writeln!(out, "LogFormat {} custom", conf(text));
            "custom"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::tests_support::{err, run};

    #[test]
    fn nicknames_and_strings() {
        assert_eq!(
            run(&[]).unwrap().access_log_format,
            AccessLogFormat::Nickname("combined")
        );
        assert_eq!(
            parse(Some("common")),
            Ok(AccessLogFormat::Nickname("common"))
        );
        assert_eq!(
            parse(Some(r#"%h "%r" %>s\t%D"#)),
            Ok(AccessLogFormat::Custom(r#"%h "%r" %>s\t%D"#.into()))
        );
        let mut out = String::new();
        assert_eq!(render(&mut out, &parse(Some("common")).unwrap()), "common");
        assert_eq!(out, "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common\n");
        let mut out = String::new();
        let custom = parse(Some(r#"%u "%r" \t"#)).unwrap();
        assert_eq!(render(&mut out, &custom), "custom");
        assert_eq!(out, "LogFormat \"%u \\\"%r\\\" \\\\t\" custom\n");
    }

    #[test]
    fn bad_formats() {
        assert!(err(&["--access-log-format", "fancy"])
            .contains("is neither a nickname (common, combined, referer, agent)"));
        assert!(err(&["--access-log-format", "%h\n%u"]).contains("control character"));
        assert!(err(&["--access-log-format", "%{${X}}e"]).contains("${"));
        assert!(err(&["--access-log-format="]).contains("empty"));
    }
}
