//! What a worker thread's kept environ must change to become this call's
//! (docs/python-contract.md#environ, docs/how-it-runs.md): the thread keeps the string items of the environ it
//! built last in a dict of its own; a call updates that dict only where its
//! request differs, then the script gets a copy of it. This file decides
//! those updates; the dict itself (a Python object) is behind [`Sink`].
//!
//! Items are matched by the *text* of their key, never by the identity of
//! the key object: two key objects with equal text are one dict key, so
//! they must be one slot here too. A header spelled `User-Agent` on one
//! request and `user-agent` on the next has one key, `HTTP_USER_AGENT`,
//! whatever objects carry it.
//!
//! The result equals the reference: a dict holding the items of this call
//! alone, set in order (of two items with one key the later counts). Long
//! values ([`KEPT_MAX`]) and keys beyond the first [`KEYS_MAX`] are not
//! kept: the caller sets those in the copy, in order, and they are removed
//! from the kept dict, so the memory a thread keeps is bounded whatever
//! clients send. The items never use the keys of the items the dict was
//! first made with (the process-wide base: server software, versions and
//! placeholders): those are never touched here.

use crate::short_bytes::same_bytes;

/// The longest value kept in a thread's dict.
pub const KEPT_MAX: usize = 256;
/// The most keys a thread's dict keeps.
pub const KEYS_MAX: usize = 64;

/// One string item of a call's environ.
pub trait Item {
    /// The key's text (what a dict compares); empty when it cannot be
    /// read, and such an item is then only set in the copy.
    fn key_text(&self) -> &[u8];
    fn value(&self) -> &[u8];
}

/// The kept dict: set and remove items, and keep a key to remove it later.
pub trait Sink<I: Item> {
    /// What a slot keeps to name its key when it removes it.
    type Held;
    type Error;
    fn hold(&mut self, item: &I) -> Self::Held;
    fn set(&mut self, item: &I) -> Result<(), Self::Error>;
    fn remove(&mut self, held: &Self::Held) -> Result<(), Self::Error>;
}

/// What the kept dict holds (or last held) under one key.
struct Slot<H> {
    key_text: Vec<u8>,
    held: H,
    value: Vec<u8>,
    /// The call that last named this key (0: none, or superseded in this
    /// call by a value that is not kept).
    seen: u64,
    /// Whether the dict holds the key now.
    present: bool,
}

/// A worker thread's record of its kept dict.
pub struct KeptEnviron<H> {
    slots: Vec<Slot<H>>,
    /// Counts calls; a slot not `seen` in this one is removed from the dict.
    call: u64,
    /// Calls name their keys in the same order: the slot after the last
    /// one matched is almost always the next one wanted.
    next: usize,
}

impl<H> Default for KeptEnviron<H> {
    fn default() -> Self {
        KeptEnviron {
            slots: Vec::new(),
            call: 0,
            next: 0,
        }
    }
}

impl<H> KeptEnviron<H> {
    /// Bring the kept dict to exactly this call's kept items. Returns the
    /// indexes of the items that are not kept, in order: the caller sets
    /// them in the copy. After an error the dict and this record may
    /// disagree: start both again from the base.
    pub fn update<I: Item, S: Sink<I, Held = H>>(
        &mut self,
        items: &[I],
        sink: &mut S,
    ) -> Result<Vec<usize>, S::Error> {
        self.call += 1;
        let call = self.call;
        let mut unkept: Vec<usize> = Vec::new();
        for (at, item) in items.iter().enumerate() {
            let key = item.key_text();
            // A later item with the same key counts instead of an earlier
            // one that was not kept.
            unkept.retain(|&i| !same_bytes(items[i].key_text(), key));
            if key.is_empty() || item.value().len() > KEPT_MAX {
                if let Some(slot) = self.find(key) {
                    // Removed from the dict below, if it holds the key.
                    self.slots[slot].seen = 0;
                }
                unkept.push(at);
                continue;
            }
            let Some(slot) = self.slot_for(item, key, call, sink) else {
                unkept.push(at);
                continue;
            };
            let slot = &mut self.slots[slot];
            slot.seen = call;
            if slot.present && same_bytes(&slot.value, item.value()) {
                continue;
            }
            sink.set(item)?;
            slot.value.clear();
            slot.value.extend_from_slice(item.value());
            slot.present = true;
        }
        for slot in &mut self.slots {
            if slot.present && slot.seen != call {
                sink.remove(&slot.held)?;
                slot.present = false;
            }
        }
        Ok(unkept)
    }

    /// The slot whose key has this text, if any.
    fn find(&self, key: &[u8]) -> Option<usize> {
        match self.slots.get(self.next) {
            Some(slot) if same_bytes(&slot.key_text, key) => Some(self.next),
            _ => self.slots.iter().position(|s| same_bytes(&s.key_text, key)),
        }
    }

    /// The slot of `key`: its own, else a free one (or a new one while
    /// there are fewer than [`KEYS_MAX`]); `None` when all are taken.
    fn slot_for<I: Item, S: Sink<I, Held = H>>(
        &mut self,
        item: &I,
        key: &[u8],
        call: u64,
        sink: &mut S,
    ) -> Option<usize> {
        let at = self.find(key).or_else(|| {
            // Free: the dict does not hold it, and this call has not named it.
            let free = self
                .slots
                .iter()
                .position(|slot| !slot.present && slot.seen != call);
            let at = match free {
                Some(i) => i,
                None if self.slots.len() < KEYS_MAX => self.slots.len(),
                None => return None,
            };
            let fresh = Slot {
                key_text: key.to_vec(),
                held: sink.hold(item),
                value: Vec::new(),
                seen: call,
                present: false,
            };
            if at == self.slots.len() {
                self.slots.push(fresh);
            } else {
                self.slots[at] = fresh;
            }
            Some(at)
        })?;
        self.next = at + 1;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A key object: its text, and an identity that must not matter.
    #[derive(Clone, Debug)]
    struct TestItem {
        key: Vec<u8>,
        object: u32,
        value: Vec<u8>,
    }

    impl Item for TestItem {
        fn key_text(&self) -> &[u8] {
            &self.key
        }
        fn value(&self) -> &[u8] {
            &self.value
        }
    }

    /// A dict compares keys by text, as Python's does.
    #[derive(Default)]
    struct Dict(BTreeMap<Vec<u8>, Vec<u8>>);

    impl Sink<TestItem> for Dict {
        type Held = (Vec<u8>, u32);
        type Error = String;
        fn hold(&mut self, item: &TestItem) -> (Vec<u8>, u32) {
            (item.key.clone(), item.object)
        }
        fn set(&mut self, item: &TestItem) -> Result<(), String> {
            self.0.insert(item.key.clone(), item.value.clone());
            Ok(())
        }
        fn remove(&mut self, held: &(Vec<u8>, u32)) -> Result<(), String> {
            // Python's `del d[k]` raises KeyError for a missing key.
            self.0
                .remove(&held.0)
                .map(drop)
                .ok_or_else(|| format!("KeyError: {:?}", String::from_utf8_lossy(&held.0)))
        }
    }

    /// What a call's environ is: its items set in order into a fresh dict.
    fn reference(items: &[TestItem]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut dict = BTreeMap::new();
        for item in items {
            dict.insert(item.key.clone(), item.value.clone());
        }
        dict
    }

    /// The copy a call hands the script: the kept dict, then the items
    /// that were not kept, in order.
    fn environ(
        kept: &mut KeptEnviron<(Vec<u8>, u32)>,
        dict: &mut Dict,
        items: &[TestItem],
    ) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let unkept = kept.update(items, dict).expect("update");
        let mut copy = dict.0.clone();
        for i in unkept {
            copy.insert(items[i].key.clone(), items[i].value.clone());
        }
        copy
    }

    fn item(key: &str, object: u32, value: &str) -> TestItem {
        TestItem {
            key: key.as_bytes().to_vec(),
            object,
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn equal_key_text_from_another_object_is_the_same_key() {
        let (mut kept, mut dict) = (KeptEnviron::default(), Dict::default());
        let first = [item("HTTP_X_EXTERNAL", 1, "1")];
        assert_eq!(environ(&mut kept, &mut dict, &first), reference(&first));
        // `x-external` on the next request: the same key text, another object.
        let second = [item("HTTP_X_EXTERNAL", 2, "1")];
        assert_eq!(environ(&mut kept, &mut dict, &second), reference(&second));
        let third = [item("HTTP_X_EXTERNAL", 3, "2"), item("HTTP_HOST", 4, "h")];
        assert_eq!(environ(&mut kept, &mut dict, &third), reference(&third));
        assert_eq!(environ(&mut kept, &mut dict, &[]), reference(&[]));
    }

    #[test]
    fn of_two_items_with_one_key_the_later_counts() {
        let (mut kept, mut dict) = (KeptEnviron::default(), Dict::default());
        let long = "x".repeat(KEPT_MAX + 1);
        let calls = [
            vec![item("K", 1, "a"), item("K", 2, "b")],
            vec![item("K", 1, &long), item("K", 2, "short")],
            vec![item("K", 1, "short"), item("K", 2, &long)],
            vec![item("K", 1, &long), item("K", 2, &long), item("K", 3, "c")],
            vec![item("K", 1, "c")],
        ];
        for items in calls {
            assert_eq!(environ(&mut kept, &mut dict, &items), reference(&items));
        }
    }

    #[test]
    fn keys_beyond_the_kept_number_are_set_in_the_copy() {
        let (mut kept, mut dict) = (KeptEnviron::default(), Dict::default());
        let many: Vec<TestItem> = (0..KEYS_MAX + 20)
            .map(|i| item(&format!("HTTP_X_{i}"), i as u32, "v"))
            .collect();
        assert_eq!(environ(&mut kept, &mut dict, &many), reference(&many));
        assert!(dict.0.len() <= KEYS_MAX);
        let later = &many[30..];
        assert_eq!(environ(&mut kept, &mut dict, later), reference(later));
        assert_eq!(environ(&mut kept, &mut dict, &many), reference(&many));
    }

    /// A small deterministic generator (xorshift), so the test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn long_random_sequences_match_the_reference() {
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let (mut kept, mut dict) = (KeptEnviron::default(), Dict::default());
            // Few key texts for many objects; values of every length class.
            let keys = 2 + rng.below(90) as usize;
            for _ in 0..400 {
                let count = rng.below(100) as usize;
                let items: Vec<TestItem> = (0..count)
                    .map(|_| {
                        let key = format!("HTTP_K{}", rng.below(keys as u64));
                        let value = match rng.below(4) {
                            0 => String::new(),
                            1 => "v".repeat(KEPT_MAX + rng.below(3) as usize),
                            _ => format!("v{}", rng.below(3)),
                        };
                        item(&key, rng.below(1000) as u32, &value)
                    })
                    .collect();
                assert_eq!(
                    environ(&mut kept, &mut dict, &items),
                    reference(&items),
                    "seed {seed}"
                );
                assert!(dict.0.len() <= KEYS_MAX);
            }
        }
    }
}
