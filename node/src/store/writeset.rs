//! A set of state-machine writes with read-your-writes, committed atomically.

use std::collections::BTreeMap;

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
