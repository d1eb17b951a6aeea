//! Hiding a password in text meant for the error log (SPEC §5: a log line
//! never contains a password). An exception raised inside `check_password`
//! may carry the password in its message (`int(password)`,
//! `KeyError(password)`); before such a message or its traceback is logged,
//! every spelling of the password that Python would print is replaced.

use std::borrow::Cow;

/// What a hidden password is replaced with.
pub const HIDDEN: &str = "[password hidden]";

/// The spellings of one secret to hide, longest first so that a longer
/// spelling (an escaped form) is replaced before a shorter one inside it.
#[derive(Debug, Default)]
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// A redactor for the given spellings; empty ones are ignored.
    pub fn new(forms: impl IntoIterator<Item = String>) -> Redactor {
        let mut forms: Vec<String> = forms.into_iter().filter(|f| !f.is_empty()).collect();
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Redactor { forms }
    }

    /// `text` with every spelling replaced by [`HIDDEN`].
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = Cow::Owned(out.replace(form.as_str(), HIDDEN));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_hidden() {
        let r = Redactor::new(["s3cret".to_owned()]);
        assert_eq!(
            r.apply("invalid literal for int() with base 10: 's3cret' (s3cret)"),
            "invalid literal for int() with base 10: '[password hidden]' ([password hidden])"
        );
    }

    #[test]
    fn text_without_the_secret_is_borrowed() {
        let r = Redactor::new(["s3cret".to_owned()]);
        assert!(matches!(r.apply("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn longer_forms_go_first() {
        // An escaped spelling can contain the plain one: it is hidden whole.
        let r = Redactor::new(["ab".to_owned(), "x\\ab".to_owned()]);
        assert_eq!(
            r.apply("x\\ab and ab"),
            "[password hidden] and [password hidden]"
        );
    }

    #[test]
    fn empty_forms_hide_nothing() {
        let r = Redactor::new([String::new()]);
        assert!(matches!(r.apply("text"), Cow::Borrowed("text")));
    }
}
