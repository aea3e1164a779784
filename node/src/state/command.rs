//! The commands that travel in the Raft log, and what applying them answers.

use regfed_governance::{Change, Fields, Issue, Op, PackId, Severity, Verdict};
use serde::{Deserialize, Serialize};

use super::model::{Hop, Notice, RaisedBy, Status};
use super::Millis;
use super::Origin;

/// One state change, proposed by the leader and applied by every replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A batch of records of one data set, with their verdicts: one log entry per batch.
    /// Shared, so that handing an entry from the log to the state machine copies no record.
    Submit(std::sync::Arc<SubmitBatch>),
    /// A batch of a child tier's accepted changes, re-checked here.
    Sync(std::sync::Arc<SyncBatch>),
    /// Notices from the parent tier, to apply here (and pass on down, at a province).
    Notices(std::sync::Arc<NoticeBatch>),
    /// The parent tier acknowledged this node's changes up to this sequence number.
    ParentAcked(u64),
    /// Commands proposed together in one log entry, applied in order; answered by
    /// [`CommandResponse::Group`]. See `raft::proposer`.
    Group(Vec<Command>),
    /// The writes a leader computed for its commands, installed as they are by every
    /// replica at the log id they were computed for. See `raft::speculation`.
    Computed(std::sync::Arc<Computed>),
}

/// A command's writes, computed by the leader before it proposed them, on the state
/// that the entries before `log_id` leave.
///
/// Installed only at `log_id`: an entry that lands anywhere else (another entry came
/// between, or another leader's term began) was computed on a state that is not the one
/// before it, and installs nothing ([`CommandResponse::Stale`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    pub log_id: openraft::LogId<u64>,
    /// The writes, encoded by [`WriteSet::encode`](crate::store::WriteSet::encode).
    #[serde(with = "crate::codec::bytes")]
    pub writes: Vec<u8>,
}

/// Changes `first_seq..=last_seq` of a child, governed here before proposing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBatch {
    /// The child's region: its link's name.
    pub child: String,
    /// The child node's identity (certificate URI).
    pub actor: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub raised_by: RaisedBy,
    pub received_at: Millis,
    pub deadline_days: i64,
    pub pack: PackId,
    pub records: Vec<SyncRecord>,
}

/// One change of a child with this tier's verdict on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub seq: u64,
    pub dataset: String,
    /// The data set's key field, named by cross-origin issues.
    pub key_field: String,
    pub origin: Origin,
    pub origin_version: u64,
    pub reported_at: Millis,
    pub hops: Vec<Hop>,
    pub record: GovernedRecord,
}

/// Notices received from the parent, in its order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeBatch {
    pub notices: Vec<IncomingNotice>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingNotice {
    pub notice: Notice,
    /// At a province: the city link the notice goes on to.
    pub relay_to: Option<String>,
}

/// A governed batch. Everything applying it needs is inside: verdicts, the receipt time,
/// the deadline in force; applying it reads no clock and no configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitBatch {
    pub dataset: String,
    /// The identity (certificate URI) that submitted the batch.
    pub actor: String,
    /// The department the records belong to.
    pub department: String,
    /// The city-tier region the records originate from.
    pub origin_region: String,
    /// This node's tier and region, named in the queue entries it raises.
    pub raised_by: RaisedBy,
    pub received_at: Millis,
    /// The timeliness deadline of the rule pack that judged the batch.
    pub deadline_days: i64,
    /// The rule pack that judged every record of the batch.
    pub pack: PackId,
    pub records: Vec<GovernedRecord>,
}

/// A record with its verdict, as it travels in the log (the pack is the batch's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernedRecord {
    /// The standardized key; empty when the record has none.
    pub key: String,
    pub op: Op,
    /// Standardized fields.
    #[serde(with = "crate::codec::fields")]
    pub fields: Fields,
    pub changes: Vec<Change>,
    pub issues: Vec<Issue>,
    /// Where the record came from, e.g. `actions.csv line 12`.
    pub source: String,
}

impl GovernedRecord {
    pub fn new(verdict: Verdict, source: String) -> Self {
        GovernedRecord {
            key: verdict.key,
            op: verdict.op,
            fields: verdict.fields,
            changes: verdict.changes,
            issues: verdict.issues,
            source,
        }
    }

    /// Accepted when no issue is an error.
    pub fn accepted(&self) -> bool {
        !self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

/// What applying a command answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// Blank and membership entries answer nothing.
    #[default]
    None,
    Submit(Vec<RecordOutcome>),
    Sync(SyncOutcome),
    /// Notices applied (those seen before are skipped).
    Notices(u64),
    /// The responses of a [`Command::Group`], in its order.
    Group(Vec<CommandResponse>),
    /// A [`Command::Computed`] that landed at another log id than it was computed for:
    /// nothing was written, and its commands are to be proposed again.
    Stale,
}

/// What a child's batch did here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOutcome {
    /// The child's changes committed here, up to this one.
    pub high_water: u64,
    /// The whole batch had been committed before.
    pub duplicate: bool,
    pub accepted: u32,
    pub rejected: u32,
    pub unchanged: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Rejected,
    /// Identical to the latest submission of the key: nothing written.
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Unchanged => "unchanged",
        }
    }
}

impl From<Status> for Outcome {
    fn from(s: Status) -> Self {
        match s {
            Status::Accepted => Outcome::Accepted,
            Status::Rejected => Outcome::Rejected,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordOutcome {
    pub outcome: Outcome,
    /// For `unchanged`: whether the latest submission was accepted.
    pub status: Status,
    pub version: u64,
}
