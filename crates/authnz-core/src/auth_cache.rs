//! The pure parts of `WSGIAuthCacheTimeout` (docs/caching.md): cache keys derived
//! with HMAC-SHA256 under a per-process secret, and a bounded map whose
//! entries expire exactly.
//!
//! Keys: the plaintext password never becomes part of a stored key or value;
//! only a 32-byte HMAC of (kind, config context, user, password) does. A
//! keyed MAC rather than a plain hash, because a plain SHA-256 of a password
//! can be tested offline against a word list by anyone who reads the
//! process memory (a core dump, say); without the per-process secret the
//! stored keys are useless. Every field is length-prefixed, so no two
//! different field lists produce the same MAC input.
//!
//! Expiry: an entry validated at `t` with timeout `n` is used only while
//! `now < t + n`, so it is never used once it is `n` old. `t` is taken
//! *before* the Python call that produced the value, so a slow call does
//! not extend an entry's life.
//!
//! Bound: at most `capacity` entries; an insertion into a full map first
//! drops every expired entry, then the oldest ones. All operations are
//! O(log n), so a caller may hold a mutex around them without long waits.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret a [`KeyDeriver`] is made from (random, one per process).
pub const SECRET_LEN: usize = 32;

/// Label mixed into every MAC input (domain separation and versioning).
const LABEL: &[u8] = b"mod_authnz_wsgi auth cache v1";

/// What a cache entry answers; part of the key, so a Basic entry can never
/// be taken for a group set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `check_password` granted: fields are context, user, password.
    BasicGrant,
    /// `groups_for_user` succeeded: fields are context, user.
    Groups,
    /// `get_realm_hash` found the user: fields are context, user, realm.
    RealmHash,
}

impl KeyKind {
    fn tag(self) -> u8 {
        match self {
            KeyKind::BasicGrant => 1,
            KeyKind::Groups => 2,
            KeyKind::RealmHash => 3,
        }
    }
}

/// A cache key: an HMAC-SHA256 output. It says nothing about its inputs
/// without the process secret, and its `Debug` form shows none of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Derives cache keys under one secret.
pub struct KeyDeriver {
    mac: Hmac<Sha256>,
}

impl KeyDeriver {
    pub fn new(secret: &[u8; SECRET_LEN]) -> KeyDeriver {
        // HMAC takes keys of any length; a 32-byte key cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key");
        KeyDeriver { mac }
    }

    /// The key for `kind` over `fields` (each length-prefixed).
    pub fn derive(&self, kind: KeyKind, fields: &[&[u8]]) -> CacheKey {
        let mut mac = self.mac.clone();
        mac.update(&(LABEL.len() as u64).to_le_bytes());
        mac.update(LABEL);
        mac.update(&[kind.tag()]);
        mac.update(&(fields.len() as u64).to_le_bytes());
        for field in fields {
            mac.update(&(field.len() as u64).to_le_bytes());
            mac.update(field);
        }
        CacheKey(mac.finalize().into_bytes().into())
    }
}

/// Hashes a [`CacheKey`] for the map by taking its first eight bytes. A key
/// is already an HMAC output under a secret no client knows, so its bytes
/// are uniformly spread and cannot be chosen to collide: hashing it again
/// (SipHash, the default) would only cost time on every lookup.
#[derive(Default)]
struct MacPrefixHasher(u64);

impl Hasher for MacPrefixHasher {
    fn write(&mut self, bytes: &[u8]) {
        // `CacheKey` hashes as its length, then one 32-byte write; every
        // write is folded in, so the hasher is correct for any input.
        let mut prefix = [0u8; 8];
        let n = bytes.len().min(8);
        prefix[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(prefix);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Slot<V> {
    value: V,
    deadline: Instant,
    seq: u64,
}

/// A bounded map from [`CacheKey`] to `V` with a deadline per entry.
pub struct ExpiringCache<V> {
    capacity: usize,
    entries: HashMap<CacheKey, Slot<V>, BuildHasherDefault<MacPrefixHasher>>,
    /// (deadline, seq) of every entry, soonest first.
    by_deadline: BTreeMap<(Instant, u64), CacheKey>,
    /// seq of every entry, oldest insertion first.
    by_age: BTreeMap<u64, CacheKey>,
    next_seq: u64,
}

impl<V: Clone> ExpiringCache<V> {
    /// A cache of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> ExpiringCache<V> {
        ExpiringCache {
            capacity: capacity.max(1),
            entries: HashMap::default(),
            by_deadline: BTreeMap::new(),
            by_age: BTreeMap::new(),
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for `key` if it has not expired at `now`; an expired entry
    /// is removed.
    pub fn get(&mut self, key: &CacheKey, now: Instant) -> Option<V> {
        let slot = self.entries.get(key)?;
        if now < slot.deadline {
            return Some(slot.value.clone());
        }
        self.remove(key);
        None
    }

    /// Store `value`, validated at `validated_at`, for `ttl`. Returns
    /// whether it was stored: an entry that would already be expired at
    /// `now` (the call took longer than the timeout) is not.
    pub fn insert(
        &mut self,
        key: CacheKey,
        value: V,
        validated_at: Instant,
        ttl: Duration,
        now: Instant,
    ) -> bool {
        let Some(deadline) = validated_at.checked_add(ttl) else {
            return false;
        };
        if deadline <= now {
            return false;
        }
        self.remove(&key);
        if self.entries.len() >= self.capacity {
            self.purge_expired(now);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_deadline.insert((deadline, seq), key);
        self.by_age.insert(seq, key);
        self.entries.insert(
            key,
            Slot {
                value,
                deadline,
                seq,
            },
        );
        true
    }

    /// Drop every entry whose deadline has passed at `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        while let Some((&(deadline, _), &key)) = self.by_deadline.first_key_value() {
            if deadline > now {
                break;
            }
            self.remove(&key);
        }
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some(slot) = self.entries.remove(key) {
            self.by_deadline.remove(&(slot.deadline, slot.seq));
            self.by_age.remove(&slot.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deriver() -> KeyDeriver {
        KeyDeriver::new(&[7u8; SECRET_LEN])
    }

    fn key(n: u8) -> CacheKey {
        deriver().derive(KeyKind::BasicGrant, &[b"ctx", b"user", &[n]])
    }

    #[test]
    fn keys_depend_on_every_input_and_the_secret() {
        let d = deriver();
        let base = d.derive(KeyKind::BasicGrant, &[b"ctx", b"alice", b"pw"]);
        assert_eq!(
            base,
            d.derive(KeyKind::BasicGrant, &[b"ctx", b"alice", b"pw"])
        );
        assert_ne!(
            base,
            d.derive(KeyKind::BasicGrant, &[b"ctx", b"alice", b"pw2"])
        );
        assert_ne!(
            base,
            d.derive(KeyKind::BasicGrant, &[b"ctx", b"bob", b"pw"])
        );
        assert_ne!(
            base,
            d.derive(KeyKind::BasicGrant, &[b"ctx2", b"alice", b"pw"])
        );
        assert_ne!(base, d.derive(KeyKind::Groups, &[b"ctx", b"alice", b"pw"]));
        let other = KeyDeriver::new(&[8u8; SECRET_LEN]);
        assert_ne!(
            base,
            other.derive(KeyKind::BasicGrant, &[b"ctx", b"alice", b"pw"])
        );
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let d = deriver();
        // "a:b" + "c" must not collide with "a" + "b:c", nor with one field.
        let one = d.derive(KeyKind::BasicGrant, &[b"ab", b"c"]);
        assert_ne!(one, d.derive(KeyKind::BasicGrant, &[b"a", b"bc"]));
        assert_ne!(one, d.derive(KeyKind::BasicGrant, &[b"abc"]));
        assert_ne!(one, d.derive(KeyKind::BasicGrant, &[b"ab", b"c", b""]));
    }

    #[test]
    fn key_is_the_hmac_sha256_of_the_encoded_fields_not_the_password() {
        let d = deriver();
        let k = d.derive(KeyKind::BasicGrant, &[b"ctx", b"alice", b"secret-password"]);
        // An independent HMAC-SHA256 of the documented encoding.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[7u8; SECRET_LEN]).unwrap();
        let mut input = Vec::new();
        input.extend((LABEL.len() as u64).to_le_bytes());
        input.extend(LABEL);
        input.push(1);
        input.extend(3u64.to_le_bytes());
        for field in [&b"ctx"[..], b"alice", b"secret-password"] {
            input.extend((field.len() as u64).to_le_bytes());
            input.extend(field);
        }
        mac.update(&input);
        assert_eq!(k.as_bytes()[..], mac.finalize().into_bytes()[..]);
        let bytes = k.as_bytes();
        assert!(!bytes.windows(6).any(|w| w == b"secret"));
        assert_eq!(format!("{k:?}"), "CacheKey(..)");
    }

    #[test]
    fn entries_expire_exactly() {
        let mut c = ExpiringCache::new(10);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(5);
        assert!(c.insert(key(1), "v", t0, ttl, t0));
        assert_eq!(c.get(&key(1), t0), Some("v"));
        assert_eq!(
            c.get(&key(1), t0 + ttl - Duration::from_nanos(1)),
            Some("v")
        );
        // Exactly `ttl` old: never used again, and removed.
        assert_eq!(c.get(&key(1), t0 + ttl), None);
        assert!(c.is_empty());
    }

    #[test]
    fn age_counts_from_validation_not_from_insertion() {
        let mut c = ExpiringCache::new(10);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(5);
        // The call took 3 s: the entry has 2 s left.
        assert!(c.insert(key(1), 1, t0, ttl, t0 + Duration::from_secs(3)));
        assert_eq!(c.get(&key(1), t0 + Duration::from_secs(4)), Some(1));
        assert_eq!(c.get(&key(1), t0 + Duration::from_secs(5)), None);
        // A call longer than the timeout is not cached at all.
        assert!(!c.insert(key(2), 2, t0, ttl, t0 + ttl));
        assert!(c.is_empty());
    }

    #[test]
    fn replacing_a_key_keeps_one_entry() {
        let mut c = ExpiringCache::new(10);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(5);
        c.insert(key(1), 1, t0, ttl, t0);
        c.insert(key(1), 2, t0 + Duration::from_secs(1), ttl, t0);
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&key(1), t0 + Duration::from_secs(5)), Some(2));
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_the_oldest() {
        let mut c = ExpiringCache::new(3);
        let t0 = Instant::now();
        let long = Duration::from_secs(100);
        let short = Duration::from_secs(1);
        c.insert(key(1), 1, t0, long, t0);
        c.insert(key(2), 2, t0, short, t0);
        c.insert(key(3), 3, t0, long, t0);
        // At t0+2 entry 2 has expired: it goes, the older entry 1 stays.
        let t2 = t0 + Duration::from_secs(2);
        c.insert(key(4), 4, t2, long, t2);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&key(1), t2), Some(1));
        assert_eq!(c.get(&key(2), t2), None);
        // Nothing expired now: the oldest insertion (1) is evicted.
        c.insert(key(5), 5, t2, long, t2);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&key(1), t2), None);
        for k in [3, 4, 5] {
            assert_eq!(c.get(&key(k), t2), Some(k));
        }
    }

    #[test]
    fn the_bound_holds_under_many_insertions() {
        let mut c = ExpiringCache::new(100);
        let t0 = Instant::now();
        let d = deriver();
        for i in 0..10_000u32 {
            let k = d.derive(KeyKind::Groups, &[b"ctx", &i.to_le_bytes()]);
            c.insert(k, i, t0, Duration::from_secs(60), t0);
            assert!(c.len() <= 100);
        }
        assert_eq!(c.by_age.len(), 100);
        assert_eq!(c.by_deadline.len(), 100);
    }
}
