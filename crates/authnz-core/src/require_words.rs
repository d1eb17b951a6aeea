//! Splitting an evaluated `Require wsgi-group ...` argument string into
//! group names with httpd's configuration quoting (`ap_getword_conf`):
//! words are separated by white space; a word may be quoted with `"` or `'`;
//! inside quotes a backslash escapes the quote character or a backslash;
//! outside quotes `\\` is one backslash. An unterminated quote runs to the end.

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Copy `raw`, turning `\\` (and `\<quote>` when quoted) into one character.
fn unescape(raw: &[u8], quote: Option<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let next = raw.get(i + 1).copied();
        if raw[i] == b'\\' && (next == Some(b'\\') || (quote.is_some() && next == quote)) {
            out.push(raw[i + 1]);
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// The words of `line`, as byte strings.
pub fn require_words(line: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return words;
        }
        let quote = matches!(line[i], b'"' | b'\'').then_some(line[i]);
        if let Some(q) = quote {
            let start = i + 1;
            let mut end = start;
            while end < line.len() && line[end] != q {
                let escaped =
                    line[end] == b'\\' && line.get(end + 1).is_some_and(|&n| n == q || n == b'\\');
                end += if escaped { 2 } else { 1 };
            }
            let end = end.min(line.len());
            words.push(unescape(&line[start..end], quote));
            i = end + 1;
        } else {
            let start = i;
            while i < line.len() && !is_space(line[i]) {
                i += 1;
            }
            words.push(unescape(&line[start..i], None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        require_words(line.as_bytes())
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn plain_words() {
        assert_eq!(words("staff  admins\tops"), ["staff", "admins", "ops"]);
        assert!(words("   ").is_empty());
        assert!(words("").is_empty());
    }

    #[test]
    fn quoted_words() {
        assert_eq!(words(r#""g 2" 'it''s' x"#), ["g 2", "it", "s", "x"]);
        assert_eq!(words(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(words(r"'a\'b'"), ["a'b"]);
        assert_eq!(words(r#""back\\slash""#), [r"back\slash"]);
        assert_eq!(words(r#""keep\n""#), [r"keep\n"]);
        assert_eq!(words(r#""unterminated group"#), ["unterminated group"]);
    }

    #[test]
    fn unquoted_backslashes() {
        assert_eq!(words(r"a\\b c\d"), [r"a\b", r"c\d"]);
        assert_eq!(words("trailing\\"), ["trailing\\"]);
    }
}
