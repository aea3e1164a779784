//! Applies commands to the store: the deterministic heart of the node.

use std::collections::{BTreeMap, BTreeSet};

use regfed_governance::indicators::{is_timely, Counters};
use regfed_governance::{Fields, Op, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::command::{
    Command, CommandResponse, GovernedRecord, Outcome, RecordOutcome, SubmitBatch,
};
use super::keys;
use super::model::{
    AuditEvent, KeyState, OutboxEntry, QueueEntry, QueueStatus, Status, VersionRecord,
};
use super::{china_day, Millis};
use crate::store::{Store, StoreError, WriteSet};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value no longer decodes: the store is damaged or was written by another
    /// version. The node cannot go on applying.
    #[error("stored value at {key} does not decode: {source}")]
    Decode {
        key: String,
        source: crate::codec::Error,
    },
}

/// Collects the writes of one or more commands over a read view of the store, so that a
/// whole Raft apply batch commits atomically with its last-applied log id.
pub struct Applier<'a> {
    store: &'a Store,
    writes: WriteSet,
    /// Values updated many times per batch, kept decoded until the batch is written.
    counters: BTreeMap<Vec<u8>, Counters>,
    next_seq: Option<u64>,
    live: BTreeMap<String, i64>,
    /// Accepted changes of this apply, written as one `chg/` value.
    changes: Vec<OutboxEntry>,
    /// Accepted actions per item and day, for the items this apply touched.
    coverage: BTreeMap<String, BTreeMap<String, u32>>,
}

impl<'a> Applier<'a> {
    pub fn new(store: &'a Store) -> Self {
        Applier {
            store,
            writes: WriteSet::default(),
            counters: BTreeMap::new(),
            next_seq: None,
            live: BTreeMap::new(),
            changes: Vec::new(),
            coverage: BTreeMap::new(),
        }
    }

    /// Every write of the commands applied so far, ready to commit atomically.
    pub fn into_writes(mut self) -> WriteSet {
        for (key, c) in std::mem::take(&mut self.counters) {
            self.write(key, &c);
        }
        if let Some(seq) = self.next_seq {
            self.write(keys::NEXT_SEQ.to_vec(), &seq);
        }
        for (dataset, n) in std::mem::take(&mut self.live) {
            self.write(keys::live_count(&dataset), &n);
        }
        let changes = std::mem::take(&mut self.changes);
        if let Some(first) = changes.first() {
            self.write(keys::change(first.seq), &changes);
        }
        for (item, days) in std::mem::take(&mut self.coverage) {
            if days.is_empty() {
                self.writes.delete(keys::coverage(&item));
            } else {
                self.write(keys::coverage(&item), &days);
            }
        }
        self.writes
    }

    pub fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, ApplyError> {
        let bytes = match self.writes.get(key) {
            Some(Some(v)) => v.to_vec(),
            Some(None) => return Ok(None),
            None => match self.store.get(key)? {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        crate::codec::decode(&bytes)
            .map(Some)
            .map_err(|source| ApplyError::Decode {
                key: String::from_utf8_lossy(key).into_owned(),
                source,
            })
    }

    pub fn write<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        // Serializing our own types to JSON cannot fail: they have string keys only.
        let bytes = crate::codec::encode(value);
        self.writes.put(key, bytes);
    }

    pub fn apply(
        &mut self,
        log_index: u64,
        command: &Command,
    ) -> Result<CommandResponse, ApplyError> {
        match command {
            Command::Submit(batch) => self.submit(log_index, batch).map(CommandResponse::Submit),
        }
    }

    fn next_seq(&mut self) -> Result<u64, ApplyError> {
        let seq = match self.next_seq {
            Some(s) => s,
            None => self.read(keys::NEXT_SEQ)?.unwrap_or(1),
        };
        self.next_seq = Some(seq + 1);
        Ok(seq)
    }

    fn bump_live(&mut self, dataset: &str, delta: i64) -> Result<(), ApplyError> {
        if !self.live.contains_key(dataset) {
            let n: i64 = self.read(&keys::live_count(dataset))?.unwrap_or(0);
            self.live.insert(dataset.to_string(), n);
        }
        *self.live.entry(dataset.to_string()).or_default() += delta;
        Ok(())
    }

    fn counters(
        &mut self,
        region: &str,
        department: &str,
        day: &str,
        update: impl FnOnce(&mut Counters),
    ) -> Result<(), ApplyError> {
        let key = keys::counters(region, department, day);
        if !self.counters.contains_key(&key) {
            let c: Counters = self.read(&key)?.unwrap_or_default();
            self.counters.insert(key.clone(), c);
        }
        if let Some(c) = self.counters.get_mut(&key) {
            update(c);
        }
        Ok(())
    }

    fn submit(
        &mut self,
        log_index: u64,
        batch: &SubmitBatch,
    ) -> Result<Vec<RecordOutcome>, ApplyError> {
        let mut outcomes = Vec::with_capacity(batch.records.len());
        let mut audit = AuditEvent {
            log_index,
            at: batch.received_at,
            actor: batch.actor.clone(),
            action: "submit".into(),
            dataset: batch.dataset.clone(),
            accepted: 0,
            rejected: 0,
            unchanged: 0,
        };
        for record in &batch.records {
            let outcome = self.submit_one(log_index, batch, record)?;
            match outcome.outcome {
                Outcome::Accepted => audit.accepted += 1,
                Outcome::Rejected => audit.rejected += 1,
                Outcome::Unchanged => audit.unchanged += 1,
            }
            outcomes.push(outcome);
        }
        self.write(keys::audit(log_index), &audit);
        Ok(outcomes)
    }

    fn submit_one(
        &mut self,
        log_index: u64,
        batch: &SubmitBatch,
        verdict: &GovernedRecord,
    ) -> Result<RecordOutcome, ApplyError> {
        let source = verdict.source.as_str();
        let dataset = batch.dataset.as_str();
        let today = china_day(batch.received_at).to_string();
        let accepted = verdict.accepted();
        let status = if accepted {
            Status::Accepted
        } else {
            Status::Rejected
        };
        let outcome = |version: u64| RecordOutcome {
            key: verdict.key.clone(),
            outcome: status.into(),
            status,
            version,
            issues: verdict.issues.clone(),
            changes: verdict.changes.clone(),
            source: source.to_string(),
        };

        if verdict.key.is_empty() {
            // Without a key there is nothing to version or rectify by key: the answer names
            // the problem and the counters count it.
            self.counters(&batch.origin_region, &batch.department, &today, |c| {
                c.submitted += 1;
                c.rejected += 1;
                c.first_submitted += 1;
            })?;
            return Ok(outcome(0));
        }

        let state_key = keys::key_state(dataset, &verdict.key);
        let previous: Option<KeyState> = self.read(&state_key)?;
        let fingerprint = fingerprint(verdict);
        if let Some(prev) = &previous {
            if prev.last_fingerprint == fingerprint {
                return Ok(RecordOutcome {
                    outcome: Outcome::Unchanged,
                    status: prev.latest.status,
                    version: prev.latest.version,
                    ..outcome(prev.latest.version)
                });
            }
        }

        let version = previous.as_ref().map_or(1, |p| p.latest.version + 1);
        let first = previous.is_none();
        let reported_at = previous
            .as_ref()
            .map_or(batch.received_at, |p| p.reported_at);
        let origin = previous.as_ref().map_or_else(
            || super::Origin {
                region: batch.origin_region.clone(),
                department: batch.department.clone(),
            },
            |p| p.origin.clone(),
        );
        self.counters(&origin.region, &origin.department, &today, |c| {
            c.submitted += 1;
            if accepted {
                c.accepted += 1;
            } else {
                c.rejected += 1;
            }
            if first {
                c.first_submitted += 1;
                if accepted {
                    c.first_accepted += 1;
                }
            }
        })?;

        let previous_live = previous.as_ref().and_then(|p| p.live_fields().cloned());
        let mut seq = None;
        let queue_key = keys::queue(&origin.department, dataset, &verdict.key);
        // Invariant: a key has an open queue entry exactly when its latest version was
        // rejected, so only then is there one to read.
        let queued: Option<QueueEntry> = match &previous {
            Some(prev) if prev.latest.status == Status::Rejected => self.read(&queue_key)?,
            _ => None,
        };

        if accepted {
            let s = self.next_seq()?;
            seq = Some(s);
            let change = OutboxEntry {
                seq: s,
                dataset: dataset.to_string(),
                key: verdict.key.clone(),
                version,
                op: verdict.op,
            };
            self.changes.push(change);
            if dataset == "action" {
                if let Some(old) = &previous_live {
                    self.count_action(&origin, old, reported_at, batch.deadline_days, -1)?;
                }
                if verdict.op == Op::Upsert {
                    self.count_action(
                        &origin,
                        &verdict.fields,
                        reported_at,
                        batch.deadline_days,
                        1,
                    )?;
                }
            }
            let live_delta = match (previous_live.is_some(), verdict.op) {
                (false, Op::Upsert) => 1,
                (true, Op::Delete) => -1,
                _ => 0,
            };
            if live_delta != 0 {
                self.bump_live(dataset, live_delta)?;
            }
            if let Some(mut q) = queued.filter(|q| q.status == QueueStatus::Open) {
                let waited = ((batch.received_at - q.raised_at).max(0) / 1000) as u64;
                q.status = QueueStatus::Rectified;
                q.rectified_at = Some(batch.received_at);
                q.rectified_version = Some(version);
                self.write(queue_key, &q);
                self.counters(&origin.region, &origin.department, &today, |c| {
                    c.rectified += 1;
                    c.rectification.record(waited);
                })?;
            }
        } else {
            let raised_at = match &queued {
                Some(q) if q.status == QueueStatus::Open => q.raised_at,
                _ => batch.received_at,
            };
            let entry = QueueEntry {
                dataset: dataset.to_string(),
                key: verdict.key.clone(),
                version,
                department: origin.department.clone(),
                origin_region: origin.region.clone(),
                raised_by: batch.raised_by.clone(),
                status: QueueStatus::Open,
                issues: verdict.issues.clone(),
                fields: verdict.fields.clone(),
                raised_at,
                rectified_at: None,
                rectified_version: None,
                source: source.to_string(),
            };
            self.write(queue_key, &entry);
        }

        let changed_fields = changed_fields(previous_live.as_ref(), &verdict.fields);
        let record = VersionRecord {
            dataset: dataset.to_string(),
            key: verdict.key.clone(),
            version,
            op: verdict.op,
            fields: verdict.fields.clone(),
            status,
            issues: verdict.issues.clone(),
            changes: verdict.changes.clone(),
            changed_fields,
            submitted_at: batch.received_at,
            reported_at,
            origin: origin.clone(),
            pack: batch.pack.clone(),
            log_index,
            seq,
        };
        // The replaced latest version moves to the history; the accepted one stays at hand.
        let accepted_before = match previous {
            Some(prev) => {
                self.write(
                    keys::version(dataset, &verdict.key, prev.latest.version),
                    &prev.latest,
                );
                if prev.latest.status == Status::Accepted {
                    Some(prev.latest)
                } else {
                    prev.accepted
                }
            }
            None => None,
        };
        let state = KeyState {
            last_fingerprint: fingerprint,
            reported_at,
            origin,
            accepted: if accepted { None } else { accepted_before },
            latest: record,
        };
        self.write(state_key, &state);
        Ok(outcome(version))
    }

    /// Adds (`sign = 1`) or removes (`sign = -1`) an accepted action's contribution to
    /// timeliness (counted on the action's date) and to its item's coverage.
    fn count_action(
        &mut self,
        origin: &super::Origin,
        fields: &Fields,
        reported_at: Millis,
        deadline_days: i64,
        sign: i64,
    ) -> Result<(), ApplyError> {
        let text = |name: &str| fields.get(name).and_then(Value::as_text).unwrap_or("");
        let (item_code, action_date) = (text("item_code"), text("action_date"));
        let Ok(date) = chrono::NaiveDate::parse_from_str(action_date, "%Y-%m-%d") else {
            return Ok(());
        };
        let timely = is_timely(date, china_day(reported_at), deadline_days);
        self.counters(&origin.region, &origin.department, action_date, |c| {
            if sign > 0 {
                c.actions_accepted += 1;
                c.actions_timely += u64::from(timely);
            } else {
                c.actions_accepted = c.actions_accepted.saturating_sub(1);
                c.actions_timely = c.actions_timely.saturating_sub(u64::from(timely));
            }
        })?;
        if !self.coverage.contains_key(item_code) {
            let days: BTreeMap<String, u32> =
                self.read(&keys::coverage(item_code))?.unwrap_or_default();
            self.coverage.insert(item_code.to_string(), days);
        }
        if let Some(days) = self.coverage.get_mut(item_code) {
            let n = days.entry(action_date.to_string()).or_default();
            if sign > 0 {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    days.remove(action_date);
                }
            }
        }
        Ok(())
    }
}

/// Names of fields added, removed or altered relative to the previous accepted version;
/// empty for a key that had no accepted version (everything is new).
fn changed_fields(previous: Option<&Fields>, next: &Fields) -> Vec<String> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let names: BTreeSet<&String> = previous.keys().chain(next.keys()).collect();
    names
        .into_iter()
        .filter(|n| previous.get(*n) != next.get(*n))
        .cloned()
        .collect()
}

/// A stable 64-bit FNV-1a fingerprint of a submission: op, standardized fields and the
/// verdict's rule ids. Equal fingerprints mean "identical record, identical verdict".
/// Stable across processes and machines (no random hasher keys), as replicas require.
pub fn fingerprint(verdict: &GovernedRecord) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    };
    feed(verdict.op.as_str().as_bytes());
    for (name, value) in &verdict.fields {
        feed(name.as_bytes());
        match value {
            Value::Text(t) => feed(t.as_bytes()),
            Value::List(items) => {
                for i in items {
                    feed(i.as_bytes());
                }
                feed(b"\x01list");
            }
        }
    }
    for issue in &verdict.issues {
        feed(issue.rule.as_bytes());
        feed(issue.severity.as_str().as_bytes());
    }
    hash
}
