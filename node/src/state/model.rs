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
/// a version moves to `ver/` only when a newer one replaces it. It is stored in its
/// bucket's slot in a form of its own ([`KeyStateRef`], read back by [`KeyState::decode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// The key state of `key` of `dataset`, from its slot's bytes ([`KeyStateRef`]).
    pub fn decode(dataset: &str, key: &str, bytes: &[u8]) -> Result<KeyState, crate::codec::Error> {
        let stored: StoredKeyState = crate::codec::decode(bytes)?;
        let version =
            |v: StoredVersion| v.into_record(dataset, key, &stored.origin, stored.reported_at);
        Ok(KeyState {
            latest: version(stored.latest),
            accepted: stored.accepted.map(version),
            reported_at: stored.reported_at,
            origin: stored.origin,
        })
    }
}

/// A key state as its bucket's slot stores it. Its versions leave out what the slot
/// already says: their data set and key (the bucket's and the slot's), and their origin
/// and first receipt where these are the key state's (always, as the apply writes them).
/// These repeats were a sixth of a stored action's bytes, written by every member and
/// carried in every Raft entry of computed writes.
#[derive(Serialize)]
pub struct KeyStateRef<'a> {
    pub reported_at: Millis,
    pub origin: &'a Origin,
    pub latest: SlotVersion<'a>,
    pub accepted: Option<SlotVersion<'a>>,
}

/// A version as a key state's slot stores it (see [`KeyStateRef`]), by reference:
/// applying a record writes it straight from the Raft entry, without copying the record.
#[derive(Serialize)]
pub struct SlotVersion<'a> {
    pub version: u64,
    pub op: Op,
    #[serde(serialize_with = "crate::codec::fields::serialize_ref")]
    pub fields: &'a Fields,
    pub status: Status,
    pub issues: &'a [Issue],
    pub changes: &'a [Change],
    pub changed_fields: &'a [String],
    pub submitted_at: Millis,
    /// `None`: the key state's.
    pub reported_at: Option<Millis>,
    /// `None`: the key state's.
    pub origin: Option<&'a Origin>,
    pub pack: &'a PackId,
    pub log_index: u64,
    pub seq: Option<u64>,
    pub origin_version: u64,
    pub hops: &'a [Hop],
}

impl<'a> SlotVersion<'a> {
    /// `version` as the slot of a key state of `origin`, first received at
    /// `reported_at`, stores it.
    pub fn of(version: &'a VersionRecord, origin: &Origin, reported_at: Millis) -> Self {
        SlotVersion {
            version: version.version,
            op: version.op,
            fields: &version.fields,
            status: version.status,
            issues: &version.issues,
            changes: &version.changes,
            changed_fields: &version.changed_fields,
            submitted_at: version.submitted_at,
            reported_at: Some(version.reported_at).filter(|r| *r != reported_at),
            origin: Some(&version.origin).filter(|o| *o != origin),
            pack: &version.pack,
            log_index: version.log_index,
            seq: version.seq,
            origin_version: version.origin_version,
            hops: &version.hops,
        }
    }
}

/// [`KeyStateRef`] read back: the same fields, owned, in the same order.
#[derive(Deserialize)]
struct StoredKeyState {
    reported_at: Millis,
    origin: Origin,
    latest: StoredVersion,
    accepted: Option<StoredVersion>,
}

/// [`SlotVersion`] read back.
#[derive(Deserialize)]
struct StoredVersion {
    version: u64,
    op: Op,
    #[serde(with = "crate::codec::fields")]
    fields: Fields,
    status: Status,
    issues: Vec<Issue>,
    changes: Vec<Change>,
    changed_fields: Vec<String>,
    submitted_at: Millis,
    reported_at: Option<Millis>,
    origin: Option<Origin>,
    pack: PackId,
    log_index: u64,
    seq: Option<u64>,
    origin_version: u64,
    hops: Vec<Hop>,
}

impl StoredVersion {
    fn into_record(
        self,
        dataset: &str,
        key: &str,
        origin: &Origin,
        reported_at: Millis,
    ) -> VersionRecord {
        VersionRecord {
            dataset: dataset.to_string(),
            key: key.to_string(),
            version: self.version,
            op: self.op,
            fields: self.fields,
            status: self.status,
            issues: self.issues,
            changes: self.changes,
            changed_fields: self.changed_fields,
            submitted_at: self.submitted_at,
            reported_at: self.reported_at.unwrap_or(reported_at),
            origin: self.origin.unwrap_or_else(|| origin.clone()),
            pack: self.pack,
            log_index: self.log_index,
            seq: self.seq,
            origin_version: self.origin_version,
            hops: self.hops,
        }
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

    const KEY: &str = "420100-XZCF-2026-S00000123";
    const DEPARTMENT: &str = "11420100MB9000015H";

    fn version(n: u64, status: Status) -> VersionRecord {
        let mut fields = Fields::new();
        fields.insert("action_id".into(), Value::from("A1"));
        fields.insert("officers".into(), Value::List(vec!["1".into(), "2".into()]));
        VersionRecord {
            dataset: "action".into(),
            key: KEY.into(),
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
                department: DEPARTMENT.into(),
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
    fn a_key_state_is_stored_without_what_its_slot_says_and_read_back_whole() {
        let accepted = version(1, Status::Accepted);
        let latest = version(2, Status::Rejected);
        let state = |accepted: Option<VersionRecord>| KeyState {
            reported_at: latest.reported_at,
            origin: latest.origin.clone(),
            latest: latest.clone(),
            accepted,
        };
        let stored = |state: &KeyState| {
            let slot = |v| SlotVersion::of(v, &state.origin, state.reported_at);
            crate::codec::encode(&KeyStateRef {
                reported_at: state.reported_at,
                origin: &state.origin,
                latest: slot(&state.latest),
                accepted: state.accepted.as_ref().map(slot),
            })
        };
        for state in [state(None), state(Some(accepted.clone()))] {
            let bytes = stored(&state);
            assert_eq!(KeyState::decode("action", KEY, &bytes).unwrap(), state);
            // The key is the slot's, and the origin is the key state's, written once.
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(KEY), "{text:?}");
            assert_eq!(text.matches(DEPARTMENT).count(), 1, "{text:?}");
        }
        // A version of another origin or first receipt keeps its own.
        let mut other = accepted.clone();
        other.origin.department = "E".into();
        other.reported_at += 1;
        let mixed = state(Some(other));
        assert_eq!(
            KeyState::decode("action", KEY, &stored(&mixed)).unwrap(),
            mixed
        );
        assert!(KeyState::decode("action", KEY, &stored(&mixed)[..10]).is_err());
    }
}
