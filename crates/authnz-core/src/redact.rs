//! Keeping a password out of the error log (docs/how-it-runs.md#registration-with-httpd: a log line never
//! contains a password). An exception raised inside `check_password` may
//! carry the password in its message (`int(password)`, `KeyError(password)`).
//!
//! Such a message is withheld whole, not edited: replacing the password
//! where it appears turns the log into an oracle for short passwords (the
//! password `1` would show as `line [password hidden]`, giving it away),
//! while withholding the message tells the reader only that it held the
//! password. The traceback is kept as it is: its lines are code locations
//! and source text, never values of the call.

/// What is logged instead of a message that contains the password.
pub const WITHHELD: &str = "(message not logged: it contains the password)";

/// The spellings of one secret that Python may print.
#[derive(Debug, Default)]
pub struct SecretForms {
    forms: Vec<String>,
}

impl SecretForms {
    /// The given spellings; empty ones are ignored (an empty password
    /// cannot be told apart from no text at all).
    pub fn new(forms: impl IntoIterator<Item = String>) -> SecretForms {
        let mut forms: Vec<String> = forms.into_iter().filter(|f| !f.is_empty()).collect();
        forms.sort();
        forms.dedup();
        SecretForms { forms }
    }

    /// Whether `text` contains any of the spellings.
    pub fn appear_in(&self, text: &str) -> bool {
        self.forms.iter().any(|form| text.contains(form.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_with_the_secret_is_recognised() {
        let s = SecretForms::new(["s3cret".to_owned()]);
        assert!(s.appear_in("invalid literal for int() with base 10: 's3cret'"));
        assert!(!s.appear_in("database unavailable"));
    }

    #[test]
    fn what_is_logged_instead_names_nothing() {
        assert!(!WITHHELD.chars().any(|c| c.is_ascii_digit()));
        let s = SecretForms::new(["1".to_owned()]);
        assert!(s.appear_in("list index 1 out of range"));
    }

    #[test]
    fn every_spelling_counts() {
        let s = SecretForms::new(["p\u{e4}ss".to_owned(), "p\\xe4ss".to_owned()]);
        assert!(s.appear_in("KeyError: b'p\\xe4ss'"));
        assert!(s.appear_in("value p\u{e4}ss"));
        assert!(!s.appear_in("pass"));
    }

    #[test]
    fn empty_forms_match_nothing() {
        let s = SecretForms::new([String::new()]);
        assert!(!s.appear_in("text"));
    }
}
