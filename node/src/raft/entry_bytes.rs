//! Raft entries encoded once per node. A batch's entry is about half a megabyte of
//! records: the leader encodes it for its log and would again for every follower, and a
//! follower would decode it off the wire only to encode it again for its log. The log
//! writer and the Raft transport share this cache of recent encodings instead, keyed by
//! log id, so that a replaced entry (same index, another leader) never matches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Entry, LogId};

/// Encodings kept: enough for the entries between being appended and being replicated
/// (an entry can be a few MB).
const KEPT: usize = 16;

/// Encodings by log index, each with the log id it encodes.
type Kept = BTreeMap<u64, (LogId, Arc<Vec<u8>>)>;

#[derive(Clone, Default)]
pub struct EntryBytes(Arc<Mutex<Kept>>);

impl EntryBytes {
    /// The entry's encoding, from the cache or made now and kept.
    pub fn encode(&self, entry: &Entry) -> Result<Arc<Vec<u8>>, crate::codec::Error> {
        if let Some(bytes) = self.get(&entry.log_id) {
            return Ok(bytes);
        }
        let bytes = Arc::new(crate::codec::try_encode(entry)?);
        self.keep(entry.log_id, Arc::clone(&bytes));
        Ok(bytes)
    }

    /// Decodes an entry received from the leader, keeping its encoding for the log.
    pub fn decode(&self, bytes: Vec<u8>) -> Result<Entry, crate::codec::Error> {
        let entry: Entry = crate::codec::decode(&bytes)?;
        self.keep(entry.log_id, Arc::new(bytes));
        Ok(entry)
    }

    fn get(&self, log_id: &LogId) -> Option<Arc<Vec<u8>>> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&log_id.index)
            .filter(|(id, _)| id == log_id)
            .map(|(_, bytes)| Arc::clone(bytes))
    }

    fn keep(&self, log_id: LogId, bytes: Arc<Vec<u8>>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(log_id.index, (log_id, bytes));
        while kept.len() > KEPT {
            kept.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[test]
    fn an_entry_is_encoded_once_and_a_replaced_one_never_matches() {
        let cache = EntryBytes::default();
        let first = cache.encode(&entry(1, 5)).unwrap();
        assert_eq!(*first, crate::codec::try_encode(&entry(1, 5)).unwrap());
        assert!(Arc::ptr_eq(&first, &cache.encode(&entry(1, 5)).unwrap()));
        // Another leader's entry at the same index: encoded afresh, never the old bytes.
        let replaced = cache.encode(&entry(2, 5)).unwrap();
        assert_eq!(*replaced, crate::codec::try_encode(&entry(2, 5)).unwrap());
        // A follower keeps what it received and logs those very bytes.
        let follower = EntryBytes::default();
        let received = follower.decode(replaced.to_vec()).unwrap();
        assert_eq!(received.log_id, entry(2, 5).log_id);
        assert_eq!(*follower.encode(&received).unwrap(), *replaced);
        // Bounded.
        for i in 0..100 {
            cache.encode(&entry(3, i)).unwrap();
        }
        assert!(cache.0.lock().unwrap().len() <= KEPT);
    }
}
