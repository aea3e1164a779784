//! The federation protocol between tiers, without sockets: what a node's outbox holds and
//! how far a parent has acknowledged it.
//!
//! A city node's accepted changes form one sequence in commit order, numbered from 1.
//! The parent acknowledges a prefix of it; everything after the acknowledged number is
//! the outbox still to ship. Batches, the flow-control window and rectification notices
//! build on these types in the federation release.
//!
//! Architecture invariant: this crate knows no transport and no storage engine.

use regfed_governance::Op;
use serde::{Deserialize, Serialize};

/// One accepted change of a record, in the origin's commit order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Position in the origin's change sequence, from 1, without gaps.
    pub seq: u64,
    pub dataset: String,
    pub key: String,
    pub version: u64,
    pub op: Op,
}

/// A closed range of change sequence numbers, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub first: u64,
    pub last: u64,
}

impl SeqRange {
    pub fn len(&self) -> u64 {
        if self.last < self.first {
            0
        } else {
            self.last - self.first + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.first <= seq && seq <= self.last
    }
}

/// How far the outbox has been shipped: the next sequence number the node will assign and
/// the highest one its parent acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCursor {
    pub next_seq: u64,
    pub acked: u64,
}

impl OutboxCursor {
    /// Changes committed and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.next_seq.saturating_sub(1).saturating_sub(self.acked)
    }

    /// The changes still to ship, if any.
    pub fn unacked(&self) -> Option<SeqRange> {
        let range = SeqRange {
            first: self.acked + 1,
            last: self.next_seq.saturating_sub(1),
        };
        (!range.is_empty()).then_some(range)
    }

    /// Records an acknowledgement. Acknowledgements only move forward and never past what
    /// was committed: an old or duplicated ack (after a reconnect) changes nothing.
    pub fn ack(&mut self, upto: u64) -> Result<(), AckError> {
        let committed = self.next_seq.saturating_sub(1);
        if upto > committed {
            return Err(AckError::Beyond { upto, committed });
        }
        self.acked = self.acked.max(upto);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AckError {
    #[error("the parent acknowledged change {upto}, but only {committed} were committed here")]
    Beyond { upto: u64, committed: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_and_acks_only_move_forward() {
        let mut c = OutboxCursor {
            next_seq: 11,
            acked: 0,
        };
        assert_eq!(c.pending(), 10);
        assert_eq!(c.unacked(), Some(SeqRange { first: 1, last: 10 }));
        c.ack(4).unwrap();
        c.ack(2).unwrap(); // a stale ack after a reconnect
        assert_eq!(c.acked, 4);
        assert_eq!(c.pending(), 6);
        assert_eq!(
            c.ack(11),
            Err(AckError::Beyond {
                upto: 11,
                committed: 10
            })
        );
        c.ack(10).unwrap();
        assert_eq!(c.unacked(), None);
        assert_eq!(
            OutboxCursor {
                next_seq: 1,
                acked: 0
            }
            .pending(),
            0
        );
    }

    #[test]
    fn ranges() {
        let r = SeqRange { first: 3, last: 5 };
        assert_eq!(r.len(), 3);
        assert!(r.contains(3) && r.contains(5) && !r.contains(6));
        assert!(SeqRange { first: 4, last: 3 }.is_empty());
    }
}
