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
            let (len, used) = varint(&bucket[at..]).ok_or(Damaged(at))?;
            let start = at + used;
            let end = start.checked_add(len).filter(|e| *e <= bucket.len());
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

/// Appends one slot to a bucket's value; slots go in slot order.
pub fn put(out: &mut Vec<u8>, slot: &str, state: &[u8]) {
    put_varint(out, slot.len());
    out.extend_from_slice(slot.as_bytes());
    put_varint(out, state.len());
    out.extend_from_slice(state);
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A LEB128 number at the start of `bytes`, and the bytes it took.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut n: usize = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        n |= usize::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
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
    fn slots_are_read_back_by_name_and_in_order() {
        let long = vec![7u8; 300];
        let mut bucket = Vec::new();
        for (slot, state) in [
            ("", &b"none"[..]),
            ("1", b"one"),
            ("2", &long),
            ("9", b"nine"),
        ] {
            put(&mut bucket, slot, state);
        }
        let all: Vec<(&str, &[u8])> = entries(&bucket).map(Result::unwrap).collect();
        assert_eq!(
            all,
            [
                ("", &b"none"[..]),
                ("1", b"one"),
                ("2", &long),
                ("9", b"nine")
            ]
        );
        // A state longer than one varint byte, and the slot after it.
        assert_eq!(get(&bucket, "2").unwrap(), Some(&long[..]));
        assert_eq!(get(&bucket, "9").unwrap(), Some(&b"nine"[..]));
        assert_eq!(get(&bucket, "5").unwrap(), None);
    }

    #[test]
    fn a_damaged_bucket_is_an_error_never_a_panic() {
        let mut bucket = Vec::new();
        put(&mut bucket, "1", b"state");
        for cut in 1..bucket.len() {
            assert!(get(&bucket[..cut], "1").is_err(), "cut at {cut}");
            assert!(entries(&bucket[..cut]).any(|e| e.is_err()));
        }
        assert!(get(&[0xff; 12], "1").is_err());
        assert!(get(&[0x05, b'a'], "1").is_err());
    }
}
