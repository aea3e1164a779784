//! The node's only door to its disk: the Raft log (segment files of its own, `log.rs`), the
//! Raft metadata and the state machine's key space (sled), and what makes a write durable.
//! Nothing outside this module names sled or the log's files.
//!
//! Two things in memory spare the state machine reads of sled, whose reads wait while the
//! committer thread applies a batch (`behind.rs`): a filter of the record keys that surely
//! do not exist (`absent.rs`; most records applied are new) and the small values every
//! batch reads, counters and metadata (`hot.rs`).
//!
//! Durability: an append to the Raft log is one positioned write of its records and, for
//! [`Durability::Power`] (the default), one `fdatasync` of the segment file before it is
//! reported durable; [`Durability::Process`] leaves the bytes in the kernel's page cache,
//! which survives a crash or `kill -9` of the node but not a power loss. The state machine
//! needs no sync of its own: it is rebuilt from the log after a crash (its last applied
//! log id commits with its writes), and the log is purged only behind a snapshot, which
//! [`Store::sync`] made durable. sled 0.34 persists nothing until `flush`, and on Linux its
//! flush writes with `sync_file_range` and never calls `fdatasync`; its large values go to
//! blob files it never syncs (sled issue 1452). So [`Store::sync`], for the vote, a
//! snapshot and shutdown, is sled's flush followed, for [`Durability::Power`], by
//! `syncfs(2)` on the data directory's file system.

mod absent;
mod behind;
mod hot;
mod log;
mod writeset;

use std::fs::File;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use writeset::WriteSet;

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// What must be true of a write before the node acknowledges it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Written to the kernel: survives a crash of the node process, not of the machine.
    Process,
    /// Synced to the disk (`fdatasync` of the log, `syncfs` for sled): survives a power
    /// loss.
    #[default]
    Power,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes of on-disk size (sled's default is 1 GiB).
    pub cache_bytes: u64,
    pub durability: Durability,
    /// The state keys kept in a filter of keys that surely do not exist (see
    /// `absent.rs`): the record keys, most of which are read first when new.
    pub filtered_prefix: &'static [u8],
    /// The state keys whose values are kept in memory once read (see `hot.rs`): small
    /// values that every batch reads.
    pub hot_prefixes: &'static [&'static [u8]],
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 128 * 1024 * 1024,
            durability: Durability::Power,
            filtered_prefix: crate::state::keys::KEY_STATE_PREFIX,
            hot_prefixes: crate::state::keys::HOT_PREFIXES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store in {dir}: {source}")]
    Open { dir: PathBuf, source: sled::Error },
    #[error("store {op} failed: {source}")]
    Sled {
        op: &'static str,
        source: sled::Error,
    },
    #[error("cannot sync the store's file system ({dir}): {source}")]
    Sync {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the Raft log file {path}: cannot {doing}: {source}")]
    Log {
        path: PathBuf,
        doing: &'static str,
        source: std::io::Error,
    },
    #[error("the Raft log file {path} is damaged at byte {offset}: {reason}; the node cannot use this store without losing acknowledged entries: move the directory aside and start the node empty (a group member catches up from its group by snapshot), or restore it from a backup")]
    LogDamaged {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("cannot append entry {index} to the Raft log in {dir}: the log ends at entry {last}, and an append must follow it")]
    LogHole { dir: PathBuf, index: u64, last: u64 },
    #[error("the store stopped: {0}")]
    Behind(String),
    #[error(
        "the store in {dir} has store format {found}, and this build of regfed reads only format {FORMAT}; it cannot convert it: move the directory aside and start the node empty (a group member catches up from its group by snapshot)"
    )]
    Format { dir: PathBuf, found: u32 },
}

/// The layout of the values this build stores (the state machine's model and the Raft
/// log's entries). A store of another format is refused at open, never misread.
/// Format 1 (before the marker existed) kept a fingerprint in every key state; format 2
/// stored every field name as text; format 3 kept the Raft log in sled; format 4 kept
/// each record's key state under a key of its own (now in buckets, `state/bucket.rs`);
/// format 5 repeated a key state's data set, key, origin and first receipt in each of its
/// versions (now only where they differ, `state::KeyStateRef`).
pub const FORMAT: u32 = 6;
const FORMAT_KEY: &str = "store_format";

fn sled_err(op: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Sled { op, source }
}

/// A handle on the node's store. Cheap to clone; every clone sees the same data.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Raft log entries by index, in `raft-log/` beside sled's files.
    log: Arc<log::SegmentLog>,
    /// Raft metadata: vote, committed, the current snapshot.
    meta: sled::Tree,
    /// The state machine's key space; see `state::keys` for its layout.
    sm: sled::Tree,
    dir: PathBuf,
    durability: Durability,
    dir_handle: Arc<File>,
    /// State-machine writes handed to the committer and not yet all in sled.
    behind: Arc<behind::Behind>,
    _committer: Arc<behind::Committer>,
    /// Keys under `filtered_prefix` that surely do not exist.
    absent: Arc<absent::Absent>,
    _filler: Arc<Filler>,
    /// Values under `hot_prefixes` once read or written.
    hot: Arc<hot::Hot>,
}

impl Store {
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.into()))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // No background flush: the log is durable on its own, and the state machine's
            // writes are recovered from it.
            .flush_every_ms(None)
            .open()
            .map_err(open_err)?;
        let log = log::SegmentLog::open(
            &dir.join("raft-log"),
            options.durability == Durability::Power,
        )?;
        let meta = db.open_tree("raft_meta").map_err(open_err)?;
        let sm = db.open_tree("state").map_err(open_err)?;
        check_format(dir, log.is_empty(), &meta, &sm)?;
        let dir_handle = File::open(dir).map_err(|e| open_err(e.into()))?;
        let (committer, behind) =
            behind::Committer::start(sm.clone()).map_err(|e| open_err(e.into()))?;
        let absent = absent::Absent::new(options.filtered_prefix);
        let filler = Filler::start(sm.clone(), Arc::clone(&absent), options.filtered_prefix)
            .map_err(|e| open_err(e.into()))?;
        Ok(Store {
            db,
            log: Arc::new(log),
            meta,
            sm,
            dir: dir.to_path_buf(),
            durability: options.durability,
            dir_handle: Arc::new(dir_handle),
            behind,
            _committer: Arc::new(committer),
            absent,
            _filler: Arc::new(filler),
            hot: Arc::new(hot::Hot::new(options.hot_prefixes)),
        })
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Makes every sled write so far durable (metadata and the state machine's writes that
    /// reached sled), as [`Durability`] defines it; the log is durable on its own. Blocking:
    /// call it from `spawn_blocking` or a blocking section.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_err("flush"))?;
        if self.durability == Durability::Power {
            sync_file_system(&self.dir_handle).map_err(|source| StoreError::Sync {
                dir: self.dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0) + self.log.size()
    }

    // ---- Raft log -------------------------------------------------------------------

    /// Appends entries after the last one (an index already there replaces it and what
    /// follows), durably: see the module's note on durability.
    pub fn log_append<'a>(
        &self,
        entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> Result<(), StoreError> {
        self.log.append(entries)
    }

    pub fn log_range(&self, range: impl RangeBounds<u64>) -> Result<Vec<Vec<u8>>, StoreError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        self.log.range(start, end)
    }

    pub fn log_last(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.log.last()
    }

    /// Removes entries with index >= `from`, durably.
    pub fn log_truncate_from(&self, from: u64) -> Result<(), StoreError> {
        self.log.truncate_from(from)
    }

    /// Removes entries with index <= `upto`, recording `mark` (the caller's last purged
    /// log id) durably first.
    pub fn log_purge_upto(&self, upto: u64, mark: &[u8]) -> Result<(), StoreError> {
        self.log.purge_upto(upto, mark)
    }

    /// The mark recorded with the last purge, if the log was ever purged.
    pub fn log_purge_mark(&self) -> Option<Vec<u8>> {
        self.log.purge_mark()
    }

    // ---- Raft metadata --------------------------------------------------------------

    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(key)
            .map_err(sled_err("meta read"))?
            .map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let _first = self.behind.prioritize();
        self.meta
            .insert(key, value)
            .map_err(sled_err("meta write"))?;
        Ok(())
    }

    // ---- State machine --------------------------------------------------------------
    //
    // Writes either commit at once ([`Store::commit`]) or behind the caller
    // ([`Store::commit_behind`]); reads see both alike. See `behind.rs`.

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if self.absent.surely_absent(key) {
            return Ok(None);
        }
        let stamp = match self.hot.get(key) {
            hot::Lookup::Hit(value) => return Ok(value),
            hot::Lookup::Miss(stamp) => Some(stamp),
            hot::Lookup::Elsewhere => None,
        };
        let value = match self.behind.get(key)? {
            Some(in_flight) => in_flight,
            None => self
                .sm
                .get(key)
                .map_err(sled_err("read"))?
                .map(|v| v.to_vec()),
        };
        if let Some(stamp) = stamp {
            self.hot.fill(key, value.as_deref(), stamp);
        }
        Ok(value)
    }

    /// Key-value pairs whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Result<Pair, StoreError>> {
        let settled = self.behind.settle();
        owned_pairs(settled, self.sm.scan_prefix(prefix), "scan")
    }

    /// Key-value pairs with `start <= key < end`, in key order.
    pub fn scan_range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> impl Iterator<Item = Result<Pair, StoreError>> {
        let settled = self.behind.settle();
        owned_pairs(settled, self.sm.range(start.to_vec()..end.to_vec()), "scan")
    }

    /// The last key-value pair with `start <= key < end`.
    pub fn last_in_range(&self, start: &[u8], end: &[u8]) -> Result<Option<Pair>, StoreError> {
        self.behind.settle()?;
        match self.sm.range(start.to_vec()..end.to_vec()).next_back() {
            None => Ok(None),
            Some(r) => r
                .map(|(k, v)| Some((k.to_vec(), v.to_vec())))
                .map_err(sled_err("scan")),
        }
    }

    /// Applies every write of `set` atomically: after a crash, all or none of it is there.
    /// Waits for the writes committed behind before it, so that sled gets them in order.
    pub fn commit(&self, set: WriteSet) -> Result<(), StoreError> {
        self.behind.settle()?;
        self.absent.add(set.written_keys());
        let hot = self.hot.covered(&set);
        self.sm
            .apply_batch(set.to_batch())
            .map_err(sled_err("commit"))?;
        // Cached once readable elsewhere: see `hot.rs`.
        self.hot.write(&hot);
        Ok(())
    }

    /// Like [`Store::commit`], but returns as soon as the writes are handed to the
    /// committer thread: every read sees them at once, sled gets them in order, each set
    /// atomically. Nothing is durable until a later [`Store::sync`] after they reach sled,
    /// so only writes that can be recomputed (the state machine's, replayed from the
    /// Raft log) may be committed this way.
    pub fn commit_behind(&self, set: WriteSet) -> Result<(), StoreError> {
        self.absent.add(set.written_keys());
        self.behind.hand_over(&set)?;
        self.hot.write(&set);
        Ok(())
    }

    /// Waits until every write committed behind so far is in sled.
    pub fn settle(&self) -> Result<(), StoreError> {
        self.behind.settle()
    }

    /// Every key-value pair of the state machine, for a snapshot.
    pub fn dump(&self) -> impl Iterator<Item = Result<Pair, StoreError>> {
        let settled = self.behind.settle();
        owned_pairs(settled, self.sm.iter(), "dump")
    }

    /// Replaces the whole state machine with `pairs` (installing a snapshot).
    pub fn replace_all(&self, pairs: impl IntoIterator<Item = Pair>) -> Result<(), StoreError> {
        self.behind.settle()?;
        let generation = self.absent.reset();
        self.hot.clear();
        self.sm.clear().map_err(sled_err("clear"))?;
        let mut batch = sled::Batch::default();
        let mut n = 0usize;
        for (k, v) in pairs {
            self.absent.add([k.as_slice()]);
            batch.insert(k, v);
            n += 1;
            if n.is_multiple_of(10_000) {
                self.sm
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(sled_err("install"))?;
            }
        }
        self.sm.apply_batch(batch).map_err(sled_err("install"))?;
        self.hot.clear();
        self.absent.complete(generation);
        Ok(())
    }
}

/// Keys the filling thread adds to the filter at a time.
const FILL_CHUNK: usize = 4096;

/// The thread that fills the filter of absent keys with the keys a store holds when it
/// opens; the last handle on the store stops it.
struct Filler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Filler {
    fn start(
        sm: sled::Tree,
        absent: Arc<absent::Absent>,
        prefix: &'static [u8],
    ) -> std::io::Result<Filler> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("key-filter".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let generation = absent.generation();
                let mut chunk = Vec::with_capacity(FILL_CHUNK);
                for key in sm.scan_prefix(prefix).keys() {
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    match key {
                        Ok(key) => chunk.push(key),
                        Err(e) => {
                            tracing::warn!(error = %e, "Reading the record keys for the filter of absent keys failed; every record read searches the store.");
                            return;
                        }
                    }
                    if chunk.len() == FILL_CHUNK {
                        absent.add(chunk.iter().map(|k| k.as_ref()));
                        chunk.clear();
                    }
                }
                absent.add(chunk.iter().map(|k| k.as_ref()));
                absent.complete(generation);
                tracing::debug!(
                    keys = absent.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "Filter of absent keys ready."
                );
            })?;
        Ok(Filler {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The pairs of a state-tree scan begun once the writes committed behind were `settled`,
/// owned; a failed committer's reason comes first.
fn owned_pairs(
    settled: Result<(), StoreError>,
    scan: sled::Iter,
    op: &'static str,
) -> impl Iterator<Item = Result<Pair, StoreError>> {
    settled.err().map(Err).into_iter().chain(scan.map(move |r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(sled_err(op))
    }))
}

/// Marks a new store with [`FORMAT`]; refuses a store of another format, or one written
/// before stores were marked.
fn check_format(
    dir: &Path,
    log_empty: bool,
    meta: &sled::Tree,
    sm: &sled::Tree,
) -> Result<(), StoreError> {
    let sled_failed = |source| StoreError::Open {
        dir: dir.to_path_buf(),
        source,
    };
    let refuse = |found| StoreError::Format {
        dir: dir.to_path_buf(),
        found,
    };
    match meta.get(FORMAT_KEY).map_err(sled_failed)? {
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_ref()).map_or(0, u32::from_be_bytes);
            if found == FORMAT {
                Ok(())
            } else {
                Err(refuse(found))
            }
        }
        None if log_empty && meta.is_empty() && sm.is_empty() => {
            meta.insert(FORMAT_KEY, &FORMAT.to_be_bytes())
                .map_err(sled_failed)?;
            tracing::debug!(dir = %dir.display(), format = FORMAT, "New store.");
            Ok(())
        }
        None => Err(refuse(1)),
    }
}

#[cfg(target_os = "linux")]
fn sync_file_system(dir: &File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: syncfs takes any open descriptor of the file system; `dir` outlives the call.
    let ret = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_file_system(dir: &File) -> std::io::Result<()> {
    dir.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The store at `dir` opened again once the handle just dropped has let go of it:
    /// sled's own threads may hold its lock for a moment after the drop.
    pub(crate) fn reopen(dir: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match Store::open(dir, &StoreOptions::default()) {
                Ok(store) => return store,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "The store is still held.");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("the store at {} stays held: {e}", dir.display()),
            }
        }
    }

    #[test]
    fn log_append_range_truncate_purge() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let entries: Vec<(u64, Vec<u8>)> = (1..=5).map(|i| (i, vec![i as u8])).collect();
        store
            .log_append(entries.iter().map(|(i, v)| (*i, v.as_slice())))
            .unwrap();
        assert_eq!(store.log_range(2..4).unwrap(), vec![vec![2], vec![3]]);
        store.log_truncate_from(4).unwrap();
        assert_eq!(store.log_last().unwrap(), Some(vec![3]));
        store.log_purge_upto(1, b"1").unwrap();
        assert_eq!(store.log_range(..).unwrap(), vec![vec![2], vec![3]]);
        store.sync().unwrap();
    }

    #[test]
    fn writes_committed_behind_are_read_at_once_and_reach_sled_in_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            let mut first = WriteSet::default();
            first.put(b"k/1".to_vec(), b"one".to_vec());
            first.put(b"k/2".to_vec(), b"two".to_vec());
            store.commit_behind(first).unwrap();
            // Later sets shadow earlier ones, deletes included, for point and range reads.
            for i in 0..20u32 {
                let mut set = WriteSet::default();
                set.put(b"k/1".to_vec(), i.to_be_bytes().to_vec());
                set.delete(b"k/2".to_vec());
                set.put(format!("n/{i:02}").into_bytes(), vec![1]);
                store.commit_behind(set).unwrap();
                assert_eq!(store.get(b"k/1").unwrap(), Some(i.to_be_bytes().to_vec()));
                assert_eq!(store.get(b"k/2").unwrap(), None);
            }
            assert_eq!(store.scan_prefix(b"n/").count(), 20);
            assert_eq!(store.scan_prefix(b"k/").count(), 1);
            // A synchronous commit lands after everything handed over before it.
            let mut last = WriteSet::default();
            last.put(b"k/1".to_vec(), b"last".to_vec());
            store.commit(last).unwrap();
            store.sync().unwrap();
        }
        // Dropping the store finished the committer: everything is in sled.
        let store = reopen(dir.path());
        assert_eq!(store.get(b"k/1").unwrap(), Some(b"last".to_vec()));
        assert_eq!(store.get(b"k/2").unwrap(), None);
        assert_eq!(store.scan_prefix(b"n/").count(), 20);
    }

    #[test]
    fn the_committer_waits_while_a_metadata_write_is_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let held = store.behind.prioritize();
        let mut set = WriteSet::default();
        set.put(b"k/1".to_vec(), b"one".to_vec());
        store.commit_behind(set).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        // Readers see the set at once; sled gets it only once the metadata write is done.
        assert_eq!(store.get(b"k/1").unwrap(), Some(b"one".to_vec()));
        assert_eq!(store.sm.get(b"k/1").unwrap(), None);
        drop(held);
        store.settle().unwrap();
        assert_eq!(store.sm.get(b"k/1").unwrap().as_deref(), Some(&b"one"[..]));
    }

    #[test]
    fn a_store_of_another_format_is_refused_with_a_sentence() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), &StoreOptions::default()).unwrap());
        // Reopening a store of this format works.
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        store.meta_put(FORMAT_KEY, &1u32.to_be_bytes()).unwrap();
        store.sync().unwrap();
        drop(store);
        let refused = Store::open(dir.path(), &StoreOptions::default())
            .err()
            .expect("a format-1 store is refused");
        let message = refused.to_string();
        assert!(message.contains("store format 1"), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );

        // A store written before the marker existed: data, no marker.
        let old = tempfile::tempdir().unwrap();
        {
            let db = sled::open(old.path()).unwrap();
            db.open_tree("state")
                .unwrap()
                .insert(b"key/x", b"v")
                .unwrap();
            db.flush().unwrap();
        }
        let refused = Store::open(old.path(), &StoreOptions::default()).err();
        assert!(matches!(refused, Some(StoreError::Format { found: 1, .. })));
    }

    #[test]
    fn record_keys_and_hot_values_are_right_after_reopen_and_after_a_snapshot_install() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            let mut set = WriteSet::default();
            set.put(b"key/action/A1".to_vec(), b"one".to_vec());
            set.put(b"ctr/420100/d/2026-11-28".to_vec(), b"1".to_vec());
            store.commit_behind(set).unwrap();
            assert_eq!(store.get(b"key/action/A1").unwrap(), Some(b"one".to_vec()));
            assert_eq!(store.get(b"key/action/A2").unwrap(), None);
            assert_eq!(
                store.get(b"ctr/420100/d/2026-11-28").unwrap(),
                Some(b"1".to_vec())
            );
        }
        let store = reopen(dir.path());
        // The filter is filled from the keys on disk, in the background.
        let waited = std::time::Instant::now();
        while !store.absent.surely_absent(b"key/action/never") {
            assert!(waited.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(store.get(b"key/action/A1").unwrap(), Some(b"one".to_vec()));
        assert_eq!(store.get(b"key/action/A2").unwrap(), None);
        // Read once: now cached.
        assert_eq!(
            store.get(b"ctr/420100/d/2026-11-28").unwrap(),
            Some(b"1".to_vec())
        );
        store
            .replace_all(vec![
                (b"key/action/B1".to_vec(), b"b".to_vec()),
                (b"ctr/420100/d/2026-11-28".to_vec(), b"7".to_vec()),
            ])
            .unwrap();
        assert_eq!(store.get(b"key/action/A1").unwrap(), None);
        assert_eq!(store.get(b"key/action/B1").unwrap(), Some(b"b".to_vec()));
        assert_eq!(
            store.get(b"ctr/420100/d/2026-11-28").unwrap(),
            Some(b"7".to_vec())
        );
        // A synchronous commit reaches the cache too.
        let mut set = WriteSet::default();
        set.delete(b"ctr/420100/d/2026-11-28".to_vec());
        store.commit(set).unwrap();
        assert_eq!(store.get(b"ctr/420100/d/2026-11-28").unwrap(), None);
    }

    #[test]
    fn commit_is_visible_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            let mut set = WriteSet::default();
            set.put(b"a/1".to_vec(), b"one".to_vec());
            set.put(b"a/2".to_vec(), b"two".to_vec());
            set.put(b"b/1".to_vec(), b"three".to_vec());
            store.commit(set).unwrap();
            store.sync().unwrap();
        }
        let store = reopen(dir.path());
        let a: Vec<_> = store.scan_prefix(b"a/").map(|r| r.unwrap().1).collect();
        assert_eq!(a, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(
            store.last_in_range(b"a/", b"a0").unwrap(),
            Some((b"a/2".to_vec(), b"two".to_vec()))
        );
        assert_eq!(store.last_in_range(b"c/", b"c0").unwrap(), None);
    }
}
