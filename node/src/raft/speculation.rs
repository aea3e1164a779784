//! The leader computes, every replica installs.
//!
//! Applying a command (reading key states, counters and coverage, deciding versions,
//! encoding what changes) was about a third of what a follower spent on a record, and
//! every member did it again for the same result. Instead the leader's proposer applies
//! the commands before it proposes them and proposes their writes
//! ([`Command::Computed`](crate::state::Command::Computed)); each replica, the leader
//! included, installs those writes when the entry commits, and its apply reads nothing.
//!
//! The leader computes an entry on the state the entries before it leave: the store
//! (everything applied) under the writes of its own entries proposed and not yet
//! installed, this overlay. That is only the state before the entry if the entry lands
//! right behind them, so each computed entry names the log id it was computed for, and
//! the state machine installs it only at that id. Any other entry between them (a
//! membership change), or a new term, moves it: it then installs nothing on any replica
//! and answers [`CommandResponse::Stale`](crate::state::CommandResponse::Stale), and so
//! does every entry computed on top of it. The proposer then waits until nothing of its
//! own is in flight and the log is applied up to its term's first entry, clears the
//! overlay, and proposes those commands again.
//!
//! Why the log id is enough: within one term only its leader appends, in order, so an
//! entry at the id it predicted has exactly the leader's entries since that prediction
//! before it; the proposer predicts only once its term's blank entry (and so every entry
//! of earlier terms) is applied.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use sled::IVec;

use super::LogId;
use crate::state::apply::Overlay;
use crate::store::WriteSet;

/// The writes of this node's computed entries proposed and not yet installed, oldest
/// first. Shared by the proposer, which pushes, and the state machine, which pops.
#[derive(Default)]
pub struct Speculation {
    pending: Mutex<VecDeque<(LogId, Arc<WriteSet>)>>,
}

impl Speculation {
    fn lock(&self) -> MutexGuard<'_, VecDeque<(LogId, Arc<WriteSet>)>> {
        // Every change is a push, a pop or a clear: a poisoned lock is still consistent.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writes computed for `log_id`, proposed and not yet installed.
    pub fn push(&self, log_id: LogId, writes: Arc<WriteSet>) {
        self.lock().push_back((log_id, writes));
    }

    /// The entry at `log_id` is installed (its writes are readable from the store), or
    /// is stale: either way no later read needs its writes here.
    pub fn installed(&self, log_id: &LogId) {
        let mut pending = self.lock();
        while pending
            .front()
            .is_some_and(|(id, _)| id.index <= log_id.index)
        {
            pending.pop_front();
        }
    }

    /// Forgets every write: what was computed will not be installed as computed.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl Overlay for Speculation {
    fn lookup(&self, key: &[u8]) -> Option<Option<IVec>> {
        self.lock()
            .iter()
            .rev()
            .find_map(|(_, writes)| writes.lookup(key))
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn set(pairs: &[(&str, Option<&str>)]) -> Arc<WriteSet> {
        let mut set = WriteSet::default();
        for (k, v) in pairs {
            match v {
                Some(v) => set.put(k.as_bytes().to_vec(), v.as_bytes().to_vec()),
                None => set.delete(k.as_bytes().to_vec()),
            }
        }
        Arc::new(set)
    }

    #[test]
    fn the_newest_write_wins_until_installed() {
        let s = Speculation::default();
        s.push(id(5), set(&[("a", Some("1")), ("b", Some("1"))]));
        s.push(id(6), set(&[("a", Some("2")), ("b", None)]));
        assert_eq!(s.lookup(b"a"), Some(Some(IVec::from("2"))));
        assert_eq!(s.lookup(b"b"), Some(None));
        assert_eq!(s.lookup(b"c"), None);
        s.installed(&id(5));
        assert_eq!(s.lookup(b"a"), Some(Some(IVec::from("2"))));
        s.installed(&id(6));
        assert!(s.is_empty());
        assert_eq!(s.lookup(b"a"), None);
        s.push(id(7), set(&[("a", Some("3"))]));
        s.clear();
        assert_eq!(s.lookup(b"a"), None);
    }
}
