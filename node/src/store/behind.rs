//! Write sets committed behind the state machine: applying a Raft batch hands its writes
//! to a committer thread and goes on with the next batch while sled inserts them.
//!
//! Readers never see the difference. A point read looks in the sets still in flight,
//! newest first, before sled; a set leaves the queue only once sled holds all of it. A
//! range read first waits for the sets in flight when it starts. Sets reach sled in
//! order and each one atomically, with the last-applied log id among its writes, so
//! after a crash sled holds a prefix of the applied batches and Raft replays the rest
//! from its log: the state machine is never the durable copy of anything.
//!
//! Raft metadata goes first. sled makes every write wait while any batch is being applied
//! (its concurrency control is one lock for the whole process), and the Raft log's writer
//! also records openraft's committed id in sled, on the path of the appends queued behind
//! it, while these sets are on no one's path: the committer does not start a set while a
//! metadata write waits ([`Behind::prioritize`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::{StoreError, WriteSet};

/// Sets in flight beyond which the state machine waits for the committer.
const MAX_IN_FLIGHT: usize = 4;

#[derive(Default)]
struct Queue {
    /// Handed over and not yet all in sled, oldest first.
    sets: VecDeque<Arc<WriteSet>>,
    /// Sets ever handed over and ever committed: a range read waits for the first to be
    /// reached by the second.
    handed: u64,
    committed: u64,
    /// Why the committer stopped: every later state-machine operation fails with it.
    failed: Option<String>,
    closed: bool,
}

/// The queue the state machine and the committer thread share.
#[derive(Default)]
pub(super) struct Behind {
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Raft metadata writes under way: the committer waits for them to end.
    priority: AtomicUsize,
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

    /// Hands `set` to the committer, waiting while too many sets are in flight.
    pub(super) fn hand_over(&self, set: Arc<WriteSet>) -> Result<(), StoreError> {
        let mut queue = self.lock();
        while queue.sets.len() >= MAX_IN_FLIGHT && queue.failed.is_none() {
            queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
        Self::check(&queue)?;
        queue.sets.push_back(set);
        queue.handed += 1;
        self.changed.notify_all();
        Ok(())
    }

    /// The value of `key` in the newest set in flight that writes it: `Some(None)` when
    /// that set deletes it, `None` when no set in flight touches it.
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let queue = self.lock();
        Self::check(&queue)?;
        Ok(queue
            .sets
            .iter()
            .rev()
            .find_map(|set| set.get(key).map(|v| v.map(<[u8]>::to_vec))))
    }

    /// Waits until every set handed over before this call is in sled.
    pub(super) fn settle(&self) -> Result<(), StoreError> {
        let mut queue = self.lock();
        let target = queue.handed;
        while queue.committed < target && queue.failed.is_none() {
            queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
        Self::check(&queue)
    }

    /// The committer's loop: the oldest set in flight into sled, until closed and drained.
    fn run(&self, tree: &sled::Tree) {
        loop {
            let set = {
                let mut queue = self.lock();
                loop {
                    if let Some(set) = queue.sets.front() {
                        break Arc::clone(set);
                    }
                    if queue.closed {
                        return;
                    }
                    queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
                }
            };
            let batch = set.to_batch();
            self.yield_to_priority();
            let result = tree.apply_batch(batch);
            let mut queue = self.lock();
            match result {
                Ok(()) => {
                    queue.sets.pop_front();
                    queue.committed += 1;
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
        let behind = Arc::new(Behind::default());
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
