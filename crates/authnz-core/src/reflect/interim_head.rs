//! The heads of a proxied backend's response, read line by line as
//! mod_proxy_http reads them (docs/identity-reflection.md): which lines of an interim (`1xx`)
//! head carry an identity header and must not be relayed, and what a
//! `101 Switching Protocols` head said about the user.
//!
//! mod_proxy_http sends interim heads with `ap_send_interim_response`,
//! outside every output filter, so an identity header in one has to be taken
//! out before mod_proxy_http parses it. Final heads are left alone: their
//! headers go through the output filters like any response's.

/// What to do with one line of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineVerdict {
    /// Hand the line to mod_proxy_http.
    Pass,
    /// Swallow the line: it belongs to an identity header of an interim head.
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a status line (stray empty lines are allowed there).
    AwaitStatus,
    /// Inside the header lines of a head with this status.
    Headers(u16),
    /// After the final (or the `101`) head: nothing more to look at.
    Done,
}

/// Follows the heads of one backend response. Give it every line, whole
/// (with its line end), in order.
#[derive(Debug)]
pub struct InterimHeadScanner {
    names: Vec<String>,
    state: State,
    /// The status of the head read last.
    last_status: Option<u16>,
    /// The last header line was dropped (for its obs-fold continuations).
    last_dropped: bool,
    /// Values of the configured names in a `101` head, as (index into
    /// `names`, raw value after the colon), in order.
    switching: Vec<(usize, Vec<u8>)>,
}

impl InterimHeadScanner {
    /// A scanner for the response header names `names` (ASCII
    /// case-insensitive, as APR tables compare them).
    pub fn new(names: &[&str]) -> Self {
        InterimHeadScanner {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            state: State::AwaitStatus,
            last_status: None,
            last_dropped: false,
            switching: Vec::new(),
        }
    }

    /// Whether the final head (or a `101` head) has ended: the rest of the
    /// response is a body or a tunnel, never a head.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether a `101 Switching Protocols` head was read to its end.
    pub fn switched(&self) -> bool {
        self.is_done() && self.last_status == Some(101)
    }

    /// The values each configured name had in the `101` head (one list per
    /// name, in the order given to [`InterimHeadScanner::new`]), trimmed.
    pub fn switching_values(&self) -> Vec<Vec<&[u8]>> {
        (0..self.names.len())
            .map(|i| {
                self.switching
                    .iter()
                    .filter(|(name, _)| *name == i)
                    .map(|(_, value)| trim(value))
                    .collect()
            })
            .collect()
    }

    /// The verdict on one whole line.
    pub fn line(&mut self, line: &[u8]) -> LineVerdict {
        match self.state {
            State::Done => LineVerdict::Pass,
            State::AwaitStatus => {
                if !is_blank(line) {
                    self.last_status = status_of(line);
                    self.state = match self.last_status {
                        Some(status) => State::Headers(status),
                        // HTTP/0.9 or garbage: mod_proxy_http's business.
                        None => State::Done,
                    };
                }
                LineVerdict::Pass
            }
            State::Headers(status) => self.header_line(status, line),
        }
    }

    fn header_line(&mut self, status: u16, line: &[u8]) -> LineVerdict {
        let interim = (100..200).contains(&status);
        if is_blank(line) {
            self.last_dropped = false;
            self.state = if interim && status != 101 {
                State::AwaitStatus
            } else {
                State::Done
            };
            return LineVerdict::Pass;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // obs-fold: a continuation of the previous header line.
            if !self.last_dropped {
                return LineVerdict::Pass;
            }
            if status == 101 {
                if let Some((_, value)) = self.switching.last_mut() {
                    value.extend_from_slice(line);
                }
            }
            return LineVerdict::Drop;
        }
        let colon = line.iter().position(|&b| b == b':');
        let index = colon.and_then(|colon| {
            let name = trim(&line[..colon]);
            self.names
                .iter()
                .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
        });
        self.last_dropped = false;
        match (interim, colon, index) {
            (true, Some(colon), Some(index)) => {
                self.last_dropped = true;
                if status == 101 {
                    self.switching.push((index, line[colon + 1..].to_vec()));
                }
                LineVerdict::Drop
            }
            _ => LineVerdict::Pass,
        }
    }
}

/// `HTTP/1.x NNN ...` → NNN.
fn status_of(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let digits = rest.get(2..5)?;
    if !rest.first().is_some_and(u8::is_ascii_digit)
        || rest.get(1) != Some(&b' ')
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// Without leading and trailing spaces, tabs, CR and LF.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 2] = ["X-Remote-User", "X-Auth-Type"];

    /// The lines of `head` that reach mod_proxy_http.
    fn relayed(scanner: &mut InterimHeadScanner, head: &str) -> String {
        head.split_inclusive('\n')
            .filter(|line| scanner.line(line.as_bytes()) == LineVerdict::Pass)
            .collect()
    }

    #[test]
    fn switching_head_loses_identity_lines_and_keeps_their_values() {
        let mut s = InterimHeadScanner::new(&NAMES);
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    x-remote-user: alice\r\nConnection: Upgrade\r\nX-AUTH-TYPE :  Bearer \r\n\r\n";
        assert_eq!(
            relayed(&mut s, head),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        );
        assert!(s.is_done() && s.switched());
        assert_eq!(
            s.switching_values(),
            vec![vec![&b"alice"[..]], vec![&b"Bearer"[..]]]
        );
        // After the head: tunnel bytes pass untouched, even if they look
        // like a header.
        assert_eq!(s.line(b"X-Remote-User: mallory\r\n"), LineVerdict::Pass);
    }

    #[test]
    fn other_interim_heads_are_cleaned_and_final_heads_left_alone() {
        let mut s = InterimHeadScanner::new(&NAMES);
        let heads = "\r\nHTTP/1.1 100 Continue\r\nX-Remote-User: a\r\n\r\n\
                     HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\nX-Auth-Type: t\r\n\r\n\
                     HTTP/1.1 200 OK\r\nX-Remote-User: alice\r\n\r\n";
        assert_eq!(
            relayed(&mut s, heads),
            "\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
             HTTP/1.1 200 OK\r\nX-Remote-User: alice\r\n\r\n"
        );
        assert!(s.is_done() && !s.switched());
        assert_eq!(s.switching_values(), vec![Vec::<&[u8]>::new(), Vec::new()]);
    }

    #[test]
    fn folded_lines_go_with_their_header() {
        let mut s = InterimHeadScanner::new(&NAMES);
        let head = "HTTP/1.1 101 Switching Protocols\r\nX-Remote-User: alice\r\n  smith\r\n\
                    Upgrade: websocket\r\n extra\r\n\r\n";
        assert_eq!(
            relayed(&mut s, head),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n extra\r\n\r\n"
        );
        assert_eq!(s.switching_values()[0], vec![&b"alice\r\n  smith"[..]]);
    }

    #[test]
    fn repeated_and_similar_names() {
        let mut s = InterimHeadScanner::new(&NAMES);
        let head =
            "HTTP/1.1 101 x\r\nX-Remote-User: a\r\nX-Remote-Users: b\r\nX_Remote_User: c\r\n\
                    X-Remote-User: d\r\nNoColonHere\r\n\r\n";
        assert_eq!(
            relayed(&mut s, head),
            "HTTP/1.1 101 x\r\nX-Remote-Users: b\r\nX_Remote_User: c\r\nNoColonHere\r\n\r\n"
        );
        assert_eq!(s.switching_values()[0], vec![&b"a"[..], b"d"]);
    }

    #[test]
    fn non_http_first_line_stops_scanning() {
        let mut s = InterimHeadScanner::new(&NAMES);
        assert_eq!(s.line(b"hello\n"), LineVerdict::Pass);
        assert!(s.is_done() && !s.switched());
        assert_eq!(s.line(b"X-Remote-User: a\n"), LineVerdict::Pass);
        for bad in [
            &b"HTTP/2 101 x\r\n"[..],
            b"HTTP/1.1 1O1 x\r\n",
            b"HTTP/1.1101 x\r\n",
            b"HTTP/1.x 101 x\r\n",
        ] {
            let mut s = InterimHeadScanner::new(&NAMES);
            s.line(bad);
            assert!(s.is_done(), "{bad:?}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"HTTP/1.1 101 Switching Protocols\r\n"),
            Some(101)
        );
        assert_eq!(status_of(b"HTTP/1.0 200\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.1 20"), None);
    }
}
