//! Applies commands to the store: the deterministic heart of the node.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regfed_governance::indicators::{is_timely, Counters};
use regfed_governance::{FieldName, Fields, Op, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use regfed_governance::{Issue, PackId, Severity};

use super::command::{
    Command, CommandResponse, GovernedRecord, NoticeBatch, Outcome, RecordOutcome, SubmitBatch,
    SyncBatch, SyncOutcome,
};
use super::model::{
    AuditEvent, Hop, KeyState, KeyStateRef, Notice, NoticeKind, OutboxEntry, QueueEntry,
    QueueStatus, RaisedBy, SlotVersion, Status, VersionRecord,
};
use super::{bucket, keys};
use super::{china_day, Millis, Origin};
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
    #[error(transparent)]
    Bucket(#[from] bucket::DamagedAt),
    /// Computed writes are installed by the state machine, not applied as a command.
    #[error("a computed entry reached the applier; the state machine installs those")]
    Computed,
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, ApplyError> {
    crate::codec::decode(bytes).map_err(|source| ApplyError::Decode {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

/// Accepted changes per `chg/` key. sled copies a whole leaf (up to 16 keys) at every
/// insert into it and writes a leaf over 128 KiB to a blob file of its own: one key for a
/// batch of 1,000 changes (about 45 KB) made the newest `chg/` leaf several hundred
/// kilobytes, copied and written out at every batch. Groups of 64 keep a leaf under 64 KB.
pub const CHANGES_PER_KEY: usize = 64;

/// Writes not in the store yet that an apply reads through (see `raft::speculation`).
pub trait Overlay: Sync {
    /// `Some(Some(v))` written, `Some(None)` deleted, `None` untouched here.
    fn lookup(&self, key: &[u8]) -> Option<Option<sled::IVec>>;
}

impl Overlay for WriteSet {
    fn lookup(&self, key: &[u8]) -> Option<Option<sled::IVec>> {
        WriteSet::lookup(self, key)
    }
}

/// Collects the writes of one or more commands over a read view of the store, so that a
/// whole Raft apply batch commits atomically with its last-applied log id.
pub struct Applier<'a> {
    store: &'a Store,
    /// Writes not in the store yet, read before it.
    overlay: Option<&'a dyn Overlay>,
    writes: WriteSet,
    /// Values updated many times per batch, kept decoded until the batch is written: the
    /// counters of a month's days by key (`keys::counters`).
    counters: BTreeMap<Vec<u8>, BTreeMap<String, Counters>>,
    next_seq: Option<u64>,
    live: BTreeMap<String, i64>,
    /// Accepted changes of this apply, written as one `chg/` value.
    changes: Vec<OutboxEntry>,
    /// Accepted actions per item and day, for the items this apply touched.
    coverage: BTreeMap<String, BTreeMap<String, u32>>,
    /// Next notice sequence number per child link.
    notice_next: BTreeMap<String, u64>,
    /// Reused to build the keys looked up many times per batch.
    key_buffer: Vec<u8>,
    /// The position of the command being applied within its log entry's group: the
    /// audit event of each command of a group has a key of its own.
    position: u32,
    /// The key state buckets this apply has touched, by key, in their slots: each is read
    /// once and written once however many of its keys the apply changes.
    buckets: HashMap<Vec<u8>, bucket::Slots>,
}

/// What applying one record needs besides the record: where it comes from and how it was
/// judged.
struct Arrival<'b> {
    dataset: &'b str,
    /// The origin of a key seen for the first time.
    origin: Origin,
    received_at: Millis,
    /// The China day of `received_at`, the day the counters count the record on.
    today: &'b str,
    deadline_days: i64,
    pack: &'b PackId,
    raised_by: &'b RaisedBy,
    /// Set when the record comes up from a child tier.
    upstream: Option<Upstream<'b>>,
}

struct Upstream<'b> {
    /// The child link (its region) the record came over, where notices go back down.
    child: &'b str,
    key_field: &'b str,
    origin_version: u64,
    reported_at: Millis,
    hops: &'b [Hop],
}

impl<'a> Applier<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self::over(store, None)
    }

    /// An applier reading `overlay` before `store`: the state those writes leave.
    pub fn over(store: &'a Store, overlay: Option<&'a dyn Overlay>) -> Self {
        Applier {
            store,
            overlay,
            writes: WriteSet::default(),
            counters: BTreeMap::new(),
            next_seq: None,
            live: BTreeMap::new(),
            changes: Vec::new(),
            coverage: BTreeMap::new(),
            notice_next: BTreeMap::new(),
            key_buffer: Vec::new(),
            position: 0,
            buckets: HashMap::new(),
        }
    }

    /// Every write of the commands applied so far, ready to commit atomically.
    ///
    /// Accepted changes go in groups of [`CHANGES_PER_KEY`], keyed by the first one's
    /// sequence number.
    pub fn into_writes(mut self) -> WriteSet {
        for (key, slots) in std::mem::take(&mut self.buckets) {
            if slots.changed() {
                self.writes.put(key, slots.encode());
            }
        }
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
        for group in changes.chunks(CHANGES_PER_KEY) {
            self.write(keys::change(group[0].seq), &group);
        }
        for (child, next) in std::mem::take(&mut self.notice_next) {
            self.write(keys::notice_next(&child), &next);
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
            None => match self.stored(key)? {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        decode(key, &bytes).map(Some)
    }

    /// A key's value before this apply: in the overlay, else in the store.
    fn stored(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        if let Some(written) = self.overlay.and_then(|o| o.lookup(key)) {
            return Ok(written.map(|v| v.to_vec()));
        }
        Ok(self.store.get(key)?)
    }

    /// The bucket at `bucket_key` as this apply leaves it, read from the store the first
    /// time.
    fn bucket(&mut self, bucket_key: &[u8]) -> Result<&mut bucket::Slots, ApplyError> {
        if !self.buckets.contains_key(bucket_key) {
            let slots = match self.stored(bucket_key)? {
                Some(stored) => bucket::Slots::parse(&stored).map_err(|e| e.at(bucket_key))?,
                None => bucket::Slots::default(),
            };
            self.buckets.insert(bucket_key.to_vec(), slots);
        }
        Ok(self
            .buckets
            .get_mut(bucket_key)
            .expect("the bucket was just filled"))
    }

    /// The state of `key` of `dataset`, in `slot` of the bucket at `bucket_key`, as this
    /// apply leaves it.
    fn read_key_state(
        &mut self,
        (bucket_key, slot): (&[u8], &str),
        dataset: &str,
        key: &str,
    ) -> Result<Option<KeyState>, ApplyError> {
        let Some(state) = self.bucket(bucket_key)?.get(slot) else {
            return Ok(None);
        };
        KeyState::decode(dataset, key, state)
            .map(Some)
            .map_err(|source| ApplyError::Decode {
                key: String::from_utf8_lossy(bucket_key).into_owned(),
                source,
            })
    }

    /// Sets the key state in `slot` of the bucket at `bucket_key`.
    fn write_key_state(
        &mut self,
        bucket_key: &[u8],
        slot: &str,
        state: &KeyStateRef,
    ) -> Result<(), ApplyError> {
        let state = crate::codec::encode(state);
        self.bucket(bucket_key)?.set(slot, state);
        Ok(())
    }

    pub fn write<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.writes.put_value(key, value);
    }

    pub fn apply(
        &mut self,
        log_index: u64,
        command: &Command,
    ) -> Result<CommandResponse, ApplyError> {
        match command {
            Command::Submit(batch) => self.submit(log_index, batch).map(CommandResponse::Submit),
            Command::Sync(batch) => self.sync(log_index, batch).map(CommandResponse::Sync),
            Command::Notices(batch) => self.notices(batch).map(CommandResponse::Notices),
            Command::Group(commands) => {
                let mut responses = Vec::with_capacity(commands.len());
                for (position, command) in commands.iter().enumerate() {
                    self.position = position as u32;
                    responses.push(self.apply(log_index, command)?);
                }
                self.position = 0;
                Ok(CommandResponse::Group(responses))
            }
            Command::Computed(_) => Err(ApplyError::Computed),
            Command::ParentAcked(seq) => {
                let acked: u64 = self.read(keys::ACKED_SEQ)?.unwrap_or(0);
                if *seq > acked {
                    self.write(keys::ACKED_SEQ.to_vec(), seq);
                }
                Ok(CommandResponse::None)
            }
        }
    }

    /// Queues a notice for the child link `child`, numbering it.
    fn send_notice(&mut self, child: &str, mut notice: Notice) -> Result<(), ApplyError> {
        let next = match self.notice_next.get(child) {
            Some(n) => *n,
            None => self.read(&keys::notice_next(child))?.unwrap_or(1),
        };
        notice.seq = next;
        self.notice_next.insert(child.to_string(), next + 1);
        self.write(keys::notice(child, next), &notice);
        Ok(())
    }

    /// Queues a notice about `key` for the origin of a child's record, down the link it came
    /// over.
    fn notify(
        &mut self,
        a: &Arrival,
        up: &Upstream,
        key: &str,
        kind: NoticeKind,
        issues: Vec<Issue>,
        fields: Fields,
    ) -> Result<(), ApplyError> {
        let notice = Notice {
            seq: 0,
            kind,
            dataset: a.dataset.to_string(),
            key: key.to_string(),
            version: up.origin_version,
            origin: a.origin.clone(),
            raised_by: a.raised_by.clone(),
            issues,
            fields,
            at: a.received_at,
        };
        self.send_notice(up.child, notice)
    }

    /// A child's batch: committed once, in order, whatever the link resends.
    fn sync(&mut self, log_index: u64, batch: &SyncBatch) -> Result<SyncOutcome, ApplyError> {
        let hw_key = keys::link_high_water(&batch.child);
        let high_water: u64 = self.read(&hw_key)?.unwrap_or(0);
        let mut out = SyncOutcome {
            high_water,
            ..SyncOutcome::default()
        };
        let range = regfed_sync::SeqRange {
            first: batch.first_seq,
            last: batch.last_seq,
        };
        match regfed_sync::admit(range, high_water) {
            regfed_sync::Admission::Duplicate => {
                out.duplicate = true;
                return Ok(out);
            }
            // Nothing is applied; the high-water mark tells the link where to resume.
            regfed_sync::Admission::Gap => return Ok(out),
            regfed_sync::Admission::Apply { .. } => {}
        }
        let mut audit = AuditEvent {
            log_index,
            at: batch.received_at,
            actor: batch.actor.clone(),
            action: "sync".into(),
            dataset: String::new(),
            accepted: 0,
            rejected: 0,
            unchanged: 0,
        };
        let today = china_day(batch.received_at).to_string();
        for r in batch.records.iter().filter(|r| r.seq > high_water) {
            let arrival = Arrival {
                dataset: &r.dataset,
                origin: r.origin.clone(),
                received_at: batch.received_at,
                today: &today,
                deadline_days: batch.deadline_days,
                pack: &batch.pack,
                raised_by: &batch.raised_by,
                upstream: Some(Upstream {
                    child: &batch.child,
                    key_field: &r.key_field,
                    origin_version: r.origin_version,
                    reported_at: r.reported_at,
                    hops: &r.hops,
                }),
            };
            match self.record(log_index, &arrival, &r.record)?.outcome {
                Outcome::Accepted => audit.accepted += 1,
                Outcome::Rejected => audit.rejected += 1,
                Outcome::Unchanged => audit.unchanged += 1,
            }
        }
        out.high_water = batch.last_seq;
        out.accepted = audit.accepted as u32;
        out.rejected = audit.rejected as u32;
        out.unchanged = audit.unchanged as u32;
        self.write(hw_key, &batch.last_seq);
        self.write(keys::audit(log_index, self.position), &audit);
        Ok(out)
    }

    /// Notices from the parent: each applied once, joining the queue of the origin's
    /// department here and, at a province, passed on to the city below.
    fn notices(&mut self, batch: &NoticeBatch) -> Result<u64, ApplyError> {
        let mut applied: u64 = self.read(keys::NOTICES_APPLIED)?.unwrap_or(0);
        let mut count = 0;
        for incoming in &batch.notices {
            let notice = &incoming.notice;
            if notice.seq <= applied {
                continue;
            }
            applied = notice.seq;
            count += 1;
            let queue_key = keys::queue(&notice.origin.department, &notice.dataset, &notice.key);
            match notice.kind {
                NoticeKind::Rejected => {
                    let entry = QueueEntry {
                        dataset: notice.dataset.clone(),
                        key: notice.key.clone(),
                        version: notice.version,
                        department: notice.origin.department.clone(),
                        origin_region: notice.origin.region.clone(),
                        raised_by: notice.raised_by.clone(),
                        status: QueueStatus::Open,
                        issues: notice.issues.clone(),
                        fields: notice.fields.clone(),
                        raised_at: notice.at,
                        rectified_at: None,
                        rectified_version: None,
                        source: format!(
                            "notice from the {} tier ({})",
                            notice.raised_by.tier, notice.raised_by.region
                        ),
                    };
                    self.write(queue_key, &entry);
                }
                NoticeKind::Resolved => {
                    let queued: Option<QueueEntry> = self.read(&queue_key)?;
                    if let Some(mut q) = queued.filter(|q| {
                        q.status == QueueStatus::Open && q.raised_by == notice.raised_by
                    }) {
                        let waited = ((notice.at - q.raised_at).max(0) / 1000) as u64;
                        q.status = QueueStatus::Rectified;
                        q.rectified_at = Some(notice.at);
                        q.rectified_version = Some(notice.version);
                        self.write(queue_key, &q);
                        let day = china_day(notice.at).to_string();
                        let origin = &notice.origin;
                        self.counters(&origin.region, &origin.department, &day, |c| {
                            c.rectified += 1;
                            c.rectification.record(waited);
                        })?;
                    }
                }
            }
            if let Some(child) = &incoming.relay_to {
                self.send_notice(child, notice.clone())?;
            }
        }
        self.write(keys::NOTICES_APPLIED.to_vec(), &applied);
        Ok(count)
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
        match self.live.get_mut(dataset) {
            Some(n) => *n += delta,
            None => {
                let n: i64 = self.read(&keys::live_count(dataset))?.unwrap_or(0);
                self.live.insert(dataset.to_string(), n + delta);
            }
        }
        Ok(())
    }

    fn counters(
        &mut self,
        region: &str,
        department: &str,
        day: &str,
        update: impl FnOnce(&mut Counters),
    ) -> Result<(), ApplyError> {
        let mut key = std::mem::take(&mut self.key_buffer);
        keys::counters_into(&mut key, region, department, day);
        if !self.counters.contains_key(&key) {
            let days = self.read(&key)?.unwrap_or_default();
            self.counters.insert(key.clone(), days);
        }
        let days = self
            .counters
            .get_mut(&key)
            .expect("the month was just read");
        match days.get_mut(day) {
            Some(c) => update(c),
            None => {
                let mut c = Counters::default();
                update(&mut c);
                days.insert(day.to_string(), c);
            }
        }
        self.key_buffer = key;
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
        let today = china_day(batch.received_at).to_string();
        let arrival = Arrival {
            dataset: &batch.dataset,
            origin: Origin {
                region: batch.origin_region.clone(),
                department: batch.department.clone(),
            },
            received_at: batch.received_at,
            today: &today,
            deadline_days: batch.deadline_days,
            pack: &batch.pack,
            raised_by: &batch.raised_by,
            upstream: None,
        };
        for record in &batch.records {
            let outcome = self.record(log_index, &arrival, record)?;
            match outcome.outcome {
                Outcome::Accepted => audit.accepted += 1,
                Outcome::Rejected => audit.rejected += 1,
                Outcome::Unchanged => audit.unchanged += 1,
            }
            outcomes.push(outcome);
        }
        self.write(keys::audit(log_index, self.position), &audit);
        Ok(outcomes)
    }

    /// Applies one governed record: a new version (or nothing, when identical to the
    /// latest), the queue, the counters, the outbox and, for a child's record, notices.
    fn record(
        &mut self,
        log_index: u64,
        a: &Arrival,
        verdict: &GovernedRecord,
    ) -> Result<RecordOutcome, ApplyError> {
        let source = verdict.source.as_str();
        let dataset = a.dataset;
        let today = a.today;
        if verdict.key.is_empty() {
            // Without a key there is nothing to version or rectify by key: the answer names
            // the problem and the counters count it.
            let accepted = verdict.accepted();
            self.counters(&a.origin.region, &a.origin.department, today, |c| {
                c.submitted += 1;
                c.rejected += u64::from(!accepted);
                c.accepted += u64::from(accepted);
                c.first_submitted += 1;
            })?;
            return Ok(RecordOutcome {
                outcome: Outcome::Rejected,
                status: Status::Rejected,
                version: 0,
            });
        }

        let (bucket_key, slot) = keys::key_state(dataset, &verdict.key);
        let previous = self.read_key_state((&bucket_key, slot), dataset, &verdict.key)?;
        if let (Some(up), Some(prev)) = (&a.upstream, &previous) {
            if prev.origin.region != a.origin.region && prev.current().is_some() {
                return self.cross_origin(a, up, prev, verdict);
            }
        }
        let accepted = verdict.accepted();
        let status = if accepted {
            Status::Accepted
        } else {
            Status::Rejected
        };
        let outcome = |version: u64| RecordOutcome {
            outcome: status.into(),
            status,
            version,
        };
        if let Some(prev) = &previous {
            if same_submission(&prev.latest, verdict) {
                return Ok(RecordOutcome {
                    outcome: Outcome::Unchanged,
                    status: prev.latest.status,
                    version: prev.latest.version,
                });
            }
        }

        let version = previous.as_ref().map_or(1, |p| p.latest.version + 1);
        let first = previous.is_none();
        let reported_at = match &a.upstream {
            Some(up) => up.reported_at,
            None => previous.as_ref().map_or(a.received_at, |p| p.reported_at),
        };
        let origin = previous
            .as_ref()
            .map_or_else(|| a.origin.clone(), |p| p.origin.clone());
        self.counters(&origin.region, &origin.department, today, |c| {
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
        let queue_key = || keys::queue(&origin.department, dataset, &verdict.key);
        // Invariant: a key has an open queue entry exactly when its latest version was
        // rejected, so only then is there one to read.
        let queued: Option<QueueEntry> = match &previous {
            Some(prev) if prev.latest.status == Status::Rejected => self.read(&queue_key())?,
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
                    self.count_action(&origin, old, reported_at, a.deadline_days, -1)?;
                }
                if verdict.op == Op::Upsert {
                    self.count_action(&origin, &verdict.fields, reported_at, a.deadline_days, 1)?;
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
                let waited = ((a.received_at - q.raised_at).max(0) / 1000) as u64;
                q.status = QueueStatus::Rectified;
                q.rectified_at = Some(a.received_at);
                q.rectified_version = Some(version);
                if let Some(up) = &a.upstream {
                    self.notify(
                        a,
                        up,
                        &verdict.key,
                        NoticeKind::Resolved,
                        Vec::new(),
                        Fields::new(),
                    )?;
                }
                self.write(queue_key(), &q);
                self.counters(&origin.region, &origin.department, today, |c| {
                    c.rectified += 1;
                    c.rectification.record(waited);
                })?;
            }
        } else {
            let raised_at = match &queued {
                Some(q) if q.status == QueueStatus::Open => q.raised_at,
                _ => a.received_at,
            };
            if let Some(up) = &a.upstream {
                self.notify(
                    a,
                    up,
                    &verdict.key,
                    NoticeKind::Rejected,
                    verdict.issues.clone(),
                    verdict.fields.clone(),
                )?;
            }
            let entry = QueueEntry {
                dataset: dataset.to_string(),
                key: verdict.key.clone(),
                version,
                department: origin.department.clone(),
                origin_region: origin.region.clone(),
                raised_by: a.raised_by.clone(),
                status: QueueStatus::Open,
                issues: verdict.issues.clone(),
                fields: verdict.fields.clone(),
                raised_at,
                rectified_at: None,
                rectified_version: None,
                source: source.to_string(),
            };
            self.write(queue_key(), &entry);
        }

        let changed_fields = changed_fields(previous_live.as_ref(), &verdict.fields);
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
        let state = KeyStateRef {
            reported_at,
            origin: &origin,
            accepted: match accepted {
                true => None,
                false => accepted_before
                    .as_ref()
                    .map(|v| SlotVersion::of(v, &origin, reported_at)),
            },
            latest: SlotVersion {
                version,
                op: verdict.op,
                fields: &verdict.fields,
                status,
                issues: &verdict.issues,
                changes: &verdict.changes,
                changed_fields: &changed_fields,
                submitted_at: a.received_at,
                // The key state's, which the version's slot leaves out.
                reported_at: None,
                origin: None,
                pack: a.pack,
                log_index,
                seq,
                origin_version: a.upstream.as_ref().map_or(version, |up| up.origin_version),
                hops: a.upstream.as_ref().map_or(&[], |up| up.hops),
            },
        };
        self.write_key_state(&bucket_key, slot, &state)?;
        Ok(outcome(version))
    }

    /// A child's record whose key another origin holds here: the first stands. A subject
    /// registered again under the same name is the same entity and changes nothing; any
    /// other conflict is rejected into the queue of the record's own department and noticed
    /// down to it. The holder's state is not touched.
    fn cross_origin(
        &mut self,
        a: &Arrival,
        up: &Upstream,
        holder: &KeyState,
        verdict: &GovernedRecord,
    ) -> Result<RecordOutcome, ApplyError> {
        let dataset = a.dataset;
        let today = a.today;
        let held = holder.live_fields();
        let name = |f: Option<&Fields>| f.and_then(|f| f.get("name")).cloned();
        let queue_key = keys::queue(&a.origin.department, dataset, &verdict.key);
        let queued: Option<QueueEntry> = self.read(&queue_key)?;
        let open = queued.filter(|q| q.status == QueueStatus::Open);
        let same_entity = dataset == "subject"
            && verdict.op == Op::Upsert
            && name(held) == name(Some(&verdict.fields));
        if same_entity || verdict.op == Op::Delete {
            // Nothing to hold against the record: it agrees with the holder, or the
            // origin withdraws it. An open conflict of this origin is resolved.
            if let Some(mut q) = open {
                let waited = ((a.received_at - q.raised_at).max(0) / 1000) as u64;
                q.status = QueueStatus::Rectified;
                q.rectified_at = Some(a.received_at);
                q.rectified_version = Some(up.origin_version);
                self.write(queue_key, &q);
                self.counters(&a.origin.region, &a.origin.department, today, |c| {
                    c.submitted += 1;
                    c.accepted += 1;
                    c.rectified += 1;
                    c.rectification.record(waited);
                })?;
                self.notify(
                    a,
                    up,
                    &verdict.key,
                    NoticeKind::Resolved,
                    Vec::new(),
                    Fields::new(),
                )?;
            }
            return Ok(RecordOutcome {
                outcome: Outcome::Unchanged,
                status: Status::Accepted,
                version: holder.latest.version,
            });
        }
        let (field, what_zh, what_en) = if dataset == "subject" {
            (
                "name",
                "统一社会信用代码已由",
                "this unified social credit code is registered under another name by",
            )
        } else {
            (up.key_field, "编码已由", "this code is already reported by")
        };
        let mut issues = verdict.issues.clone();
        issues.push(Issue {
            rule: format!("{dataset}.{field}.cross_origin"),
            field: field.to_string(),
            severity: Severity::Error,
            message_zh: format!(
                "{what_zh}{}的部门{}报送，不能由{}重复报送",
                holder.origin.region, holder.origin.department, a.origin.region
            ),
            message_en: format!(
                "{what_en} region {} (department {}); region {} may not report it again",
                holder.origin.region, holder.origin.department, a.origin.region
            ),
            example: String::new(),
        });
        let raised_at = open.as_ref().map_or(a.received_at, |q| q.raised_at);
        self.counters(&a.origin.region, &a.origin.department, today, |c| {
            c.submitted += 1;
            c.rejected += 1;
        })?;
        self.write(
            queue_key,
            &QueueEntry {
                dataset: dataset.to_string(),
                key: verdict.key.clone(),
                version: up.origin_version,
                department: a.origin.department.clone(),
                origin_region: a.origin.region.clone(),
                raised_by: a.raised_by.clone(),
                status: QueueStatus::Open,
                issues: issues.clone(),
                fields: verdict.fields.clone(),
                raised_at,
                rectified_at: None,
                rectified_version: None,
                source: verdict.source.clone(),
            },
        );
        self.notify(
            a,
            up,
            &verdict.key,
            NoticeKind::Rejected,
            issues.clone(),
            verdict.fields.clone(),
        )?;
        Ok(RecordOutcome {
            outcome: Outcome::Rejected,
            status: Status::Rejected,
            version: 0,
        })
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
        let Some(date) = regfed_governance::parse_iso_date(action_date) else {
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
            match days.get_mut(action_date) {
                Some(n) if sign > 0 => *n += 1,
                Some(n) => {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        days.remove(action_date);
                    }
                }
                None if sign > 0 => {
                    days.insert(action_date.to_string(), 1);
                }
                None => {}
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
    let names: BTreeSet<&FieldName> = previous.keys().chain(next.keys()).collect();
    names
        .into_iter()
        .filter(|n| previous.get(n.as_str()) != next.get(n.as_str()))
        .map(|n| n.to_string())
        .collect()
}

/// Whether a submission repeats the latest one of its key: the same op, the same
/// standardized fields and the same verdict (rule ids and severities, in order). A repeat
/// changes nothing and answers the stored verdict.
fn same_submission(latest: &VersionRecord, verdict: &GovernedRecord) -> bool {
    latest.op == verdict.op
        && latest.issues.len() == verdict.issues.len()
        && latest
            .issues
            .iter()
            .zip(&verdict.issues)
            .all(|(a, b)| a.rule == b.rule && a.severity == b.severity)
        && latest.fields == verdict.fields
}
