//! Splitting an evaluated `Require wsgi-group ...` argument string into
//! group names with httpd's configuration quoting (`ap_getword_conf`):
//! words are separated by white space; a word may be quoted with `"` or `'`;
//! inside quotes a backslash escapes the quote character or a backslash;
//! outside quotes `\\` is one backslash. An unterminated quote runs to the end.
//! [`getword_conf`] takes one word at a time, for parsers that read a line
//! word by word as httpd's directive handlers do.

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

/// The next word of `line` as httpd's `ap_getword_conf` takes it, and the
/// rest of the line after the white space that follows the word. At the end
/// of the line the word is empty; so is a quoted empty word (`""`).
pub fn getword_conf(line: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut i = 0;
    while i < line.len() && is_space(line[i]) {
        i += 1;
    }
    if i >= line.len() {
        return (Vec::new(), &line[line.len()..]);
    }
    let quote = matches!(line[i], b'"' | b'\'').then_some(line[i]);
    let (word, mut end) = if let Some(q) = quote {
        let start = i + 1;
        let mut end = start;
        while end < line.len() && line[end] != q {
            let escaped =
                line[end] == b'\\' && line.get(end + 1).is_some_and(|&n| n == q || n == b'\\');
            end += if escaped { 2 } else { 1 };
        }
        let end = end.min(line.len());
        let word = unescape(&line[start..end], quote);
        // Past the closing quote, when there is one.
        (word, (end + 1).min(line.len()))
    } else {
        let start = i;
        while i < line.len() && !is_space(line[i]) {
            i += 1;
        }
        (unescape(&line[start..i], None), i)
    };
    while end < line.len() && is_space(line[end]) {
        end += 1;
    }
    (word, &line[end..])
}

/// The words of `line`, as byte strings.
pub fn require_words(line: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut rest = line;
    while !rest.iter().all(|&b| is_space(b)) {
        let (word, after) = getword_conf(rest);
        words.push(word);
        rest = after;
    }
    words
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

    #[test]
    fn one_word_at_a_time() {
        let (word, rest) = getword_conf(br#"  "/srv/a b.py"  application-group='x y'"#);
        assert_eq!(word, b"/srv/a b.py");
        assert_eq!(rest, b"application-group='x y'");
        let (word, rest) = getword_conf(b"'x y' z");
        assert_eq!((word.as_slice(), rest), (&b"x y"[..], &b"z"[..]));
        let (word, rest) = getword_conf(br#""a"b"#);
        assert_eq!((word.as_slice(), rest), (&b"a"[..], &b"b"[..]));
        let (word, rest) = getword_conf(b"   ");
        assert!(word.is_empty() && rest.is_empty());
        let (word, rest) = getword_conf(b"'open");
        assert_eq!((word.as_slice(), rest), (&b"open"[..], &b""[..]));
    }
}
