//! Write sets committed behind the state machine: applying a Raft batch hands its writes
//! to a committer thread and goes on with the next batch while sled inserts them.
//!
//! Readers never see the difference. A point read looks in the sets still in flight,
//! newest first, before sled; a set leaves the queue only once sled holds all of it. A
//! range read first waits for the sets in flight when it starts. Sets reach sled in
//! order, each one atomically (alone or with the sets after it, below), with the
//! last-applied log id among its writes, so after a crash sled holds a prefix of the
//! applied batches and Raft replays the rest from its log: the state machine is never the
//! durable copy of anything.
//!
//! The committer gathers sets. Handed over, a set's writes join the others waiting,
//! merged (a key keeps its last value); the committer puts them into sled together, as
//! one atomic batch, once they hold [`GATHER_BYTES`], the oldest has waited
//! [`GATHER_WAIT`], none came for a moment ([`crate::gather::IDLE`]: the stream of
//! batches stopped), or a reader waits for them. A key written by several sets goes to
//! sled once. sled's cost is mostly per insert, whatever the size (it copies a leaf for
//! each), and batches close in time write the same keys: a key state bucket holds the
//! states of keys numbered together, which departments submitting at once share, and
//! counters, coverage and the metadata are written by every batch. Under ingest of
//! 100,000 actions, a leader's inserts fell from about 60,000 to 36,000. Readers look in
//! the merged writes, then in those being committed, then in sled.
//!
//! Raft metadata goes first. sled makes every write wait while any batch is being applied
//! (its concurrency control is one lock for the whole process), and the Raft log's writer
//! also records openraft's committed id in sled, on the path of the appends queued behind
//! it, while these sets are on no one's path: the committer does not start a set while a
//! metadata write waits ([`Behind::prioritize`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use sled::IVec;

use super::{StoreError, WriteSet};
use crate::gather::Window;

/// Bytes waiting beyond which the state machine waits for the committer.
const MAX_WAITING_BYTES: usize = 32 << 20;

/// Bytes waiting that the committer commits at once, without waiting for more.
const GATHER_BYTES: usize = 16 << 20;

/// The longest a set waits for others to be committed with.
const GATHER_WAIT: Duration = Duration::from_millis(500);

/// Writes by key, `None` deleting it.
type Writes = BTreeMap<IVec, Option<IVec>>;

#[derive(Default)]
struct Queue {
    /// The writes of the sets handed over and not yet taken by the committer, merged.
    waiting: Writes,
    /// How many sets `waiting` holds, their bytes, and when they were handed over.
    waiting_sets: u64,
    waiting_bytes: usize,
    window: Option<Window>,
    /// The writes the committer is putting into sled, readable here until it is done.
    committing: Option<Arc<Writes>>,
    /// Readers waiting for every set to reach sled: the committer does not wait for more.
    settling: usize,
    /// Sets ever handed over and ever committed: a range read waits for the first to be
    /// reached by the second.
    handed: u64,
    committed: u64,
    /// sled batches the committed sets went in.
    batches: u64,
    /// Why the committer stopped: every later state-machine operation fails with it.
    failed: Option<String>,
    closed: bool,
}

/// The queue the state machine and the committer thread share.
pub(super) struct Behind {
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Raft metadata writes under way: the committer waits for them to end.
    priority: AtomicUsize,
    /// [`GATHER_WAIT`], but for tests.
    gather_wait: Duration,
}

/// A write that goes before the committer's next set, while it lives.
pub(super) struct Priority<'a>(&'a AtomicUsize);

impl Drop for Priority<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Behind {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves the queue consistent (every change is one
        // assignment), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(queue: &Queue) -> Result<(), StoreError> {
        match &queue.failed {
            Some(reason) => Err(StoreError::Behind(reason.clone())),
            None => Ok(()),
        }
    }

    /// Holds the committer back (before its next set) until the answer is dropped.
    pub(super) fn prioritize(&self) -> Priority<'_> {
        self.priority.fetch_add(1, Ordering::SeqCst);
        Priority(&self.priority)
    }

    /// Waits while a prioritized write is under way. Such writes are short (one metadata
    /// value), so a short sleep is enough.
    fn yield_to_priority(&self) {
        while self.priority.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }

    /// Hands `set` to the committer, waiting while too many bytes wait for it.
    pub(super) fn hand_over(&self, set: &WriteSet) -> Result<(), StoreError> {
        let mut queue = self.lock();
        while queue.waiting_bytes >= MAX_WAITING_BYTES && queue.failed.is_none() {
            queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
        Self::check(&queue)?;
        for (key, value) in set.shared() {
            queue.waiting.insert(key.clone(), value.clone());
        }
        queue.waiting_sets += 1;
        queue.waiting_bytes += set.bytes();
        queue.window.get_or_insert_with(Window::open).grew();
        queue.handed += 1;
        self.changed.notify_all();
        Ok(())
    }

    /// The value of `key` in the newest set in flight that writes it: `Some(None)` when
    /// that set deletes it, `None` when no set in flight touches it.
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let queue = self.lock();
        Self::check(&queue)?;
        let value = match queue.waiting.get(key) {
            Some(value) => Some(value),
            None => queue.committing.as_ref().and_then(|c| c.get(key)),
        };
        Ok(value.map(|v| v.as_deref().map(<[u8]>::to_vec)))
    }

    /// Waits until every set handed over before this call is in sled.
    pub(super) fn settle(&self) -> Result<(), StoreError> {
        let mut queue = self.lock();
        let target = queue.handed;
        if queue.committed < target {
            queue.settling += 1;
            self.changed.notify_all();
            while queue.committed < target && queue.failed.is_none() {
                queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
            queue.settling -= 1;
        }
        Self::check(&queue)
    }

    /// Waits until the writes waiting are due (see the module's comment), and hands
    /// them to the committer with the number of sets they merge; `None` once closed with
    /// nothing left.
    fn due(&self) -> Option<(Arc<Writes>, u64)> {
        let mut queue = self.lock();
        loop {
            let due_in = match queue.window {
                Some(window) => window.due_in(self.gather_wait),
                None if queue.closed => return None,
                None => {
                    queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
            };
            if queue.waiting_bytes >= GATHER_BYTES
                || queue.settling > 0
                || queue.closed
                || due_in.is_zero()
            {
                let writes = Arc::new(std::mem::take(&mut queue.waiting));
                let sets = std::mem::take(&mut queue.waiting_sets);
                queue.waiting_bytes = 0;
                queue.window = None;
                queue.committing = Some(Arc::clone(&writes));
                self.changed.notify_all();
                return Some((writes, sets));
            }
            queue = self
                .changed
                .wait_timeout(queue, due_in)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The committer's loop: the writes waiting into sled, gathered, until closed and
    /// drained.
    fn run(&self, tree: &sled::Tree) {
        while let Some((writes, sets)) = self.due() {
            let batch = super::writeset::batch_of(writes.iter());
            tracing::trace!(sets, writes = writes.len(), "Committing.");
            self.yield_to_priority();
            let result = tree.apply_batch(batch);
            let mut queue = self.lock();
            match result {
                Ok(()) => {
                    queue.committing = None;
                    queue.committed += sets;
                    queue.batches += 1;
                }
                Err(e) => {
                    tracing::error!(error = %e, "The state machine's writes could not be committed to sled; the node stops applying.");
                    queue.failed =
                        Some(format!("committing the state machine's writes failed: {e}"));
                }
            }
            self.changed.notify_all();
            if queue.failed.is_some() {
                return;
            }
        }
    }
}

/// The committer thread; the last handle on the store closes it, and it finishes the sets
/// in flight before the store is released.
pub(super) struct Committer {
    behind: Arc<Behind>,
    thread: Option<JoinHandle<()>>,
}

impl Committer {
    pub(super) fn start(tree: sled::Tree) -> std::io::Result<(Committer, Arc<Behind>)> {
        Self::gathering_for(tree, GATHER_WAIT)
    }

    fn gathering_for(
        tree: sled::Tree,
        gather_wait: Duration,
    ) -> std::io::Result<(Committer, Arc<Behind>)> {
        let behind = Arc::new(Behind {
            queue: Mutex::default(),
            changed: Condvar::new(),
            priority: AtomicUsize::new(0),
            gather_wait,
        });
        let running = Arc::clone(&behind);
        let thread = std::thread::Builder::new()
            .name("sm-commit".into())
            .spawn(move || running.run(&tree))?;
        Ok((
            Committer {
                behind: Arc::clone(&behind),
                thread: Some(thread),
            },
            behind,
        ))
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.behind.lock().closed = true;
        self.behind.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(writes: &[(&str, Option<&str>)]) -> WriteSet {
        let mut set = WriteSet::default();
        for (key, value) in writes {
            match value {
                Some(v) => set.put(key.as_bytes().to_vec(), v.as_bytes().to_vec()),
                None => set.delete(key.as_bytes().to_vec()),
            }
        }
        set
    }

    fn counts(behind: &Behind) -> (u64, u64) {
        let queue = behind.lock();
        (queue.committed, queue.batches)
    }

    #[test]
    fn sets_in_flight_go_to_sled_together_with_the_last_value_of_each_key() {
        let tree = sled::Config::new()
            .temporary(true)
            .open()
            .unwrap()
            .open_tree("sm")
            .unwrap();
        // Sets never wait long enough here to be due on their own.
        let (committer, behind) =
            Committer::gathering_for(tree.clone(), Duration::from_secs(3600)).unwrap();
        behind
            .hand_over(&set(&[("a", Some("1")), ("b", Some("1"))]))
            .unwrap();
        behind
            .hand_over(&set(&[("a", Some("2")), ("b", None)]))
            .unwrap();
        behind.hand_over(&set(&[("c", Some("3"))])).unwrap();
        assert_eq!(behind.get(b"a").unwrap(), Some(Some(b"2".to_vec())));
        assert_eq!(behind.get(b"b").unwrap(), Some(None));
        assert_eq!(tree.get(b"a").unwrap(), None);
        assert_eq!(counts(&behind), (0, 0));
        // A reader waiting for them makes them due at once: one batch.
        behind.settle().unwrap();
        assert_eq!(counts(&behind), (3, 1));
        assert_eq!(tree.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(tree.get(b"b").unwrap(), None);
        assert_eq!(tree.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(behind.get(b"a").unwrap(), None);
        // As many bytes as GATHER_BYTES waiting are due without a reader.
        let mut big = WriteSet::default();
        big.put(b"d".to_vec(), vec![7; GATHER_BYTES]);
        behind.hand_over(&set(&[("d", Some("small"))])).unwrap();
        behind.hand_over(&big).unwrap();
        let mut waits = 0;
        while counts(&behind) != (5, 2) {
            waits += 1;
            assert!(
                waits < 6000,
                "the sets were not committed: {:?}",
                counts(&behind)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(tree.get(b"d").unwrap().map(|v| v.len()), Some(GATHER_BYTES));
        // Closing commits what is left.
        behind.hand_over(&set(&[("e", Some("5"))])).unwrap();
        drop(committer);
        assert_eq!(counts(&behind), (6, 3));
        assert_eq!(tree.get(b"e").unwrap().as_deref(), Some(&b"5"[..]));
    }
}
