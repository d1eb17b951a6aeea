//! `KeptEnviron`: whatever sequence of calls a worker thread serves — keys
//! of equal text carried by different objects, repeated keys in one call,
//! long values, more keys than are kept — the environ of each call (the
//! kept dict, then the items not kept, in order) equals the dict built from
//! that call's items alone, and the kept dict never holds more than
//! `KEYS_MAX` keys. Removing a key the dict does not hold is an error, as
//! Python's `del` raises `KeyError`.
#![no_main]

use std::collections::BTreeMap;

use authnz_core::environ_reuse::{Item, KeptEnviron, Sink, KEPT_MAX, KEYS_MAX};
use libfuzzer_sys::fuzz_target;

struct FuzzItem {
    key: Vec<u8>,
    object: u8,
    value: Vec<u8>,
}

impl Item for FuzzItem {
    fn key_text(&self) -> &[u8] {
        &self.key
    }
    fn value(&self) -> &[u8] {
        &self.value
    }
}

#[derive(Default)]
struct Dict(BTreeMap<Vec<u8>, Vec<u8>>);

impl Sink<FuzzItem> for Dict {
    type Held = (Vec<u8>, u8);
    type Error = ();
    fn hold(&mut self, item: &FuzzItem) -> (Vec<u8>, u8) {
        (item.key.clone(), item.object)
    }
    fn set(&mut self, item: &FuzzItem) -> Result<(), ()> {
        self.0.insert(item.key.clone(), item.value.clone());
        Ok(())
    }
    fn remove(&mut self, held: &(Vec<u8>, u8)) -> Result<(), ()> {
        self.0.remove(&held.0).map(drop).ok_or(())
    }
}

/// Items from three bytes each: key (from a small set, so keys repeat and
/// exceed what is kept), object identity, value class.
fn items(bytes: &[u8]) -> Vec<FuzzItem> {
    bytes
        .chunks_exact(3)
        .map(|c| FuzzItem {
            key: if c[0] == 0xff {
                Vec::new()
            } else {
                format!("HTTP_K{}", c[0] % 96).into_bytes()
            },
            object: c[1],
            value: match c[2] % 5 {
                0 => Vec::new(),
                1 => vec![b'v'; KEPT_MAX + usize::from(c[2] % 3)],
                n => vec![b'a' + n; 1 + usize::from(c[2] / 5 % 4)],
            },
        })
        .collect()
}

fuzz_target!(|calls: Vec<Vec<u8>>| {
    let (mut kept, mut dict) = (KeptEnviron::default(), Dict::default());
    for call in calls {
        let items = items(&call);
        let unkept = kept.update(&items, &mut dict).expect("no KeyError");
        let mut environ = dict.0.clone();
        for i in unkept {
            environ.insert(items[i].key.clone(), items[i].value.clone());
        }
        let mut reference = BTreeMap::new();
        for item in &items {
            reference.insert(item.key.clone(), item.value.clone());
        }
        assert_eq!(environ, reference);
        assert!(dict.0.len() <= KEYS_MAX);
        assert!(!dict.0.contains_key(&Vec::new()));
    }
});
