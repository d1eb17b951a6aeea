//! Quoting for the two languages we write: httpd configuration arguments
//! (`ap_getword_conf`: inside `"..."`, a backslash escapes `"` or `\`) and
//! POSIX shell words (for the apachectl script).
//!
//! Values reach here already checked (`values.rs`): no control characters
//! and no `${`, neither of which quoting could protect.

use std::path::Path;

/// `value` as one double-quoted httpd configuration argument.
pub fn conf(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A path as one double-quoted httpd configuration argument.
pub fn conf_path(path: &Path) -> String {
    conf(&path.to_string_lossy())
}

/// `value` as one single-quoted shell word.
pub fn shell(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_quoting() {
        assert_eq!(conf("/srv/auth.py"), r#""/srv/auth.py""#);
        assert_eq!(conf("/a b/c"), r#""/a b/c""#);
        assert_eq!(conf(r#"/a"b\c"#), r#""/a\"b\\c""#);
        assert_eq!(conf_path(Path::new("/x y")), "\"/x y\"");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell("/usr/sbin/apache2"), "'/usr/sbin/apache2'");
        assert_eq!(shell("it's"), r"'it'\''s'");
    }
}
