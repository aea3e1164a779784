//! Key states in buckets: the state of up to ten record keys in one sled value.
//!
//! sled 0.34 pays for an insert mostly by the insert, not by its bytes: it walks the tree
//! from the root, copies the leaf's index of keys and links a delta, and splits a leaf
//! every eight or so inserts. Measured on this machine, 200,000 values of 360 bytes went
//! in at 68,000-73,000 a second one per key, 300,000-350,000 four per key and
//! 570,000-640,000 sixteen per key. A record's key state was one insert, and that insert
//! was most of what every member of a group spent on a record.
//!
//! Record keys are mostly numbered: action ids (`420100-XZCF-2026-S00000123`), item
//! codes, certificate numbers, so consecutive records differ in their last digit. The key
//! state of a key ending in a digit goes into the bucket of the key less that digit, in
//! the slot of the digit: records numbered together share one insert, at most ten to a
//! bucket. A key ending otherwise has a bucket of its own, in the empty slot; a bucket
//! never holds more than ten slots, so a leaf of sled's stays small.
//!
//! A bucket's value is its slots in slot order, each `varint(slot length) slot
//! varint(state length) state`, where a state is the key state's own encoding. The apply
//! (`Applier`) reads a bucket into its slots once per apply and writes it once.

use std::ops::Range;

use prost::encoding::{decode_varint, encode_varint};

/// Where a record key's state lives: its bucket's key (text, like every key) and its slot.
pub fn locate(key: &str) -> (&str, &str) {
    match key.as_bytes().last() {
        Some(b) if b.is_ascii_digit() => key.split_at(key.len() - 1),
        _ => (key, ""),
    }
}

/// A bucket's value does not parse: the store is damaged.
#[derive(Debug, thiserror::Error)]
#[error("a key state bucket is damaged at byte {0}")]
pub struct Damaged(usize);

/// [`Damaged`], naming the bucket's key.
#[derive(Debug, thiserror::Error)]
#[error("stored value at {key} does not decode: {source}")]
pub struct DamagedAt {
    key: String,
    source: Damaged,
}

impl Damaged {
    pub fn at(self, key: &[u8]) -> DamagedAt {
        DamagedAt {
            key: String::from_utf8_lossy(key).into_owned(),
            source: self,
        }
    }
}

/// The slots of a bucket in order: the slot and its state's byte range in `bucket`.
fn slots(bucket: &[u8]) -> impl Iterator<Item = Result<(&str, Range<usize>), Damaged>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bucket.len() {
            return None;
        }
        let mut part = || -> Result<Range<usize>, Damaged> {
            let mut rest = &bucket[at..];
            let len = decode_varint(&mut rest).map_err(|_| Damaged(at))?;
            let start = bucket.len() - rest.len();
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| start.checked_add(len))
                .filter(|e| *e <= bucket.len());
            let end = end.ok_or(Damaged(at))?;
            at = end;
            Ok(start..end)
        };
        let entry = (|| {
            let slot = part()?;
            let slot_text =
                std::str::from_utf8(&bucket[slot.clone()]).map_err(|_| Damaged(slot.start))?;
            Ok((slot_text, part()?))
        })();
        if entry.is_err() {
            at = bucket.len();
        }
        Some(entry)
    })
}

/// The state in `slot` of `bucket`.
pub fn get<'a>(bucket: &'a [u8], slot: &str) -> Result<Option<&'a [u8]>, Damaged> {
    for entry in slots(bucket) {
        let (s, state) = entry?;
        if s == slot {
            return Ok(Some(&bucket[state]));
        }
    }
    Ok(None)
}

/// Every slot of `bucket` with its state, in slot order.
pub fn entries(bucket: &[u8]) -> impl Iterator<Item = Result<(&str, &[u8]), Damaged>> {
    slots(bucket).map(move |e| e.map(|(slot, state)| (slot, &bucket[state])))
}

/// A bucket's slots, decoded to be changed: each slot with its key state's encoding, in
/// slot order.
#[derive(Default)]
pub struct Slots {
    slots: Vec<(String, Vec<u8>)>,
    changed: bool,
}

impl Slots {
    /// The slots of a stored bucket's value.
    pub fn parse(bucket: &[u8]) -> Result<Slots, Damaged> {
        let slots = entries(bucket)
            .map(|e| e.map(|(slot, state)| (slot.to_string(), state.to_vec())))
            .collect::<Result<_, _>>()?;
        Ok(Slots {
            slots,
            changed: false,
        })
    }

    fn find(&self, slot: &str) -> Result<usize, usize> {
        self.slots.binary_search_by(|(s, _)| s.as_str().cmp(slot))
    }

    pub fn get(&self, slot: &str) -> Option<&[u8]> {
        self.find(slot).ok().map(|i| &self.slots[i].1[..])
    }

    /// Sets `slot` to `state`, replacing what it held.
    pub fn set(&mut self, slot: &str, state: Vec<u8>) {
        match self.find(slot) {
            Ok(i) => self.slots[i].1 = state,
            Err(i) => self.slots.insert(i, (slot.to_string(), state)),
        }
        self.changed = true;
    }

    /// Whether [`set`](Self::set) was called since the slots were parsed.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// The bucket's value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.slots.iter().map(|(s, v)| s.len() + v.len() + 4).sum());
        for (slot, state) in &self.slots {
            encode_varint(slot.len() as u64, &mut out);
            out.extend_from_slice(slot.as_bytes());
            encode_varint(state.len() as u64, &mut out);
            out.extend_from_slice(state);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_keys_share_a_bucket_by_all_but_their_last_digit() {
        assert_eq!(
            locate("420100-XZCF-2026-S00000123"),
            ("420100-XZCF-2026-S0000012", "3")
        );
        assert_eq!(locate("91420100MA4K0001X"), ("91420100MA4K0001X", ""));
        assert_eq!(locate("7"), ("", "7"));
        assert_eq!(locate("编号"), ("编号", ""));
        assert_eq!(locate(""), ("", ""));
    }

    #[test]
    fn slots_are_set_in_order_replaced_and_read_back() {
        let long = vec![7u8; 300];
        let mut slots = Slots::default();
        for (slot, state) in [
            ("5", &b"five"[..]),
            ("1", b"one"),
            ("9", b"nine"),
            ("", b"none"),
        ] {
            slots.set(slot, state.to_vec());
        }
        slots.set("5", b"FIVE".to_vec());
        slots.set("2", long.clone());
        let bucket = slots.encode();
        let all: Vec<(&str, &[u8])> = entries(&bucket).map(Result::unwrap).collect();
        assert_eq!(
            all,
            [
                ("", &b"none"[..]),
                ("1", b"one"),
                ("2", &long),
                ("5", b"FIVE"),
                ("9", b"nine")
            ]
        );
        // A state longer than one varint byte, and the slots after it.
        assert_eq!(get(&bucket, "2").unwrap(), Some(&long[..]));
        assert_eq!(get(&bucket, "9").unwrap(), Some(&b"nine"[..]));
        assert_eq!(get(&bucket, "3").unwrap(), None);
        // Parsed back, unchanged until set.
        let mut back = Slots::parse(&bucket).unwrap();
        assert!(!back.changed());
        assert_eq!(back.get("5"), Some(&b"FIVE"[..]));
        assert_eq!(back.encode(), bucket);
        back.set("3", b"three".to_vec());
        assert!(back.changed());
        assert_eq!(get(&back.encode(), "3").unwrap(), Some(&b"three"[..]));
    }

    #[test]
    fn a_damaged_bucket_is_an_error_never_a_panic() {
        let mut slots = Slots::default();
        slots.set("1", b"state".to_vec());
        let bucket = slots.encode();
        for cut in 1..bucket.len() {
            assert!(get(&bucket[..cut], "1").is_err(), "cut at {cut}");
            assert!(entries(&bucket[..cut]).any(|e| e.is_err()));
        }
        assert!(get(&[0xff; 12], "1").is_err());
        assert!(Slots::parse(&bucket[..bucket.len() - 1]).is_err());
        assert!(get(&[0x05, b'a'], "1").is_err());
    }
}
