//! Where a script runs (docs/auth-daemons.md): in the Apache child
//! (embedded) or in an auth daemon group. Written as a script directive's
//! `process-group=NAME` or as `WSGIAuthProcessGroup NAME`; `%{GLOBAL}`
//! means embedded, as mod_wsgi's `WSGIProcessGroup %{GLOBAL}` does (a
//! daemon group's name cannot contain `%`, `{` or `}`).
//!
//! Also the name of the setting a daemon call's time limit came from,
//! and how the timeout lines of a daemon call are made to name it.

use std::borrow::Cow;

use crate::log_tags::SCRIPT_TIMEOUT;

/// The value that means "in the Apache child".
pub const EMBEDDED: &str = "%{GLOBAL}";

/// A process group as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessGroup {
    /// `%{GLOBAL}`: the Apache child that serves the request.
    Embedded,
    /// The name of a `WSGIAuthDaemonProcess`.
    Daemon(String),
}

impl ProcessGroup {
    /// Read a value: `%{GLOBAL}` or one word naming a daemon group (checked
    /// against the defined groups once the whole configuration is read).
    pub fn parse(value: &str) -> Result<ProcessGroup, String> {
        if value == EMBEDDED {
            return Ok(ProcessGroup::Embedded);
        }
        if value.is_empty() || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!(
                "needs the name of a WSGIAuthDaemonProcess (one word), or {EMBEDDED} for the \
                 Apache child"
            ));
        }
        if value.contains("%{") {
            return Err(format!(
                "{value} is not a form this module knows: write the name of a \
                 WSGIAuthDaemonProcess, or {EMBEDDED} for the Apache child"
            ));
        }
        Ok(ProcessGroup::Daemon(value.to_owned()))
    }

    /// The daemon group's name; `None` when embedded.
    pub fn daemon(&self) -> Option<&str> {
        match self {
            ProcessGroup::Embedded => None,
            ProcessGroup::Daemon(name) => Some(name),
        }
    }
}

/// Where a script runs: its directive's own `process-group=` wins; without
/// it, the `WSGIAuthProcessGroup` in force where the request is; without
/// either, embedded. The daemon group's name, or `None`.
pub fn effective<'a>(
    own: Option<&'a ProcessGroup>,
    scope: Option<&'a ProcessGroup>,
) -> Option<&'a str> {
    own.or(scope).and_then(ProcessGroup::daemon)
}

/// The setting that gives a location's calls their limit by default.
pub const SCRIPT_TIMEOUT_SETTING: &str = "WSGIScriptTimeout";

/// The setting that gives daemon group `group`'s calls their limit when
/// its `call-timeout=` is set.
pub fn call_timeout_setting(group: &str) -> String {
    format!("call-timeout= of WSGIAuthDaemonProcess {group}")
}

/// The text of a line a daemon wrote for a call (tag `tag`) as the child
/// writes it: a timeout line (`SCRIPT_TIMEOUT`) names `setting`, the one the
/// child took the call's limit from; every other line is kept as it is.
pub fn replayed_text<'a>(tag: u16, text: &'a str, setting: &str) -> Cow<'a, str> {
    if tag == SCRIPT_TIMEOUT {
        name_limit_setting(text, setting)
    } else {
        Cow::Borrowed(text)
    }
}

/// A timeout line a daemon wrote (it names [`SCRIPT_TIMEOUT_SETTING`], the
/// daemon cannot know better) made to name `setting`: the first mention
/// followed by ` (` (the limit in seconds) is replaced; a line without one
/// is kept as it is.
fn name_limit_setting<'a>(text: &'a str, setting: &str) -> Cow<'a, str> {
    let needle = "WSGIScriptTimeout (";
    if setting == SCRIPT_TIMEOUT_SETTING {
        return Cow::Borrowed(text);
    }
    match text.find(needle) {
        Some(at) => {
            let mut renamed = String::with_capacity(text.len() + setting.len());
            renamed.push_str(&text[..at]);
            renamed.push_str(setting);
            renamed.push_str(&text[at + SCRIPT_TIMEOUT_SETTING.len()..]);
            Cow::Owned(renamed)
        }
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_is_embedded_and_names_are_daemons() {
        assert_eq!(ProcessGroup::parse("%{GLOBAL}"), Ok(ProcessGroup::Embedded));
        assert_eq!(
            ProcessGroup::parse("auth"),
            Ok(ProcessGroup::Daemon("auth".to_owned()))
        );
        assert_eq!(ProcessGroup::parse("auth").unwrap().daemon(), Some("auth"));
        assert_eq!(ProcessGroup::Embedded.daemon(), None);
    }

    #[test]
    fn bad_values_say_what_to_write() {
        for bad in ["", "a b", "a\tb", "%{SERVER}", "%{global}"] {
            let err = ProcessGroup::parse(bad).unwrap_err();
            assert!(err.contains("%{GLOBAL}"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_directive_option_wins_over_the_scope() {
        let auth = ProcessGroup::Daemon("auth".to_owned());
        let other = ProcessGroup::Daemon("other".to_owned());
        let embedded = ProcessGroup::Embedded;
        assert_eq!(effective(None, None), None);
        assert_eq!(effective(None, Some(&auth)), Some("auth"));
        assert_eq!(effective(Some(&other), Some(&auth)), Some("other"));
        assert_eq!(effective(Some(&embedded), Some(&auth)), None);
        assert_eq!(effective(Some(&auth), Some(&embedded)), Some("auth"));
        assert_eq!(effective(None, Some(&embedded)), None);
    }

    #[test]
    fn timeout_lines_name_the_setting_the_limit_came_from() {
        let interrupted = "check_password() in '/s.py' exceeded WSGIScriptTimeout (1s) and was \
                           interrupted\nTraceback ... WSGIScriptTimeout (1s)";
        let renamed = name_limit_setting(interrupted, &call_timeout_setting("auth"));
        assert_eq!(
            renamed,
            "check_password() in '/s.py' exceeded call-timeout= of WSGIAuthDaemonProcess auth \
             (1s) and was interrupted\nTraceback ... WSGIScriptTimeout (1s)"
        );
        let late = "f() in '/s.py' returned after WSGIScriptTimeout (2s); its answer is refused";
        assert_eq!(
            name_limit_setting(late, &call_timeout_setting("a")),
            "f() in '/s.py' returned after call-timeout= of WSGIAuthDaemonProcess a (2s); its \
             answer is refused"
        );
        // The location's own setting: unchanged.
        assert!(matches!(
            name_limit_setting(interrupted, SCRIPT_TIMEOUT_SETTING),
            Cow::Borrowed(_)
        ));
        // Nothing to rename.
        assert_eq!(name_limit_setting("no limit here", "x"), "no limit here");
    }

    #[test]
    fn only_timeout_lines_are_renamed() {
        let text = "f() in '/s.py' exceeded WSGIScriptTimeout (1s) and was interrupted";
        let setting = call_timeout_setting("auth");
        assert!(replayed_text(SCRIPT_TIMEOUT, text, &setting).contains("call-timeout= of"));
        assert_eq!(replayed_text(SCRIPT_TIMEOUT + 1, text, &setting), text);
    }
}
