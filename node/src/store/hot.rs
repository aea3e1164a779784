//! Small state values read by every batch (counters, coverage, the metadata under
//! `_meta/`), kept in memory once read or written, so that applying a batch reads
//! nothing from sled while the committer thread writes the one before it.
//!
//! sled 0.34 makes every read wait while a batch is being applied (one lock for the whole
//! process): a single read of a counter per batch made the apply thread wait for the
//! committer, and the two ran one after the other instead of side by side.
//!
//! Every write of the state machine goes through the store, which updates this cache
//! before the write can be read; a value read from sled enters it only if no write came
//! in between (a reader on another thread could otherwise put back a value just replaced).
//! Bounded: past [`MAX_BYTES`] the cache starts again empty.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::WriteSet;

/// Bytes of keys and values the cache holds at most.
const MAX_BYTES: usize = 32 << 20;

#[derive(Default)]
struct Cached {
    /// `None`: the key has no value.
    values: HashMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
    /// Writes so far: a read from sled is cached only if none came while it ran.
    writes: u64,
}

impl Cached {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>) {
        let size = key.len() + value.map_or(0, <[u8]>::len);
        if self.bytes + size > MAX_BYTES {
            self.values.clear();
            self.bytes = 0;
        }
        if let Some(old) = self.values.insert(key.to_vec(), value.map(<[u8]>::to_vec)) {
            self.bytes -= key.len() + old.map_or(0, |v| v.len());
        }
        self.bytes += size;
    }
}

pub(super) enum Lookup {
    /// The key's value (or that it has none).
    Hit(Option<Vec<u8>>),
    /// Read it, then [`Hot::fill`] with this stamp.
    Miss(u64),
    /// Not a key this cache keeps.
    Elsewhere,
}

pub(super) struct Hot {
    prefixes: &'static [&'static [u8]],
    cached: Mutex<Cached>,
}

impl Hot {
    pub(super) fn new(prefixes: &'static [&'static [u8]]) -> Hot {
        Hot {
            prefixes,
            cached: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cached> {
        // Each change leaves the map consistent: a panic elsewhere leaves it usable.
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn covers(&self, key: &[u8]) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p))
    }

    pub(super) fn get(&self, key: &[u8]) -> Lookup {
        if !self.covers(key) {
            return Lookup::Elsewhere;
        }
        let cached = self.lock();
        match cached.values.get(key) {
            Some(value) => Lookup::Hit(value.clone()),
            None => Lookup::Miss(cached.writes),
        }
    }

    /// Caches what a read that began at `stamp` found, unless a write came since.
    pub(super) fn fill(&self, key: &[u8], value: Option<&[u8]>, stamp: u64) {
        let mut cached = self.lock();
        if cached.writes == stamp {
            cached.put(key, value);
        }
    }

    /// Takes the writes of `set` once anyone can read them (see the module's note).
    pub(super) fn write(&self, set: &WriteSet) {
        let mut cached = self.lock();
        cached.writes += 1;
        for (key, value) in set.iter().filter(|(k, _)| self.covers(k)) {
            cached.put(key, value);
        }
    }

    /// The writes of `set` this cache keeps, as a set of their own: for a set that is
    /// moved into sled before [`Hot::write`] can take it.
    pub(super) fn covered(&self, set: &WriteSet) -> WriteSet {
        let mut covered = WriteSet::default();
        for (key, value) in set.iter().filter(|(k, _)| self.covers(k)) {
            match value {
                Some(v) => covered.put_slice(key.to_vec(), v),
                None => covered.delete(key.to_vec()),
            }
        }
        covered
    }

    /// Forgets everything (the state is being replaced).
    pub(super) fn clear(&self) {
        let mut cached = self.lock();
        cached.writes += 1;
        cached.values.clear();
        cached.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_seen_and_a_read_overtaken_by_a_write_is_not_cached() {
        let hot = Hot::new(&[b"ctr/"]);
        assert!(matches!(hot.get(b"key/x"), Lookup::Elsewhere));
        let Lookup::Miss(stamp) = hot.get(b"ctr/a") else {
            panic!("an empty cache misses");
        };
        // A write lands while the read is under way: what the read found is stale.
        let mut set = WriteSet::default();
        set.put(b"ctr/a".to_vec(), b"new".to_vec());
        hot.write(&set);
        hot.fill(b"ctr/a", Some(b"old"), stamp);
        assert!(matches!(hot.get(b"ctr/a"), Lookup::Hit(Some(v)) if v == b"new"));
        // A read with nothing in between is cached, absence included.
        let Lookup::Miss(stamp) = hot.get(b"ctr/b") else {
            panic!("never read");
        };
        hot.fill(b"ctr/b", None, stamp);
        assert!(matches!(hot.get(b"ctr/b"), Lookup::Hit(None)));
        let mut set = WriteSet::default();
        set.delete(b"ctr/a".to_vec());
        hot.write(&set);
        assert!(matches!(hot.get(b"ctr/a"), Lookup::Hit(None)));
        hot.clear();
        assert!(matches!(hot.get(b"ctr/b"), Lookup::Miss(_)));
    }

    #[test]
    fn the_cache_starts_again_when_full() {
        let hot = Hot::new(&[b"cov/"]);
        let big = vec![7u8; 1 << 20];
        for i in 0..40 {
            let mut set = WriteSet::default();
            set.put(format!("cov/{i}").into_bytes(), big.clone());
            hot.write(&set);
        }
        let cached = hot.lock();
        assert!(cached.bytes <= MAX_BYTES);
        assert_eq!(
            cached.bytes,
            cached
                .values
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
        );
        assert!(cached.values.contains_key(&b"cov/39"[..]));
    }
}
