//! Cutting what a script writes to `wsgi.errors`, `sys.stdout` or
//! `sys.stderr` into error-log lines (docs/python-contract.md#environ, docs/how-it-runs.md): each `\n` ends a
//! line; text without one waits for the rest of its line, but never grows
//! past [`MAX_LINE_BYTES`]: a longer line is written in pieces of that size
//! (cut on a character boundary), so nothing is lost to httpd's 8 KiB
//! limit on one log entry and an endless write without a newline holds at
//! most one piece in memory. Whoever owns the buffer writes out the last
//! partial line when its call ends ([`LineBuffer::take_partial`]).

/// The most bytes of text one log line carries. httpd formats an entry
/// (time, module, pid, client, our tag, the text, a referer) into 8192
/// bytes; 4096 leaves room for the rest.
pub const MAX_LINE_BYTES: usize = 4096;

/// Text written but not yet logged: at most one partial line.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: String,
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary (at least one character, so progress is certain).
fn piece_end(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 {
        text.chars().next().map_or(0, char::len_utf8)
    } else {
        end
    }
}

impl LineBuffer {
    pub const fn new() -> Self {
        LineBuffer {
            pending: String::new(),
        }
    }

    /// Add `text`; `emit` gets every line it completes (without its `\n`)
    /// and every full-size piece of a line too long to wait for.
    pub fn push(&mut self, text: &str, mut emit: impl FnMut(&str)) {
        let mut rest = text;
        while let Some(newline) = rest.find('\n') {
            let (line, after) = (&rest[..newline], &rest[newline + 1..]);
            if self.pending.is_empty() {
                emit_pieces(line, &mut emit);
            } else {
                self.pending.push_str(line);
                let whole = std::mem::take(&mut self.pending);
                emit_pieces(&whole, &mut emit);
                self.pending = reuse(whole);
            }
            rest = after;
        }
        self.pending.push_str(rest);
        while self.pending.len() >= MAX_LINE_BYTES {
            let end = piece_end(&self.pending, MAX_LINE_BYTES);
            emit(&self.pending[..end]);
            self.pending.drain(..end);
        }
    }

    /// The partial line waiting for its end, if any; the buffer is empty
    /// afterwards.
    pub fn take_partial(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.pending))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// An emptied string keeps its allocation for the next partial line.
fn reuse(mut spent: String) -> String {
    spent.clear();
    spent
}

/// `line` (no newline in it) in pieces of at most [`MAX_LINE_BYTES`].
fn emit_pieces(line: &str, emit: &mut impl FnMut(&str)) {
    let mut rest = line;
    loop {
        let end = piece_end(rest, MAX_LINE_BYTES);
        emit(&rest[..end]);
        rest = &rest[end..];
        if rest.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buffer: &mut LineBuffer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        buffer.push(text, |l| out.push(l.to_owned()));
        out
    }

    #[test]
    fn complete_lines_are_emitted_and_partial_ones_wait() {
        let mut b = LineBuffer::new();
        assert_eq!(lines(&mut b, "one\ntwo\npar"), ["one", "two"]);
        assert_eq!(lines(&mut b, "tial"), Vec::<String>::new());
        assert_eq!(lines(&mut b, " line\n"), ["partial line"]);
        assert!(b.is_empty());
        assert_eq!(lines(&mut b, "last"), Vec::<String>::new());
        assert_eq!(b.take_partial().as_deref(), Some("last"));
        assert_eq!(b.take_partial(), None);
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut b = LineBuffer::new();
        assert_eq!(lines(&mut b, "\n\nx\n"), ["", "", "x"]);
    }

    #[test]
    fn long_lines_come_in_pieces_and_lose_nothing() {
        let mut b = LineBuffer::new();
        let text = "L".repeat(10_000) + "\n";
        let got = lines(&mut b, &text);
        assert_eq!(
            got.iter().map(String::len).collect::<Vec<_>>(),
            [4096, 4096, 1808]
        );
        assert_eq!(got.concat(), "L".repeat(10_000));
    }

    #[test]
    fn partial_text_is_bounded() {
        let mut b = LineBuffer::new();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(lines(&mut b, &"p".repeat(3000)));
        }
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|l| l.len() == MAX_LINE_BYTES));
        assert_eq!(b.take_partial().map(|p| p.len()), Some(9000 - 2 * 4096));
    }

    #[test]
    fn pieces_end_on_character_boundaries() {
        let mut b = LineBuffer::new();
        // 3-byte characters do not divide 4096.
        let text = "€".repeat(3000) + "\n";
        let got = lines(&mut b, &text);
        assert!(got.iter().all(|l| l.len() <= MAX_LINE_BYTES));
        assert_eq!(got.concat(), "€".repeat(3000));
    }
}
