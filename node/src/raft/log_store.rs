//! The Raft log (the store's segment files) and the vote (sled). An append is reported to
//! openraft only once the store has made it durable (see [`crate::store::Durability`]);
//! the vote is durable before `save_vote` returns.
//!
//! Appends are written by one thread of their own, so that openraft goes on (replicating,
//! committing, applying) while the disk syncs: `append` queues the entries and returns,
//! and the writer takes everything queued since its last sync, writes it with one write
//! and one sync and only then reports each append durable (group commit). Until then the
//! entries are read from memory; anything that reads or changes the log on disk first
//! waits for the writer to catch up.
//!
//! The writer also records openraft's committed log id and purges the log, in the order
//! they were asked for. openraft's core calls the log store from its one task, and sled
//! makes every insert wait while any batch is being applied (its concurrency control is
//! one lock for the whole process): a committed id written from that task stalled the
//! group for as long as the state machine's last batch took to commit.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader, Vote};
use tokio::sync::watch;

use super::entry_bytes::EntryBytes;
use super::{storage_error, Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::store::Store;

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";

#[derive(Clone)]
pub struct LogStore {
    store: Store,
    /// The most recently appended entries, decoded: openraft reads each entry back to
    /// apply it right after appending it, and decoding a batch of a thousand records
    /// again costs more than keeping it. Entries queued for the writer are always here.
    recent: Arc<Mutex<BTreeMap<u64, Entry>>>,
    writer: Arc<Writer>,
    committed: Arc<Mutex<Committed>>,
}

/// openraft's committed log id as last saved, and when it last went to the writer.
#[derive(Default)]
struct Committed {
    latest: Option<Option<LogId>>,
    written: Option<std::time::Instant>,
}

/// How often the committed log id is written. openraft saves it at every commit; it is
/// only a hint for a restart (which re-applies from the state machine's last applied id
/// up to it), and each write waits for sled's lock, so one a second is kept.
const COMMITTED_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Entries kept decoded in memory. An entry can be a group of thousands of records
/// (several MB decoded), and the node's memory grew by hundreds of MB with 64 kept; a
/// handful cover the entries between append and apply (the proposer keeps two in
/// flight, a follower receives up to four per request).
const RECENT_ENTRIES: usize = 16;

/// Jobs queued and not yet done beyond which `append` waits for the writer, so that
/// every queued entry stays among the recent ones.
const MAX_QUEUED: u64 = RECENT_ENTRIES as u64 / 2;

/// One `append` call: its entries and openraft's callback for when they are durable.
struct Append {
    entries: Vec<Entry>,
    callback: LogFlushed<TypeConfig>,
}

/// Work for the writer, done in the order queued.
enum Job {
    Append(Append),
    /// openraft's committed log id, written with the next group and never synced for
    /// itself: after a crash openraft re-applies from the state machine's last applied id.
    Committed(Option<LogId>),
    /// Removes the log up to and including this id, recording it as purged first. The
    /// state machine holds these entries durably: openraft purges only behind a snapshot,
    /// which synced the state machine when it was saved.
    Purge(LogId),
}

/// How far the writer has got: jobs done (appends written and synced), of those queued,
/// or why it stopped.
#[derive(Clone, Debug, Default)]
struct Progress {
    done: u64,
    failed: Option<String>,
}

/// The writer thread's handle; the last clone of the log store stops it, after it has
/// written what was queued.
struct Writer {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    /// Jobs ever queued.
    queued: std::sync::atomic::AtomicU64,
    progress: watch::Receiver<Progress>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    fn start(store: Store, encoded: EntryBytes) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let (progress_tx, progress) = watch::channel(Progress::default());
        let thread = std::thread::Builder::new()
            .name("raft-log".into())
            .spawn(move || write_loop(&store, &encoded, &rx, &progress_tx))
            .expect("the operating system starts a thread for the Raft log writer");
        Writer {
            queue: Mutex::new(Some(tx)),
            queued: Default::default(),
            progress,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues `job`; answers how many jobs have been queued, this one included.
    fn queue(&self, job: Job) -> Result<u64, StorageError> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let sent = queue.as_ref().map(|tx| tx.send(job));
        match sent {
            Some(Ok(())) => Ok(self
                .queued
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1),
            _ => Err(log_error(
                ErrorVerb::Write,
                "the Raft log writer has stopped".into(),
            )),
        }
    }

    /// Waits until the `n`th job queued is done (for an append: durable).
    async fn wait_done(&self, n: u64) -> Result<(), StorageError> {
        let mut progress = self.progress.clone();
        let reached = progress
            .wait_for(|p| p.done >= n || p.failed.is_some())
            .await
            .map(|p| p.failed.clone());
        match reached {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(log_error(ErrorVerb::Write, reason)),
            Err(_) => Err(log_error(
                ErrorVerb::Write,
                "the Raft log writer has stopped".into(),
            )),
        }
    }

    /// Waits until every job queued so far is done.
    async fn catch_up(&self) -> Result<(), StorageError> {
        let n = self.queued.load(std::sync::atomic::Ordering::SeqCst);
        self.wait_done(n).await
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn log_error(verb: ErrorVerb, reason: String) -> StorageError {
    storage_error(ErrorSubject::Logs, verb, std::io::Error::other(reason))
}

/// The writer: everything queued since the last sync, its appends with one write and
/// one sync.
fn write_loop(
    store: &Store,
    encoded: &EntryBytes,
    rx: &mpsc::Receiver<Job>,
    progress: &watch::Sender<Progress>,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let n = jobs.len() as u64;
        let mut group = Vec::with_capacity(jobs.len());
        let mut committed = None;
        let mut purge = None;
        for job in jobs {
            match job {
                Job::Append(append) => group.push(append),
                Job::Committed(id) => committed = Some(id),
                Job::Purge(id) => purge = Some(id),
            }
        }
        let started = std::time::Instant::now();
        let written = write_meta_jobs(store, committed, purge)
            .and_then(|()| write_group(store, encoded, &group));
        if !group.is_empty() {
            tracing::debug!(
                appends = group.len(),
                entries = group.iter().map(|a| a.entries.len()).sum::<usize>(),
                bytes = written.as_ref().map_or(0, |b| *b),
                ms = started.elapsed().as_millis() as u64,
                "Log appended."
            );
        }
        let failed = written.as_ref().err().map(|e| e.to_string());
        for append in group {
            let result = match &failed {
                None => Ok(()),
                Some(reason) => Err(std::io::Error::other(reason.clone())),
            };
            // Only now are the entries durable: tell openraft.
            append.callback.log_io_completed(result);
        }
        progress.send_modify(|p| match failed {
            None => p.done += n,
            Some(reason) => p.failed = Some(reason),
        });
        if progress.borrow().failed.is_some() {
            tracing::error!("The Raft log could not be written; this node stops appending.");
            // Later appends are answered with the failure, never written.
            for job in rx.iter() {
                if let Job::Append(append) = job {
                    append.callback.log_io_completed(Err(std::io::Error::other(
                        "the Raft log writer has stopped",
                    )));
                }
            }
            return;
        }
    }
}

/// The latest committed id and purge of a group of jobs. A purge only ever removes
/// entries that were applied, so it never touches the appends queued with it.
fn write_meta_jobs(
    store: &Store,
    committed: Option<Option<LogId>>,
    purge: Option<LogId>,
) -> Result<(), String> {
    let put = |key: &str, bytes: Vec<u8>| store.meta_put(key, &bytes).map_err(|e| e.to_string());
    if let Some(committed) = committed {
        put(COMMITTED, crate::codec::encode(&committed))?;
    }
    if let Some(log_id) = purge {
        store
            .log_purge_upto(log_id.index, &crate::codec::encode(&log_id))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes the entries of `group` durably; answers their encoded bytes.
fn write_group(store: &Store, cache: &EntryBytes, group: &[Append]) -> Result<usize, String> {
    if group.is_empty() {
        return Ok(0);
    }
    let mut encoded = Vec::new();
    for entry in group.iter().flat_map(|a| &a.entries) {
        let bytes = cache
            .encode(entry)
            .map_err(|e| format!("log entry {} does not encode: {e}", entry.log_id.index))?;
        encoded.push((entry.log_id.index, bytes));
    }
    store
        .log_append(encoded.iter().map(|(i, b)| (*i, b.as_slice())))
        .map_err(|e| e.to_string())?;
    Ok(encoded.iter().map(|(_, b)| b.len()).sum())
}

impl LogStore {
    /// A log store on `store`, sharing encoded entries with the Raft transport.
    pub fn new(store: Store, encoded: EntryBytes) -> Self {
        LogStore {
            writer: Arc::new(Writer::start(store.clone(), encoded)),
            store,
            recent: Arc::new(Mutex::new(BTreeMap::new())),
            committed: Default::default(),
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
        // Not all in memory: read the disk, once the queued entries are on it.
        self.writer.catch_up().await?;
        let raw = self
            .store
            .log_range(range)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        raw.iter().map(|b| decode_entry(b)).collect()
    }

    /// Entries `start..end`, cut once they hold [`REPLICATION_RECORDS`] records.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let mut entries = self.try_get_log_entries(start..end).await?;
        let mut records = 0;
        let keep = entries
            .iter()
            .position(|entry| {
                records += match &entry.payload {
                    openraft::EntryPayload::Normal(command) => super::proposer::weight(command),
                    _ => 1,
                };
                records > REPLICATION_RECORDS
            })
            .map_or(entries.len(), |i| i.max(1));
        entries.truncate(keep);
        Ok(entries)
    }
}

/// Records of the entries one AppendEntries carries at most (beyond its first entry):
/// openraft must send and the follower sync them within one heartbeat interval.
const REPLICATION_RECORDS: usize = super::proposer::GROUP_RECORDS;

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.writer.catch_up().await?;
        let last_purged: Option<LogId> = self
            .store
            .log_purge_mark()
            .map(|b| crate::codec::decode(&b))
            .transpose()
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
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
        // Written by the writer, at most once a second, not synced: after a crash openraft
        // re-applies up to an older committed id and learns the rest from the group, and
        // the state machine's last-applied id makes re-applying harmless.
        let due = {
            let mut c = self.committed.lock().unwrap_or_else(|e| e.into_inner());
            c.latest = Some(committed);
            let due = c.written.is_none_or(|at| at.elapsed() >= COMMITTED_EVERY);
            if due {
                c.written = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            self.writer.queue(Job::Committed(committed))?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let saved = self
            .committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latest;
        match saved {
            Some(committed) => Ok(committed),
            None => Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten()),
        }
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        {
            let mut recent = self.recent();
            for entry in &entries {
                recent.insert(entry.log_id.index, entry.clone());
            }
            while recent.len() > RECENT_ENTRIES {
                recent.pop_first();
            }
        }
        let n = self
            .writer
            .queue(Job::Append(Append { entries, callback }))?;
        // Keep the queue shorter than the recent entries, which serve reads until the
        // writer has written them.
        if n > MAX_QUEUED {
            self.writer.wait_done(n - MAX_QUEUED).await?;
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Queued entries reach the disk first, so none is written after the truncation.
        self.writer.catch_up().await?;
        self.recent().retain(|index, _| *index < log_id.index);
        self.blocking(move |store| {
            store
                .log_truncate_from(log_id.index)
                .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.recent().retain(|index, _| *index > log_id.index);
        self.writer.queue(Job::Purge(log_id)).map(drop)
    }
}
