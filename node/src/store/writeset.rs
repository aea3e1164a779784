//! A set of state-machine writes with read-your-writes, committed atomically.

use std::collections::BTreeMap;

use prost::encoding::{decode_varint, encode_varint};
use sled::IVec;

/// Writes collected while applying Raft entries; `None` deletes the key.
///
/// Keys and values are held as sled's own byte strings, shared by reference count: the
/// set is handed to sled while it stays readable (see `behind.rs`), and a copy of every
/// key and value for that was a tenth of the committer thread's time.
#[derive(Default, Debug)]
pub struct WriteSet {
    writes: BTreeMap<IVec, Option<IVec>>,
}

impl WriteSet {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key.into(), Some(value.into()));
    }

    /// [`put`](Self::put) of a value still in a buffer of the caller's: copied once.
    pub fn put_slice(&mut self, key: Vec<u8>, value: &[u8]) {
        self.writes.insert(key.into(), Some(value.into()));
    }

    /// [`put`](Self::put) of a value in the node's byte encoding (`crate::codec`),
    /// copied once out of the encoder's buffer.
    pub fn put_value<T: serde::Serialize + ?Sized>(&mut self, key: Vec<u8>, value: &T) {
        crate::codec::encode_with(value, |bytes| self.put_slice(key, bytes));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key.into(), None);
    }

    /// `Some(Some(v))` written here, `Some(None)` deleted here, `None` untouched here.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(|v| v.as_deref())
    }

    /// Every write: the key and its new value, `None` for a delete.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.writes.iter().map(|(k, v)| (&k[..], v.as_deref()))
    }

    /// The keys this set gives a value (not those it deletes).
    pub(super) fn written_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.writes
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| &k[..])
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Bytes of the keys and values written.
    pub fn bytes(&self) -> usize {
        self.writes
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Every write as sled's byte strings, to share.
    pub(super) fn shared(&self) -> impl Iterator<Item = (&IVec, &Option<IVec>)> {
        self.writes.iter()
    }

    /// Adds `other`'s writes, which win over this set's.
    pub fn extend(&mut self, other: WriteSet) {
        self.writes.extend(other.writes);
    }

    /// A key's write here, shared: `Some(None)` deleted here, `None` untouched here.
    pub fn lookup(&self, key: &[u8]) -> Option<Option<IVec>> {
        self.writes.get(key).cloned()
    }

    /// The writes as bytes, for a log entry: each is `varint(key length) key`, then
    /// `0` for a delete or `1 varint(value length) value`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 8 * self.writes.len());
        for (key, value) in &self.writes {
            encode_varint(key.len() as u64, &mut out);
            out.extend_from_slice(key);
            match value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    encode_varint(value.len() as u64, &mut out);
                    out.extend_from_slice(value);
                }
            }
        }
        out
    }

    /// The writes [`encode`](Self::encode) made, or where the bytes stop making sense.
    pub fn decode(mut bytes: &[u8]) -> Result<WriteSet, String> {
        let total = bytes.len();
        let mut writes = BTreeMap::new();
        let at = |rest: &[u8]| total - rest.len();
        let take = |rest: &mut &[u8]| -> Result<IVec, String> {
            let start = at(rest);
            let len = decode_varint(rest).map_err(|_| format!("a bad length at byte {start}"))?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= rest.len())
                .ok_or_else(|| format!("a length past the end at byte {start}"))?;
            let (value, tail) = rest.split_at(len);
            *rest = tail;
            Ok(IVec::from(value))
        };
        while !bytes.is_empty() {
            let key = take(&mut bytes)?;
            let value = match bytes.split_first() {
                Some((0, tail)) => {
                    bytes = tail;
                    None
                }
                Some((1, tail)) => {
                    bytes = tail;
                    Some(take(&mut bytes)?)
                }
                _ => return Err(format!("a bad tag at byte {}", at(bytes))),
            };
            writes.insert(key, value);
        }
        Ok(WriteSet { writes })
    }

    /// The writes as a sled batch.
    pub(super) fn to_batch(&self) -> sled::Batch {
        batch_of(&self.writes)
    }
}

/// `writes` (a key's value, `None` deleting it) as a sled batch, sharing their bytes.
pub(super) fn batch_of<'a>(
    writes: impl IntoIterator<Item = (&'a IVec, &'a Option<IVec>)>,
) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(value) => batch.insert(key.clone(), value.clone()),
            None => batch.remove(key.clone()),
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_survive_their_encoding_and_damage_is_named() {
        let mut set = WriteSet::default();
        set.put(b"a".to_vec(), b"one".to_vec());
        set.delete(b"b".to_vec());
        set.put(b"c".to_vec(), vec![7; 300]);
        set.put(b"empty".to_vec(), Vec::new());
        let bytes = set.encode();
        let back = WriteSet::decode(&bytes).unwrap();
        assert_eq!(back.writes, set.writes);
        assert!(WriteSet::decode(&[]).unwrap().is_empty());
        for cut in 1..bytes.len() {
            if let Ok(partial) = WriteSet::decode(&bytes[..cut]) {
                // A cut between two writes decodes the writes before it.
                assert!(partial.len() < set.len(), "cut at {cut}");
            }
        }
        let mut bad = bytes.clone();
        bad[2] = 9; // the tag after key "a"
        assert_eq!(WriteSet::decode(&bad).unwrap_err(), "a bad tag at byte 2");
        let mut later = WriteSet::default();
        later.put(b"b".to_vec(), b"two".to_vec());
        set.extend(later);
        assert_eq!(set.lookup(b"b"), Some(Some(IVec::from(&b"two"[..]))));
        assert_eq!(set.lookup(b"zzz"), None);
    }
}
