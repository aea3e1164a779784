//! The Raft log in files of its own: segments of records appended in index order, each
//! group of appends made durable with one `fdatasync` of one file.
//!
//! The log used to be a sled tree. Three costs came with it, measured under ingest: every
//! append paid sled's flush and a `syncfs` of the whole file system, which wrote the state
//! machine's dirty pages too (about 3 KB of disk writes per record, and with a group of
//! three on one machine, every member's pages at every member's sync); each grouped entry
//! of a few megabytes went to a blob file of its own; and every append waited behind
//! state-machine batches on sled's process-wide lock. Here an append is one positioned
//! write and, for [`Durability::Power`](super::Durability::Power), one `fdatasync`.
//!
//! Layout of the directory (`{store}/raft-log/`):
//! - `{first index, 20 digits}.seg`: records of `u32 payload length, u32 CRC-32 of the
//!   index and payload, u64 index` (little-endian) and the payload. Indexes are
//!   consecutive within a segment and from one segment to the next. A segment grows to
//!   [`SEGMENT_BYTES`], then the next one begins.
//! - `purged`: the first index kept and the caller's purge mark (its encoded last purged
//!   log id), with a CRC; replaced atomically (written aside, synced, renamed).
//!
//! A crash can leave a torn record at the end of the last segment. It was never reported
//! durable (that follows the sync), so open cuts the last segment at its first damaged
//! record, with a warning naming the bytes cut. (Like etcd's WAL, this takes damage in the
//! last segment for a torn write; in a group, a member's cut entries come back from the
//! leader.) Damage in any earlier segment would lose entries that were reported durable,
//! so open refuses the store with a sentence naming the file and the offset.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::StoreError;

/// Bytes of a record's header: payload length, CRC, index.
const HEADER: u64 = 16;

/// A segment takes no more appends once it is this long.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Largest payload a record may declare; anything longer is damage, not data.
const MAX_PAYLOAD: u64 = 1 << 30;

/// The largest append buffer kept for the next append.
const KEPT_BUFFER_BYTES: usize = 64 * 1024 * 1024;

const PURGED_FILE: &str = "purged";
const SEGMENT_SUFFIX: &str = ".seg";

pub(super) struct SegmentLog {
    dir: PathBuf,
    /// `fdatasync` after every write (power-loss durability), or trust the page cache.
    sync: bool,
    state: Mutex<State>,
}

struct State {
    /// In index order; the last one takes appends.
    segments: Vec<Segment>,
    /// Entries below this index are purged, whether or not their bytes are still in the
    /// first segment's file.
    first_kept: u64,
    /// What the caller recorded with its last purge.
    purge_mark: Option<Vec<u8>>,
    /// The records of an append, built here before their one write. Kept between appends
    /// (up to [`KEPT_BUFFER_BYTES`]): a grouped entry runs to megabytes, and a buffer grown
    /// afresh each time had its pages faulted in and zeroed by the kernel at every append.
    buffer: Vec<u8>,
}

struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
    /// Bytes of whole records.
    len: u64,
    /// Record offset and payload length of each entry, from `first` on.
    entries: Vec<(u64, u32)>,
}

impl Segment {
    /// The index the next record appended here takes.
    fn next(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    fn last(&self) -> Option<u64> {
        (!self.entries.is_empty()).then(|| self.next() - 1)
    }

    fn read(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let (offset, len) = self.entries[(index - self.first) as usize];
        let mut record = vec![0; HEADER as usize + len as usize];
        self.file
            .read_exact_at(&mut record, offset)
            .map_err(io_error(&self.path, "read an entry"))?;
        match check_record(&record, index) {
            Ok(()) => {
                // In place: a new vector for a payload of megabytes costs fresh pages.
                record.drain(..HEADER as usize);
                Ok(record)
            }
            Err(reason) => Err(StoreError::LogDamaged {
                path: self.path.clone(),
                offset,
                reason,
            }),
        }
    }
}

fn io_error<'a>(
    path: &'a Path,
    doing: &'static str,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Log {
        path: path.to_path_buf(),
        doing,
        source,
    }
}

fn encode_record(out: &mut Vec<u8>, index: u64, payload: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&index.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Checks a whole record (header and payload) read back for `index`.
fn check_record(record: &[u8], index: u64) -> Result<(), String> {
    let (header, payload) = record.split_at(HEADER as usize);
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let found = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if found != index {
        return Err(format!(
            "record of entry {found} where entry {index} belongs"
        ));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..16]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err(format!("entry {index} fails its checksum"));
    }
    Ok(())
}

/// What reading a segment from the start found.
struct Scanned {
    /// Record offset and payload length of each whole, intact record.
    entries: Vec<(u64, u32)>,
    /// Bytes of those records.
    len: u64,
    /// Why the file does not end with the last of them, if it does not.
    damage: Option<String>,
}

fn scan(file: &File, first: u64) -> std::io::Result<Scanned> {
    let size = file.metadata()?.len();
    let mut entries = Vec::new();
    let mut offset = 0;
    let mut header = [0u8; HEADER as usize];
    let mut record = Vec::new();
    while offset < size {
        let index = first + entries.len() as u64;
        if size - offset < HEADER {
            return Ok(Scanned {
                entries,
                len: offset,
                damage: Some("a record header is cut short".into()),
            });
        }
        file.read_exact_at(&mut header, offset)?;
        let len = u64::from(u32::from_le_bytes(header[0..4].try_into().expect("4")));
        if len > MAX_PAYLOAD || size - offset - HEADER < len {
            return Ok(Scanned {
                entries,
                len: offset,
                damage: Some("a record is cut short".into()),
            });
        }
        record.resize((HEADER + len) as usize, 0);
        file.read_exact_at(&mut record, offset)?;
        if let Err(reason) = check_record(&record, index) {
            return Ok(Scanned {
                entries,
                len: offset,
                damage: Some(reason),
            });
        }
        entries.push((offset, len as u32));
        offset += HEADER + len;
    }
    Ok(Scanned {
        entries,
        len: offset,
        damage: None,
    })
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}{SEGMENT_SUFFIX}"))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "sync the directory"))
}

impl SegmentLog {
    pub fn open(dir: &Path, sync: bool) -> Result<SegmentLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir, "create the directory"))?;
        let (first_kept, purge_mark) = read_purged(&dir.join(PURGED_FILE))?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for item in std::fs::read_dir(dir).map_err(io_error(dir, "list the directory"))? {
            let item = item.map_err(io_error(dir, "list the directory"))?;
            let name = item.file_name();
            let Some(first) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            found.push((first, item.path()));
        }
        found.sort();

        let count = found.len();
        let mut segments: Vec<Segment> = Vec::new();
        for (n, (first, path)) in found.into_iter().enumerate() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_error(&path, "open"))?;
            let Scanned {
                entries,
                len,
                damage,
            } = scan(&file, first).map_err(io_error(&path, "read"))?;
            if let Some(reason) = damage {
                if n + 1 < count {
                    return Err(StoreError::LogDamaged {
                        path,
                        offset: len,
                        reason,
                    });
                }
                let size = file.metadata().map_or(len, |m| m.len());
                tracing::warn!(file = %path.display(), offset = len, bytes = size - len, %reason,
                    "Cutting the Raft log's last segment at a damaged record (a write torn by a crash; it was never acknowledged).");
                file.set_len(len)
                    .map_err(io_error(&path, "cut a torn record"))?;
                file.sync_data().map_err(io_error(&path, "sync"))?;
            }
            let segment = Segment {
                first,
                path,
                file,
                len,
                entries,
            };
            // Wholly purged (a purge stopped before it removed the file), or empty and
            // followed by others: not part of the log.
            let purged = segment.next() <= first_kept && n + 1 < count;
            let empty = segment.entries.is_empty() && n + 1 < count;
            if purged || empty {
                std::fs::remove_file(&segment.path)
                    .map_err(io_error(&segment.path, "remove a purged segment"))?;
                continue;
            }
            if let Some(previous) = segments.last() {
                if previous.next() != first {
                    return Err(StoreError::LogDamaged {
                        path: segment.path,
                        offset: 0,
                        reason: format!(
                            "it begins at entry {first}, but the segment before it ends before entry {}",
                            previous.next()
                        ),
                    });
                }
            }
            segments.push(segment);
        }
        Ok(SegmentLog {
            dir: dir.to_path_buf(),
            sync,
            state: Mutex::new(State {
                segments,
                first_kept,
                purge_mark,
                buffer: Vec::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent: every change to it
        // is made only after the files agree.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends entries, in index order and following the last one (an index already in
    /// the log replaces it and everything after it), and makes them durable.
    pub fn append<'a>(
        &self,
        entries: impl IntoIterator<Item = (u64, &'a [u8])>,
    ) -> Result<(), StoreError> {
        let mut entries = entries.into_iter().peekable();
        let Some(&(first_index, _)) = entries.peek() else {
            return Ok(());
        };
        let mut state = self.state();
        if state.last_index().is_some_and(|last| first_index <= last) {
            self.truncate_locked(&mut state, first_index)?;
        }
        // After the last entry, or anywhere in an empty log.
        let start = state.last_index().map_or(first_index, |last| last + 1);
        let mut buf = std::mem::take(&mut state.buffer);
        buf.clear();
        let mut added: Vec<(u64, u32)> = Vec::new();
        for (expected, (index, payload)) in (start..).zip(entries) {
            if index != expected {
                return Err(StoreError::LogHole {
                    dir: self.dir.clone(),
                    index,
                    last: expected - 1,
                });
            }
            added.push((buf.len() as u64, payload.len() as u32));
            encode_record(&mut buf, index, payload);
        }
        let roll = match state.segments.last() {
            None => true,
            Some(s) => s.len >= SEGMENT_BYTES || s.next() != first_index,
        };
        if roll {
            self.start_segment(&mut state, first_index)?;
        }
        let segment = state
            .segments
            .last_mut()
            .expect("a segment was just ensured");
        let at = segment.len;
        if let Err(e) = segment.file.write_all_at(&buf, at) {
            // Leave no partial record behind; if even that fails, open cuts it.
            let _ = segment.file.set_len(at);
            return Err(io_error(&segment.path, "write")(e));
        }
        if self.sync {
            if let Err(e) = segment.file.sync_data() {
                let _ = segment.file.set_len(at);
                return Err(io_error(&segment.path, "sync")(e));
            }
        }
        segment.len += buf.len() as u64;
        segment
            .entries
            .extend(added.into_iter().map(|(offset, len)| (at + offset, len)));
        if buf.capacity() <= KEPT_BUFFER_BYTES {
            state.buffer = buf;
        }
        Ok(())
    }

    /// Begins a segment whose first entry is `first` (the one before it was synced by its
    /// last append).
    fn start_segment(&self, state: &mut State, first: u64) -> Result<(), StoreError> {
        // An empty last segment (after a truncation of all it held) is replaced.
        if let Some(last) = state.segments.last() {
            if last.entries.is_empty() {
                let last = state.segments.pop().expect("checked");
                std::fs::remove_file(&last.path).map_err(io_error(&last.path, "remove"))?;
            }
        }
        let path = segment_path(&self.dir, first);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_error(&path, "create"))?;
        if self.sync {
            sync_dir(&self.dir)?;
        }
        state.segments.push(Segment {
            first,
            path,
            file,
            len: 0,
            entries: Vec::new(),
        });
        Ok(())
    }

    /// The payloads of entries `start..end` that are in the log (not purged), in order.
    pub fn range(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let state = self.state();
        let start = start.max(state.first_kept);
        let mut out = Vec::new();
        for segment in &state.segments {
            let from = start.max(segment.first);
            let to = end.min(segment.next());
            for index in from..to {
                out.push(segment.read(index)?);
            }
        }
        Ok(out)
    }

    /// The payload of the last entry, unless the log holds none.
    pub fn last(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let state = self.state();
        match state.last_index() {
            Some(index) => {
                let segment = state
                    .segments
                    .iter()
                    .rev()
                    .find(|s| s.first <= index && index < s.next())
                    .expect("the last index is in a segment");
                segment.read(index).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Removes the entries from `from` on, durably.
    pub fn truncate_from(&self, from: u64) -> Result<(), StoreError> {
        let mut state = self.state();
        self.truncate_locked(&mut state, from)
    }

    fn truncate_locked(&self, state: &mut State, from: u64) -> Result<(), StoreError> {
        let mut removed = false;
        // From the end, so that a crash in between leaves a log without a hole.
        while let Some(segment) = state.segments.last() {
            if segment.first < from || (segment.first == from && state.segments.len() == 1) {
                break;
            }
            let segment = state.segments.pop().expect("checked");
            std::fs::remove_file(&segment.path).map_err(io_error(&segment.path, "remove"))?;
            removed = true;
        }
        if let Some(segment) = state.segments.last_mut() {
            if from < segment.next() {
                let keep = from.saturating_sub(segment.first) as usize;
                let len = segment.entries.get(keep).map_or(segment.len, |(o, _)| *o);
                segment
                    .file
                    .set_len(len)
                    .map_err(io_error(&segment.path, "truncate"))?;
                if self.sync {
                    segment
                        .file
                        .sync_data()
                        .map_err(io_error(&segment.path, "sync"))?;
                }
                segment.len = len;
                segment.entries.truncate(keep);
            }
        }
        if removed && self.sync {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Purges the entries up to and including `upto`, recording `mark` with the purge.
    /// The record is durable before any file goes; whole segments are removed, and what
    /// remains of a purged entry in the first segment is never read again.
    pub fn purge_upto(&self, upto: u64, mark: &[u8]) -> Result<(), StoreError> {
        let mut state = self.state();
        let first_kept = state.first_kept.max(upto + 1);
        write_purged(&self.dir, first_kept, mark, self.sync)?;
        state.first_kept = first_kept;
        state.purge_mark = Some(mark.to_vec());
        while state
            .segments
            .first()
            .is_some_and(|s| s.next() <= first_kept && s.last().is_some())
        {
            let segment = state.segments.remove(0);
            std::fs::remove_file(&segment.path).map_err(io_error(&segment.path, "remove"))?;
        }
        Ok(())
    }

    /// The mark recorded with the last purge.
    pub fn purge_mark(&self) -> Option<Vec<u8>> {
        self.state().purge_mark.clone()
    }

    /// Bytes of the segment files.
    pub fn size(&self) -> u64 {
        self.state().segments.iter().map(|s| s.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        let state = self.state();
        state.last_index().is_none() && state.purge_mark.is_none()
    }
}

impl State {
    /// The last entry's index, unless the log holds none (purged entries do not count).
    fn last_index(&self) -> Option<u64> {
        self.segments
            .iter()
            .rev()
            .find_map(Segment::last)
            .filter(|last| *last >= self.first_kept)
    }
}

/// The purge record: `u64 first kept, u32 mark length, mark, u32 CRC of all before`.
fn write_purged(dir: &Path, first_kept: u64, mark: &[u8], sync: bool) -> Result<(), StoreError> {
    let mut buf = Vec::with_capacity(16 + mark.len());
    buf.extend_from_slice(&first_kept.to_le_bytes());
    buf.extend_from_slice(&(mark.len() as u32).to_le_bytes());
    buf.extend_from_slice(mark);
    buf.extend_from_slice(&crc32fast::hash(&buf).to_le_bytes());
    let aside = dir.join(format!("{PURGED_FILE}.new"));
    let path = dir.join(PURGED_FILE);
    std::fs::write(&aside, &buf).map_err(io_error(&aside, "write"))?;
    if sync {
        File::open(&aside)
            .and_then(|f| f.sync_all())
            .map_err(io_error(&aside, "sync"))?;
    }
    std::fs::rename(&aside, &path).map_err(io_error(&path, "replace"))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

fn read_purged(path: &Path) -> Result<(u64, Option<Vec<u8>>), StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((0, None)),
        Err(e) => return Err(io_error(path, "read")(e)),
    };
    let damaged = |reason: &str| StoreError::LogDamaged {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.to_string(),
    };
    if bytes.len() < 16 {
        return Err(damaged("the purge record is cut short"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(damaged("the purge record fails its checksum"));
    }
    let first_kept = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
    if body.len() != 12 + len {
        return Err(damaged("the purge record's length does not match"));
    }
    Ok((first_kept, Some(body[12..].to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(log: &SegmentLog, range: std::ops::Range<u64>) {
        let payloads: Vec<(u64, Vec<u8>)> = range.map(|i| (i, vec![i as u8; 3])).collect();
        log.append(payloads.iter().map(|(i, p)| (*i, p.as_slice())))
            .unwrap();
    }

    fn indexes(log: &SegmentLog) -> Vec<u8> {
        log.range(0, u64::MAX)
            .unwrap()
            .into_iter()
            .map(|p| p[0])
            .collect()
    }

    #[test]
    fn a_large_append_then_small_ones_read_back_whole() {
        // The append buffer is kept between appends: what a large entry left in it must
        // never reach a later record.
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path(), false).unwrap();
        let large: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        log.append([(0, large.as_slice())]).unwrap();
        append(&log, 1..4);
        let read = log.range(0, u64::MAX).unwrap();
        assert_eq!(read.len(), 4);
        assert_eq!(read[0], large);
        assert_eq!(read[1..], [vec![1; 3], vec![2; 3], vec![3; 3]]);
        drop(log);
        let log = SegmentLog::open(dir.path(), false).unwrap();
        assert_eq!(log.range(0, 1).unwrap()[0], large);
    }

    #[test]
    fn appends_read_truncate_and_purge_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = SegmentLog::open(dir.path(), true).unwrap();
            assert!(log.is_empty());
            append(&log, 0..6);
            append(&log, 6..9);
            assert_eq!(log.range(2, 5).unwrap().len(), 3);
            assert_eq!(log.last().unwrap(), Some(vec![8; 3]));
            log.truncate_from(7).unwrap();
            // Appending over an index already there replaces it and what follows.
            append(&log, 5..6);
            assert_eq!(indexes(&log), vec![0, 1, 2, 3, 4, 5]);
            log.purge_upto(2, b"mark").unwrap();
            assert_eq!(indexes(&log), vec![3, 4, 5]);
        }
        let log = SegmentLog::open(dir.path(), true).unwrap();
        assert_eq!(indexes(&log), vec![3, 4, 5]);
        assert_eq!(log.purge_mark().as_deref(), Some(&b"mark"[..]));
        // Purging everything leaves an empty log that goes on after the purged index.
        log.purge_upto(5, b"all").unwrap();
        assert_eq!(log.last().unwrap(), None);
        append(&log, 6..8);
        assert_eq!(indexes(&log), vec![6, 7]);
        let hole = log.append([(9u64, &b"x"[..])]).unwrap_err().to_string();
        assert!(
            hole.contains("entry 9") && hole.contains("entry 7"),
            "{hole}"
        );
    }

    #[test]
    fn a_torn_last_record_is_cut_and_damage_before_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = SegmentLog::open(dir.path(), true).unwrap();
            append(&log, 1..4);
        }
        let segment = segment_path(dir.path(), 1);
        let size = std::fs::metadata(&segment).unwrap().len();
        // A crash in the middle of the next write: half a record at the end.
        let file = OpenOptions::new().write(true).open(&segment).unwrap();
        file.write_all_at(&[7, 0, 0, 0, 1, 2], size).unwrap();
        {
            let log = SegmentLog::open(dir.path(), true).unwrap();
            assert_eq!(indexes(&log), vec![1, 2, 3]);
            append(&log, 4..5);
            assert_eq!(indexes(&log), vec![1, 2, 3, 4]);
        }
        // Damage in the last segment is taken for a torn write: cut from there on.
        let file = OpenOptions::new().write(true).open(&segment).unwrap();
        file.write_all_at(&[0xff], 2 * (HEADER + 3) + HEADER + 1)
            .unwrap();
        {
            let log = SegmentLog::open(dir.path(), true).unwrap();
            assert_eq!(indexes(&log), vec![1, 2]);
        }
        // In an earlier segment, it would lose acknowledged entries: refused.
        let dir = tempfile::tempdir().unwrap();
        {
            let log = SegmentLog::open(dir.path(), true).unwrap();
            append(&log, 1..3);
            let mut state = log.state();
            log.start_segment(&mut state, 3).unwrap();
            drop(state);
            append(&log, 3..5);
        }
        let file = OpenOptions::new()
            .write(true)
            .open(segment_path(dir.path(), 1))
            .unwrap();
        file.write_all_at(&[0xff], HEADER + 1).unwrap();
        let refused = SegmentLog::open(dir.path(), true)
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("00000000000000000001.seg"), "{refused}");
        assert!(refused.contains("checksum"), "{refused}");
    }
}
