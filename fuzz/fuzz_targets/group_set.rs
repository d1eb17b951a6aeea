//! `GroupSet`: ASCII case-insensitive membership, and nothing else folds
//! (bytes above 0x7f compare exactly), so a group granted by the set is
//! always an ASCII-case variant of a group that was inserted.
#![no_main]

use authnz_core::group_set::GroupSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<Vec<u8>>, Vec<Vec<u8>>)| {
    let (inserted, required) = input;
    let mut set = GroupSet::default();
    for g in &inserted {
        set.insert(g);
    }
    for g in &inserted {
        assert!(set.contains(g));
        assert!(set.contains(&g.to_ascii_uppercase()));
        assert!(set.contains(&g.to_ascii_lowercase()));
    }
    assert!(set.len() <= inserted.len());
    assert_eq!(set.is_empty(), inserted.is_empty());
    for r in &required {
        let expected = inserted.iter().any(|g| g.eq_ignore_ascii_case(r));
        assert_eq!(set.contains(r), expected, "{r:?}");
    }
    let any = set.any_of(required.iter().map(Vec::as_slice));
    assert_eq!(
        any,
        required
            .iter()
            .any(|r| inserted.iter().any(|g| g.eq_ignore_ascii_case(r)))
    );
});
