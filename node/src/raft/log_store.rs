//! The Raft log and vote on sled. An append is reported to openraft only once the store
//! has made it durable (see [`crate::store::Durability`]); the vote is durable before
//! `save_vote` returns.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, Vote};

use super::{storage_error, Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::store::Store;

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

#[derive(Clone)]
pub struct LogStore {
    store: Store,
    /// The most recently appended entries, decoded: openraft reads each entry back to
    /// apply it right after appending it, and decoding a batch of a thousand records
    /// again costs more than keeping it.
    recent: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

/// Entries kept decoded in memory.
const RECENT_ENTRIES: usize = 64;

impl LogStore {
    pub fn new(store: Store) -> Self {
        LogStore {
            store,
            recent: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        // A poisoned lock only means another thread panicked while holding it; the map
        // itself is a cache and stays consistent (inserts and removes are single calls).
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let bytes = self
            .store
            .meta_get(key)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e))?;
        bytes
            .map(|b| crate::codec::decode(&b))
            .transpose()
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e))
    }

    fn write_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = crate::codec::try_encode(value)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.store
            .meta_put(key, &bytes)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    /// Runs `f` on a blocking thread: sled calls and syncs must not stall the runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Store) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store))
            .await
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))?
    }
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    crate::codec::decode(bytes).map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        // Served from memory when the whole range is there (the common case: applying
        // what was just appended).
        {
            let recent = self.recent();
            let start = match range.start_bound() {
                Bound::Included(i) => *i,
                Bound::Excluded(i) => i + 1,
                Bound::Unbounded => 0,
            };
            let cached: Vec<Entry> = recent
                .range(range.clone())
                .map(|(_, e)| e.clone())
                .collect();
            let contiguous = cached.first().is_some_and(|e| e.log_id.index == start)
                && cached
                    .windows(2)
                    .all(|w| w[1].log_id.index == w[0].log_id.index + 1);
            let end_ok = match range.end_bound() {
                Bound::Included(i) => cached.last().is_some_and(|e| e.log_id.index == *i),
                Bound::Excluded(i) => cached.last().is_some_and(|e| e.log_id.index + 1 == *i),
                Bound::Unbounded => false,
            };
            if contiguous && end_ok {
                return Ok(cached);
            }
        }
        let raw = self
            .store
            .log_range(range)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        raw.iter().map(|b| decode_entry(b)).collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.read_meta(LAST_PURGED)?;
        let last = self
            .store
            .log_last()
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        let last_log_id = match last {
            Some(bytes) => Some(decode_entry(&bytes)?.log_id),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes = crate::codec::try_encode(vote)
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        self.blocking(move |store| {
            store
                .meta_put(VOTE, &bytes)
                .and_then(|_| store.sync())
                .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.read_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: after a crash openraft may re-apply from an older committed id,
        // which the state machine's last-applied id makes harmless.
        self.write_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let started = std::time::Instant::now();
        let mut encoded = Vec::new();
        let mut decoded = Vec::new();
        for entry in entries {
            let bytes = crate::codec::try_encode(&entry)
                .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            encoded.push((entry.log_id.index, bytes));
            decoded.push(entry);
        }
        let encode_ms = started.elapsed().as_millis() as u64;
        let bytes: usize = encoded.iter().map(|(_, b)| b.len()).sum();
        let result = self
            .blocking(move |store| {
                let t = std::time::Instant::now();
                let r = store.log_append(encoded.iter().map(|(i, b)| (*i, b.as_slice())));
                let insert_ms = t.elapsed().as_millis() as u64;
                let r = r.and_then(|_| store.sync());
                tracing::debug!(
                    bytes,
                    encode_ms,
                    insert_ms,
                    sync_ms = t.elapsed().as_millis() as u64 - insert_ms,
                    "Log appended."
                );
                r.map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))
            })
            .await;
        if result.is_ok() {
            let mut recent = self.recent();
            for entry in decoded {
                recent.insert(entry.log_id.index, entry);
            }
            while recent.len() > RECENT_ENTRIES {
                recent.pop_first();
            }
        }
        // Only now are the entries durable: tell openraft.
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.recent().retain(|index, _| *index < log_id.index);
        self.blocking(move |store| {
            store
                .log_truncate_from(log_id.index)
                .and_then(|_| store.sync())
                .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.recent().retain(|index, _| *index > log_id.index);
        self.write_meta(LAST_PURGED, &log_id)?;
        self.blocking(move |store| {
            store
                .log_purge_upto(log_id.index)
                .and_then(|_| store.sync())
                .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
        })
        .await
    }
}
