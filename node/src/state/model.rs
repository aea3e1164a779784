//! What the state machine stores: the state of each record key, every version, the
//! rectification queue, the outbox and the audit log.

use regfed_governance::{Change, Fields, Issue, Op, PackId};
use serde::{Deserialize, Serialize};

use super::Millis;

/// Where a record comes from: the city-tier node's region and the department.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub region: String,
    pub department: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
        }
    }
}

/// Everything about one record key: its latest submission and its accepted state.
///
/// The latest version lives here, not under `ver/`, so that a new record costs one write;
/// a version moves to `ver/` only when a newer one replaces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// First receipt of this key at the city tier.
    pub reported_at: Millis,
    pub origin: Origin,
    /// The latest submitted version, accepted or rejected.
    pub latest: VersionRecord,
    /// The latest accepted version, when the latest submission was rejected after it.
    pub accepted: Option<VersionRecord>,
}

impl KeyState {
    /// The latest accepted version (possibly a delete).
    pub fn current(&self) -> Option<&VersionRecord> {
        if self.latest.status == Status::Accepted {
            Some(&self.latest)
        } else {
            self.accepted.as_ref()
        }
    }

    /// The accepted, not deleted, fields of the key.
    pub fn live_fields(&self) -> Option<&Fields> {
        self.current()
            .filter(|c| c.op == Op::Upsert)
            .map(|c| &c.fields)
    }
}

/// One submitted version of a record, accepted or rejected, with who/when/what changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub dataset: String,
    pub key: String,
    pub version: u64,
    pub op: Op,
    #[serde(with = "crate::codec::fields")]
    pub fields: Fields,
    pub status: Status,
    pub issues: Vec<Issue>,
    /// Standardization changes the platform made to the submitted values.
    pub changes: Vec<Change>,
    /// Fields whose value differs from the previous accepted version; empty when there was
    /// none.
    pub changed_fields: Vec<String>,
    /// When it was received; who submitted it is in the audit event of `log_index`.
    pub submitted_at: Millis,
    pub reported_at: Millis,
    pub origin: Origin,
    pub pack: PackId,
    pub log_index: u64,
    /// The change sequence number when accepted.
    pub seq: Option<u64>,
    /// The version at the origin city (equal to `version` at the city tier).
    pub origin_version: u64,
    /// Receipts at the tiers below this one, city first; empty at the city tier.
    pub hops: Vec<Hop>,
}

/// A [`KeyState`] by reference, encoding to the same bytes: applying a record writes its
/// key's state straight from the Raft entry, without copying the record.
#[derive(Serialize)]
pub struct KeyStateRef<'a> {
    pub reported_at: Millis,
    pub origin: &'a Origin,
    pub latest: VersionRecordRef<'a>,
    pub accepted: Option<&'a VersionRecord>,
}

/// A [`VersionRecord`] by reference, encoding to the same bytes (field for field).
#[derive(Serialize)]
pub struct VersionRecordRef<'a> {
    pub dataset: &'a str,
    pub key: &'a str,
    pub version: u64,
    pub op: Op,
    #[serde(serialize_with = "crate::codec::fields::serialize_ref")]
    pub fields: &'a Fields,
    pub status: Status,
    pub issues: &'a [Issue],
    pub changes: &'a [Change],
    pub changed_fields: Vec<String>,
    pub submitted_at: Millis,
    pub reported_at: Millis,
    pub origin: &'a Origin,
    pub pack: &'a PackId,
    pub log_index: u64,
    pub seq: Option<u64>,
    pub origin_version: u64,
    pub hops: &'a [Hop],
}

/// One tier's receipt of a record on its way up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub tier: String,
    pub region: String,
    pub received_at: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    /// An upper tier rejected the record: the department must correct it.
    Rejected,
    /// The tier that raised the notice accepted a corrected version.
    Resolved,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Rejected => "rejected",
            NoticeKind::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        match s {
            "rejected" => Some(NoticeKind::Rejected),
            "resolved" => Some(NoticeKind::Resolved),
            _ => None,
        }
    }
}

/// A rectification notice on its way down to the origin city and department, stored at
/// the tier that sends it under the child it goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Per child link, from 1.
    pub seq: u64,
    pub kind: NoticeKind,
    pub dataset: String,
    pub key: String,
    /// The origin city's version the notice is about.
    pub version: u64,
    pub origin: Origin,
    pub raised_by: RaisedBy,
    pub issues: Vec<Issue>,
    #[serde(with = "crate::codec::fields")]
    pub fields: Fields,
    /// When the raising tier rejected (or accepted) the record.
    pub at: Millis,
}

/// An accepted change, in commit order: the query cursor walks these, and those after the
/// parent's acknowledged sequence number are the upward outbox.
pub use regfed_sync::OutboxEntry;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaisedBy {
    pub tier: String,
    pub region: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueStatus {
    Open,
    Rectified,
}

impl QueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Open => "open",
            QueueStatus::Rectified => "rectified",
        }
    }
}

/// A rejected record waiting for its department to correct it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub dataset: String,
    pub key: String,
    /// The latest rejected version.
    pub version: u64,
    pub department: String,
    pub origin_region: String,
    pub raised_by: RaisedBy,
    pub status: QueueStatus,
    pub issues: Vec<Issue>,
    /// The rejected values, so the department sees what to correct.
    #[serde(with = "crate::codec::fields")]
    pub fields: Fields,
    /// First rejection of this key since it was last accepted.
    pub raised_at: Millis,
    pub rectified_at: Option<Millis>,
    pub rectified_version: Option<u64>,
    /// Where the rejected version came from, e.g. `actions.csv line 12`.
    pub source: String,
}

/// One line of the audit log: a command and who caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub log_index: u64,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub dataset: String,
    pub accepted: u64,
    pub rejected: u64,
    pub unchanged: u64,
}

#[cfg(test)]
mod tests {
    use regfed_governance::{Change, Fields, Issue, Op, PackId, Severity, Value};

    use super::*;

    fn version(n: u64, status: Status) -> VersionRecord {
        let mut fields = Fields::new();
        fields.insert("action_id".into(), Value::from("A1"));
        fields.insert("officers".into(), Value::List(vec!["1".into(), "2".into()]));
        VersionRecord {
            dataset: "action".into(),
            key: "A1".into(),
            version: n,
            op: Op::Upsert,
            fields,
            status,
            issues: vec![Issue {
                rule: "r".into(),
                field: "f".into(),
                severity: Severity::Warning,
                message_zh: "中".into(),
                message_en: "en".into(),
                example: "e".into(),
            }],
            changes: vec![Change {
                field: "f".into(),
                before: " x".into(),
                after: "x".into(),
                step: "trim".into(),
            }],
            changed_fields: vec!["f".into()],
            submitted_at: 1_780_000_000_123,
            reported_at: 1_780_000_000_000,
            origin: Origin {
                region: "420100".into(),
                department: "D".into(),
            },
            pack: PackId {
                name: "p".into(),
                version: "1".into(),
            },
            log_index: 77,
            seq: Some(9),
            origin_version: n,
            hops: vec![Hop {
                tier: "city".into(),
                region: "420100".into(),
                received_at: 5,
            }],
        }
    }

    #[test]
    fn a_key_state_by_reference_encodes_to_the_same_bytes() {
        let accepted = version(1, Status::Accepted);
        let latest = version(2, Status::Rejected);
        let owned = KeyState {
            reported_at: latest.reported_at,
            origin: latest.origin.clone(),
            latest: latest.clone(),
            accepted: Some(accepted.clone()),
        };
        let by_reference = KeyStateRef {
            reported_at: latest.reported_at,
            origin: &latest.origin,
            latest: VersionRecordRef {
                dataset: &latest.dataset,
                key: &latest.key,
                version: latest.version,
                op: latest.op,
                fields: &latest.fields,
                status: latest.status,
                issues: &latest.issues,
                changes: &latest.changes,
                changed_fields: latest.changed_fields.clone(),
                submitted_at: latest.submitted_at,
                reported_at: latest.reported_at,
                origin: &latest.origin,
                pack: &latest.pack,
                log_index: latest.log_index,
                seq: latest.seq,
                origin_version: latest.origin_version,
                hops: &latest.hops,
            },
            accepted: Some(&accepted),
        };
        assert_eq!(
            crate::codec::encode(&by_reference),
            crate::codec::encode(&owned)
        );
    }
}
