//! Which state keys surely do not exist: a Bloom filter over the keys under one prefix
//! (the record keys, `key/`), so that a point read of a key never written answers at once
//! instead of searching sled.
//!
//! Most records a node applies are new: a read that finds nothing cost a sled search
//! (a tenth of the apply thread's time) and waited for sled's process-wide lock while
//! the committer thread held it for a whole batch. The filter has no false negatives:
//! every key under the prefix enters it before its write can be read (at hand-over to the
//! committer, while a snapshot is installed, and in the scan that fills it when the store
//! opens), and none ever leaves, so a deleted key only costs a read. Until that first scan
//! ends the filter answers "maybe" for every key.
//!
//! The filter is a split-block Bloom filter (one 512-bit block per key, one bit in each of
//! its eight words; 16 bits per key, about 0.1% false positives) in layers: when a layer
//! is full, a new one of twice the capacity takes the next keys, so that a store of any
//! size keeps the rate without knowing its size in advance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Keys the first layer holds at its rate.
const FIRST_CAPACITY: usize = 1 << 18;
const BITS_PER_KEY: usize = 16;
const SALTS: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

struct Layer {
    blocks: Vec<[u64; 8]>,
    capacity: usize,
    len: usize,
}

impl Layer {
    fn new(capacity: usize) -> Layer {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(512).max(1);
        Layer {
            blocks: vec![[0; 8]; blocks],
            capacity,
            len: 0,
        }
    }

    fn block(&self, hash: u64) -> usize {
        // The high half picks the block, by multiply-shift rather than a division.
        (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    fn masks(hash: u64) -> [u64; 8] {
        let low = hash as u32;
        SALTS.map(|salt| 1u64 << (low.wrapping_mul(salt) >> 26))
    }

    fn insert(&mut self, hash: u64) {
        let i = self.block(hash);
        for (word, mask) in self.blocks[i].iter_mut().zip(Self::masks(hash)) {
            *word |= mask;
        }
        self.len += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        let block = &self.blocks[self.block(hash)];
        block
            .iter()
            .zip(Self::masks(hash))
            .all(|(word, mask)| word & mask == mask)
    }
}

#[derive(Default)]
struct Layers {
    layers: Vec<Layer>,
    /// Whether every existing key has been added (the opening scan ended).
    complete: bool,
}

impl Layers {
    fn insert(&mut self, hash: u64) {
        let full = self.layers.last().is_none_or(|l| l.len >= l.capacity);
        if full {
            let capacity = self
                .layers
                .last()
                .map_or(FIRST_CAPACITY, |l| l.capacity * 2);
            self.layers.push(Layer::new(capacity));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.insert(hash);
        }
    }
}

/// The filter the store shares with the thread that fills it when the store opens.
pub(super) struct Absent {
    prefix: &'static [u8],
    layers: Mutex<Layers>,
    /// Bumped when the state is replaced: a scan of an older state must not complete the
    /// filter of the new one.
    generation: AtomicU64,
}

impl Absent {
    pub(super) fn new(prefix: &'static [u8]) -> Arc<Absent> {
        Arc::new(Absent {
            prefix,
            layers: Mutex::new(Layers::default()),
            generation: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Layers> {
        // Every change is a bit set or a push: a panic leaves the filter usable.
        self.layers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn covers(&self, key: &[u8]) -> bool {
        key.starts_with(self.prefix)
    }

    /// Records that `keys` (those under the prefix) exist, before they can be read.
    pub(super) fn add<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) {
        let mut hashes = keys
            .into_iter()
            .filter(|k| self.covers(k))
            .map(hash)
            .peekable();
        if hashes.peek().is_none() {
            return;
        }
        let mut layers = self.lock();
        for h in hashes {
            layers.insert(h);
        }
    }

    /// True when `key` certainly has no value: it is under the prefix, the filter is
    /// complete, and no key that was ever added hashes like it.
    pub(super) fn surely_absent(&self, key: &[u8]) -> bool {
        if !self.covers(key) {
            return false;
        }
        let h = hash(key);
        let layers = self.lock();
        layers.complete && !layers.layers.iter().any(|l| l.may_contain(h))
    }

    /// Empties the filter for a state about to be replaced: until [`Absent::complete`]
    /// with the answer, every key is "maybe".
    pub(super) fn reset(&self) -> u64 {
        let mut layers = self.lock();
        *layers = Layers::default();
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The generation a scan starting now fills.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Marks the filter complete: every key of `generation`'s state was added.
    pub(super) fn complete(&self, generation: u64) {
        let mut layers = self.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            layers.complete = true;
        }
    }

    /// Keys added so far.
    pub(super) fn len(&self) -> usize {
        self.lock().layers.iter().map(|l| l.len).sum()
    }
}

/// A 64-bit hash of a key: eight bytes at a time, multiplied and rotated, then mixed
/// (MurmurHash3's finalizer) so that both halves are usable.
fn hash(key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (key.len() as u64).wrapping_mul(K);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        h = (h ^ word).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Vec<u8> {
        format!("key/action/A{i:012}").into_bytes()
    }

    #[test]
    fn added_keys_are_never_surely_absent_and_few_others_are_mistaken() {
        let filter = Absent::new(b"key/");
        let generation = filter.generation();
        // Layers of one, two and four times the first capacity: the third is in use.
        let n = 4 * FIRST_CAPACITY;
        let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
        filter.add(keys.iter().map(Vec::as_slice));
        // Nothing is surely absent before the filter is complete.
        assert!(!filter.surely_absent(&key(n + 1)));
        filter.complete(generation);
        assert_eq!(filter.len(), n);
        assert_eq!(filter.lock().layers.len(), 3);
        assert!(keys.iter().all(|k| !filter.surely_absent(k)));
        let mistaken = (n..2 * n)
            .filter(|&i| !filter.surely_absent(&key(i)))
            .count();
        let rate = mistaken as f64 / n as f64;
        assert!(rate < 0.005, "false positive rate {rate}");
        // Keys outside the prefix are never claimed absent.
        assert!(!filter.surely_absent(b"ver/action/A1/0000000001"));
    }

    #[test]
    fn a_scan_of_a_replaced_state_does_not_complete_the_filter() {
        let filter = Absent::new(b"key/");
        let old = filter.generation();
        let new = filter.reset();
        filter.complete(old);
        assert!(!filter.surely_absent(&key(1)));
        filter.complete(new);
        assert!(filter.surely_absent(&key(1)));
    }
}
