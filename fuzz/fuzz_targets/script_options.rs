//! `parse_script_options` on arbitrary option lists: never panics; succeeds
//! exactly when every option is `application-group=VALUE` with a usable
//! value (non-empty, no control character, `%{` only as one of the three
//! known expansions); the last option wins; each error names the option.
#![no_main]

use authnz_core::script_options::{parse_script_options, ApplicationGroup};
use libfuzzer_sys::fuzz_target;

fn expected_group(value: &str) -> Option<ApplicationGroup> {
    match value {
        "" => None,
        "%{GLOBAL}" => Some(ApplicationGroup::Global),
        "%{SERVER}" => Some(ApplicationGroup::Server),
        "%{HOST}" => Some(ApplicationGroup::Host),
        v if v.contains("%{") || v.chars().any(char::is_control) => None,
        v => Some(ApplicationGroup::Named(v.to_owned())),
    }
}

fuzz_target!(|options: Vec<String>| {
    let result = parse_script_options(options.iter().map(String::as_str));
    let mut group = Some(ApplicationGroup::Global);
    let mut first_bad = None;
    for option in &options {
        match option.split_once('=') {
            Some(("application-group", value)) => match expected_group(value) {
                Some(g) => group = Some(g),
                None => {
                    first_bad = Some(option.clone());
                    break;
                }
            },
            _ => {
                first_bad = Some(option.clone());
                break;
            }
        }
    }
    match (&result, first_bad) {
        (Ok(parsed), None) => assert_eq!(Some(parsed.application_group.clone()), group),
        (Err(message), Some(bad)) => {
            assert!(!message.is_empty());
            // The message names the offending key (or the whole option when
            // it has no `=`), so the admin can find it.
            let key = bad.split_once('=').map_or(bad.as_str(), |(k, _)| k);
            if !key.is_empty() && !key.chars().any(char::is_control) {
                assert!(message.contains(key), "{message:?} does not name {key:?}");
            }
        }
        (Ok(parsed), Some(bad)) => panic!("{bad:?} accepted as {parsed:?}"),
        (Err(message), None) => panic!("valid options {options:?} refused: {message}"),
    }
    if let Ok(parsed) = result {
        if let ApplicationGroup::Named(name) = parsed.application_group {
            assert!(
                !name.is_empty() && !name.contains("%{") && !name.chars().any(char::is_control)
            );
        }
    }
});
