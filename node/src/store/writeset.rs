//! A set of state-machine writes with read-your-writes, committed atomically.

use std::collections::BTreeMap;

/// Writes collected while applying Raft entries; `None` deletes the key.
#[derive(Default, Debug)]
pub struct WriteSet {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl WriteSet {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// `Some(Some(v))` written here, `Some(None)` deleted here, `None` untouched here.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(|v| v.as_deref())
    }

    /// Every write: the key and its new value, `None` for a delete.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.writes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    /// The keys this set gives a value (not those it deletes).
    pub(super) fn written_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.writes
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.as_slice())
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Bytes of the keys and values written.
    pub fn bytes(&self) -> usize {
        self.writes
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes as a sled batch, copied: the set stays readable while sled applies it.
    pub(super) fn to_batch(&self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in &self.writes {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        batch
    }

    pub(super) fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in self.writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch
    }
}
