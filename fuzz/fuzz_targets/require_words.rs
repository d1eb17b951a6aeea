//! `require_words` (the words of an evaluated `Require wsgi-group` line)
//! against httpd's own `ap_getword_conf`, compiled from C as an oracle
//! (c/getword_conf.c), plus invariants that hold whatever the oracle says:
//! - it never panics and always terminates, on any bytes (NUL included);
//! - a word that comes from an unquoted token never contains white space,
//!   and a line without quote characters splits exactly on white space with
//!   `\\` turned into one backslash;
//! - no word is longer than the line, and the words together never hold
//!   more bytes than the line.
//!
//! httpd's Require parsers stop at the first empty word (`while (w[0])`)
//! and C strings stop at NUL; the comparison therefore collects every
//! word the C function yields until the line is consumed, on the input cut
//! at its first NUL.
#![no_main]

use std::ffi::{c_char, c_int, CString};

use authnz_core::require_words::require_words;
use libfuzzer_sys::fuzz_target;

extern "C" {
    fn oracle_getword_conf(line: *mut *const c_char, out: *mut c_char, quoted: *mut c_int)
        -> usize;
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Every word httpd's ap_getword_conf yields, with whether it was quoted.
fn oracle_words(line: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let c_line = CString::new(line).expect("no NUL inside");
    let mut out = vec![0u8; line.len() + 1];
    let mut cursor = c_line.as_ptr();
    let mut words = Vec::new();
    // SAFETY: cursor points into c_line (NUL-terminated, alive for the
    // loop); out has room for the whole line plus its terminator.
    unsafe {
        while *cursor != 0 {
            let mut quoted: c_int = 0;
            let len = oracle_getword_conf(&mut cursor, out.as_mut_ptr().cast(), &mut quoted);
            if len == 0 && quoted == 0 {
                // Only white space was left: the end of the line.
                break;
            }
            words.push((out[..len].to_vec(), quoted != 0));
        }
    }
    words
}

fuzz_target!(|line: &[u8]| {
    let words = require_words(line);

    let total: usize = words.iter().map(Vec::len).sum();
    assert!(total <= line.len(), "words hold more bytes than the line");

    if !line.iter().any(|&b| b == b'"' || b == b'\'') {
        let expected: Vec<Vec<u8>> = line
            .split(|&b| is_space(b))
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut out = Vec::new();
                let mut i = 0;
                while i < w.len() {
                    if w[i] == b'\\' && w.get(i + 1) == Some(&b'\\') {
                        i += 1;
                    }
                    out.push(w[i]);
                    i += 1;
                }
                out
            })
            .collect();
        assert_eq!(words, expected, "unquoted line split differently");
    }

    // Differential check against httpd, on the part of the line a C
    // string can carry.
    let c_part = line.split(|&b| b == 0).next().unwrap_or_default();
    let ours = if c_part.len() == line.len() {
        words
    } else {
        require_words(c_part)
    };
    let theirs = oracle_words(c_part);
    for (word, quoted) in &theirs {
        if !quoted {
            assert!(
                !word.iter().any(|&b| is_space(b)),
                "an unquoted token yielded white space: {word:?}"
            );
        }
    }
    let theirs: Vec<Vec<u8>> = theirs.into_iter().map(|(w, _)| w).collect();
    assert_eq!(
        ours, theirs,
        "require_words differs from ap_getword_conf on {c_part:?}"
    );
});
