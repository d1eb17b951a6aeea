//! `parse_script_directive` on arbitrary argument text, against a reading
//! of the same text built here on httpd's own `ap_getword_conf` (compiled
//! from C as the oracle, c/getword_conf.c) with mod_wsgi's option rule: the
//! path is the first word; each option's name runs up to `=` (no white
//! space in it) and its value is the next word. Checked:
//! - it never panics, on any text;
//! - it succeeds exactly when the path is not blank and every option is
//!   `application-group=VALUE` with a usable value (non-empty, no control
//!   character, `%{` only in the five known forms) or `process-group=NAME`
//!   (one non-empty word); the last option wins;
//! - path and group are the ones the oracle's words give;
//! - each refused option is named in the message.
//!
//! httpd hands directives C strings, so the text is cut at its first NUL.
#![no_main]

use std::ffi::{c_char, c_int, CString};

use authnz_core::script_options::{parse_script_directive, ApplicationGroup};
use libfuzzer_sys::fuzz_target;

extern "C" {
    fn oracle_getword_conf(line: *mut *const c_char, out: *mut c_char, quoted: *mut c_int)
        -> usize;
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// httpd's next word of `line` (no NUL inside), and the rest.
fn oracle_word(line: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let c_line = CString::new(line).expect("no NUL inside");
    let mut out = vec![0u8; line.len() + 1];
    let mut cursor = c_line.as_ptr();
    let mut quoted: c_int = 0;
    // SAFETY: cursor points into c_line, alive for the call; out has room
    // for the whole line plus its terminator.
    let (len, consumed) = unsafe {
        let len = oracle_getword_conf(&mut cursor, out.as_mut_ptr().cast(), &mut quoted);
        (len, cursor.offset_from(c_line.as_ptr()) as usize)
    };
    (out[..len].to_vec(), line[consumed..].to_vec())
}

fn expected_group(value: &str) -> Option<ApplicationGroup> {
    let env_name = value
        .strip_prefix("%{ENV:")
        .and_then(|r| r.strip_suffix('}'))
        .filter(|n| !n.is_empty() && !n.contains(['{', '}']));
    match value {
        "" => None,
        v if v.chars().any(char::is_control) => None,
        "%{GLOBAL}" => Some(ApplicationGroup::Global),
        "%{SERVER}" => Some(ApplicationGroup::Server),
        "%{HOST}" => Some(ApplicationGroup::Host),
        "%{RESOURCE}" => Some(ApplicationGroup::Named(value.to_owned())),
        v if env_name.is_some() => Some(ApplicationGroup::Named(v.to_owned())),
        v if v.contains("%{") => None,
        v => Some(ApplicationGroup::Named(v.to_owned())),
    }
}

/// What the text should give: Ok((path, group)) or Err(the option's name
/// or text that must be named, if any).
fn reference(line: &[u8]) -> Result<(String, ApplicationGroup), Option<String>> {
    let (path, mut rest) = oracle_word(line);
    let path = String::from_utf8_lossy(&path).into_owned();
    if path.trim().is_empty() {
        return Err(None);
    }
    let mut group = ApplicationGroup::Global;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'=' || is_space(b))
            .unwrap_or(rest.len());
        if end == 0 || rest.get(end) != Some(&b'=') {
            let word_end = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
            return Err(Some(String::from_utf8_lossy(&rest[..word_end]).into_owned()));
        }
        let name = String::from_utf8_lossy(&rest[..end]).into_owned();
        let (value, after) = oracle_word(&rest[end + 1..]);
        let value = String::from_utf8_lossy(&value).into_owned();
        match name.as_str() {
            "application-group" => group = expected_group(&value).ok_or(None)?,
            "process-group" => {
                if value.is_empty() || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err(None);
                }
            }
            _ => return Err(Some(name)),
        }
        rest = after;
    }
    Ok((path, group))
}

fuzz_target!(|text: String| {
    let text = text.split('\0').next().unwrap_or_default();
    let ours = parse_script_directive(text);
    match (ours, reference(text.as_bytes())) {
        (Ok(parsed), Ok((path, group))) => {
            assert_eq!(parsed.path, path);
            assert_eq!(parsed.options.application_group, group);
            assert!(!parsed.path.trim().is_empty());
        }
        (Err(message), Err(named)) => {
            assert!(!message.is_empty());
            if let Some(named) = named {
                if !named.chars().any(char::is_control) {
                    assert!(message.contains(&named), "{message:?} does not name {named:?}");
                }
            }
        }
        (Ok(parsed), Err(_)) => panic!("{text:?} accepted as {parsed:?}"),
        (Err(message), Ok(_)) => panic!("valid {text:?} refused: {message}"),
    }
});
