//! The federation protocol between tiers, without sockets: what a node's outbox holds and
//! how far a parent has acknowledged it.
//!
//! A city node's accepted changes form one sequence in commit order, numbered from 1.
//! The parent acknowledges a prefix of it; everything after the acknowledged number is
//! the outbox still to ship, in batches admitted by the parent against the child's
//! high-water mark ([`admit`]) under a bounded [`Window`] of unacknowledged batches.
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

/// What a parent does with a child's batch `first..=last`, given the child's high-water
/// mark (the last change of that child it committed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Apply the changes after `high_water` (a resent batch may overlap what was applied).
    Apply { after: u64 },
    /// Everything in it was committed before: acknowledge, apply nothing.
    Duplicate,
    /// It starts after a gap: apply nothing; the child resumes after `high_water`.
    Gap,
}

pub fn admit(range: SeqRange, high_water: u64) -> Admission {
    if range.last <= high_water {
        Admission::Duplicate
    } else if range.first > high_water + 1 {
        Admission::Gap
    } else {
        Admission::Apply { after: high_water }
    }
}

/// The child's flow control: batches sent and not yet acknowledged, at most `limit`.
#[derive(Clone, Debug)]
pub struct Window {
    limit: usize,
    /// The last sequence number of each unacknowledged batch, oldest first.
    in_flight: std::collections::VecDeque<u64>,
}

impl Window {
    pub fn new(limit: usize) -> Self {
        Window {
            limit: limit.max(1),
            in_flight: Default::default(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.in_flight.len() < self.limit
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn sent(&mut self, last: u64) {
        self.in_flight.push_back(last);
    }

    /// Releases every batch up to `last`. An acknowledgement of nothing in flight is an
    /// error unless it repeats an older one (`stale`).
    pub fn ack(&mut self, last: u64, stale: bool) -> Result<usize, WindowError> {
        let before = self.in_flight.len();
        while self.in_flight.front().is_some_and(|l| *l <= last) {
            self.in_flight.pop_front();
        }
        let released = before - self.in_flight.len();
        if released == 0 && !stale {
            return Err(WindowError::NotSent { last });
        }
        Ok(released)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("the parent acknowledged change {last}, which was not sent on this link")]
    NotSent { last: u64 },
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
    fn admission_of_batches() {
        let r = |first, last| SeqRange { first, last };
        assert_eq!(admit(r(1, 10), 0), Admission::Apply { after: 0 });
        assert_eq!(admit(r(11, 20), 10), Admission::Apply { after: 10 });
        assert_eq!(
            admit(r(5, 20), 10),
            Admission::Apply { after: 10 },
            "overlap"
        );
        assert_eq!(admit(r(1, 10), 10), Admission::Duplicate);
        assert_eq!(admit(r(3, 7), 10), Admission::Duplicate);
        assert_eq!(admit(r(12, 20), 10), Admission::Gap);
    }

    #[test]
    fn the_window_bounds_unacknowledged_batches() {
        let mut w = Window::new(2);
        assert!(w.is_open());
        w.sent(10);
        w.sent(20);
        assert!(!w.is_open());
        assert_eq!(w.ack(10, false), Ok(1));
        assert!(w.is_open());
        w.sent(30);
        assert_eq!(w.ack(30, false), Ok(2), "a cumulative ack releases both");
        assert_eq!(
            w.ack(30, true),
            Ok(0),
            "a repeated ack is harmless when stale"
        );
        assert_eq!(w.ack(40, false), Err(WindowError::NotSent { last: 40 }));
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn ranges() {
        let r = SeqRange { first: 3, last: 5 };
        assert_eq!(r.len(), 3);
        assert!(r.contains(3) && r.contains(5) && !r.contains(6));
        assert!(SeqRange { first: 4, last: 3 }.is_empty());
    }
}
