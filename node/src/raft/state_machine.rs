//! The Raft state machine on sled: installs the writes the leader computed for each entry
//! (see `speculation.rs`), applies an entry that carries commands through
//! [`Applier`](crate::state::apply::Applier), and builds and installs snapshots.
//!
//! Each apply commits its writes and the last-applied log id in one atomic sled batch,
//! so after a crash the state is exactly "applied up to X" and openraft re-applies from
//! X + 1 out of the durable log. Apply does not sync: the log is the durable record, and a
//! snapshot syncs before it is offered.
//!
//! **Entries of another leader that carry commands are applied later, together.** (A
//! leader of this version proposes computed writes, which are installed at once: keeping
//! them back would save nothing. What is kept back is a leader's blank and membership
//! entries, and the commands of a leader that proposes commands.) No one waits for a
//! follower's apply: its answers go nowhere, and reads that must be current run on the
//! leader. So a follower keeps the entries it is given (the [`Stash`]) and applies them in
//! one go once they hold [`STASH_RECORDS`] records, the first has waited [`STASH_WAIT`],
//! or none came for a moment ([`crate::gather::IDLE`]: the stream of entries stopped).
//! One apply of many entries reads and writes each key state bucket, counter and
//! coverage map once for all of them, where one apply per entry did so for each: under
//! ingest of 100,000 actions into a group of three, a follower's writes fell from about
//! 60,000 to 36,000 and its CPU per record by about a tenth.
//!
//! The stash is applied at once before anything that needs the state current: an entry
//! this node proposed (so a new leader's first entry, the blank one openraft appends,
//! finds every earlier entry applied), the applied state openraft asks for, and a
//! snapshot; a snapshot installed supersedes it. An entry this node proposed is never
//! kept back: its caller waits for its answer. What a follower's `status` shows can lag
//! its log by up to [`STASH_WAIT`]. The stash is memory only: after a crash openraft
//! applies its entries again from the log, since the last-applied id in sled does not
//! count them.

use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, SnapshotMeta, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::speculation::Speculation;
use super::{storage_error, Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::gather::Window;
use crate::state::apply::Applier;
use crate::state::{keys, Command, CommandResponse};
use crate::store::{Store, WriteSet};

type Membership = StoredMembership<NodeId, openraft::BasicNode>;

const SNAPSHOT: &str = "snapshot";

/// Records (a command's records, or one for any other entry) a follower keeps back before
/// it applies them.
const STASH_RECORDS: usize = 16_000;

/// The longest an entry is kept back.
const STASH_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    /// This node: entries it proposed are applied at once.
    me: NodeId,
    stash: Arc<Stash>,
}

/// Entries of another leader not applied yet, oldest first (see the module's comment).
struct Stash {
    store: Store,
    speculation: Arc<Speculation>,
    kept: Mutex<Kept>,
}

/// How often the stash's thread looks whether what is kept is due.
const STASH_TICK: Duration = Duration::from_millis(25);

#[derive(Default)]
struct Kept {
    entries: Vec<Entry>,
    records: usize,
    window: Option<Window>,
    /// Why the last apply of the stash in the background failed: the next apply says so.
    failed: Option<String>,
}

impl Stash {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        // Every change is an assignment or a push: a poisoned lock is still consistent.
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the thread that applies what is kept once it is due. The thread holds the
    /// stash (and so the store) only while it looks, never while it sleeps: once the last
    /// state machine is dropped it ends within a tick, and the store can be opened again.
    fn start(store: Store, speculation: Arc<Speculation>) -> std::io::Result<Arc<Stash>> {
        let stash = Arc::new(Stash {
            store,
            speculation,
            kept: Mutex::default(),
        });
        let weak: Weak<Stash> = Arc::downgrade(&stash);
        std::thread::Builder::new()
            .name("sm-stash".into())
            .spawn(move || loop {
                std::thread::sleep(STASH_TICK);
                let Some(stash) = weak.upgrade() else { return };
                let mut kept = stash.lock();
                if kept.window.is_some_and(|w| w.due_in(STASH_WAIT).is_zero()) {
                    if let Err(e) = stash.apply_kept(&mut kept) {
                        tracing::error!(error = %e, "Applying the entries kept back failed; the node stops applying.");
                        kept.failed = Some(e.to_string());
                    }
                }
            })?;
        Ok(stash)
    }
}

impl Kept {
    /// Fails if applying the entries kept back failed in the background.
    fn check(&self) -> Result<(), StorageError> {
        match &self.failed {
            Some(reason) => Err(storage_error(
                ErrorSubject::StateMachine,
                ErrorVerb::Write,
                reason,
            )),
            None => Ok(()),
        }
    }

    /// Takes the entries kept back; fails if applying them in the background failed.
    fn take(&mut self) -> Result<Vec<Entry>, StorageError> {
        self.check()?;
        self.records = 0;
        self.window = None;
        Ok(std::mem::take(&mut self.entries))
    }
}

impl Stash {
    /// Applies the entries kept back, if any.
    fn apply_kept(&self, kept: &mut Kept) -> Result<(), StorageError> {
        let entries = kept.take()?;
        if !entries.is_empty() {
            apply_entries(&self.store, &self.speculation, &entries)?;
        }
        Ok(())
    }
}

/// Records an entry counts for in the stash.
fn weight(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(command) => crate::raft::proposer::weight(command),
        _ => 1,
    }
}

/// Applies `entries` in order, in one write set committed behind (see `store/behind.rs`):
/// a command's entry by the [`Applier`] (one applier for each run of them, so that it
/// reads and writes each key once for all), a computed entry by installing its writes
/// (see `speculation.rs`).
fn apply_entries(
    store: &Store,
    speculation: &Speculation,
    entries: &[Entry],
) -> Result<Vec<CommandResponse>, StorageError> {
    let started = std::time::Instant::now();
    let mut all = WriteSet::default();
    let mut responses = Vec::with_capacity(entries.len());
    let (mut computed, mut stale) = (None, false);
    let mut rest = entries;
    while let Some(entry) = rest.first() {
        let run = rest.iter().take_while(|e| is_command(e)).count();
        if run > 0 {
            let mut applier = Applier::over(store, Some(&all));
            for entry in &rest[..run] {
                let EntryPayload::Normal(command) = &entry.payload else {
                    unreachable!("a run holds commands only")
                };
                responses.push(applier.apply(entry.log_id.index, command).map_err(|e| {
                    storage_error(ErrorSubject::Apply(entry.log_id), ErrorVerb::Write, e)
                })?);
            }
            all.extend(applier.into_writes());
            rest = &rest[run..];
            continue;
        }
        let response = match &entry.payload {
            EntryPayload::Blank => CommandResponse::None,
            EntryPayload::Membership(m) => {
                let stored = Membership::new(Some(entry.log_id), m.clone());
                all.put_value(keys::MEMBERSHIP.to_vec(), &stored);
                CommandResponse::None
            }
            EntryPayload::Normal(Command::Computed(c)) => {
                computed = Some(entry.log_id);
                if c.log_id == entry.log_id {
                    all.extend(WriteSet::decode(&c.writes).map_err(|e| {
                        let e = format!("the entry's computed writes do not decode: {e}");
                        storage_error(ErrorSubject::Apply(entry.log_id), ErrorVerb::Read, e)
                    })?);
                    CommandResponse::None
                } else {
                    stale = true;
                    CommandResponse::Stale
                }
            }
            EntryPayload::Normal(_) => unreachable!("commands are applied in runs"),
        };
        responses.push(response);
        rest = &rest[1..];
    }
    if let Some(last) = entries.last() {
        all.put_value(keys::LAST_APPLIED.to_vec(), &last.log_id);
    }
    let computed_in = started.elapsed();
    let (n, bytes) = (all.len(), all.bytes());
    // Committed behind: the next batch is computed while sled inserts this one.
    // The Raft log, not the state machine, is what makes a batch durable.
    store
        .commit_behind(all)
        .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, e))?;
    // The writes are readable from the store now: the leader's overlay can let them go.
    if stale {
        speculation.clear();
    } else if let Some(id) = computed {
        speculation.installed(&id);
    }
    tracing::debug!(
        entries = entries.len(),
        writes = n,
        bytes,
        compute_ms = computed_in.as_millis() as u64,
        hand_over_ms = (started.elapsed() - computed_in).as_millis() as u64,
        "Applied."
    );
    Ok(responses)
}

/// An entry not to keep back: this node proposed it (its caller waits), or it is
/// computed (installing it costs no more than keeping it).
fn at_once(entry: &Entry, me: NodeId) -> bool {
    entry.log_id.leader_id.node_id == me
        || matches!(&entry.payload, EntryPayload::Normal(Command::Computed(_)))
}

/// An entry the [`Applier`] applies (not one installed, nor a blank or membership one).
fn is_command(entry: &Entry) -> bool {
    matches!(&entry.payload, EntryPayload::Normal(c) if !matches!(c, Command::Computed(_)))
}

/// The current snapshot as kept in the Raft metadata tree.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    data: Vec<u8>,
}

impl StateMachine {
    /// The state machine of node `me` on `store`; `speculation` is what its proposer
    /// computed and has not seen installed.
    pub fn new(store: Store, me: NodeId, speculation: Arc<Speculation>) -> std::io::Result<Self> {
        let stash = Stash::start(store.clone(), speculation)?;
        Ok(StateMachine { store, me, stash })
    }

    /// Applies the entries kept back, so that the state is current.
    async fn catch_up(&self) -> Result<(), StorageError> {
        let stash = Arc::clone(&self.stash);
        tokio::task::spawn_blocking(move || stash.apply_kept(&mut stash.lock()))
            .await
            .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, e))?
    }

    fn read<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let bytes = self
            .store
            .get(key)
            .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        bytes
            .map(|b| crate::codec::decode(&b))
            .transpose()
            .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))
    }
}

/// Snapshot data: the state machine's key-value pairs, each as
/// `u32 key length, key, u32 value length, value` (big-endian lengths).
fn encode_pairs(store: &Store) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    for pair in store.dump() {
        let (k, v) =
            pair.map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(&k);
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(&v);
    }
    Ok(out)
}

fn decode_pairs(data: &[u8]) -> Result<Vec<crate::store::Pair>, String> {
    let mut pairs = Vec::new();
    let mut rest = data;
    let take = |rest: &mut &[u8]| -> Result<Vec<u8>, String> {
        if rest.len() < 4 {
            return Err("snapshot data ends inside a length".into());
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() < 4 + len {
            return Err("snapshot data ends inside a value".into());
        }
        let value = rest[4..4 + len].to_vec();
        *rest = &rest[4 + len..];
        Ok(value)
    };
    while !rest.is_empty() {
        let k = take(&mut rest)?;
        let v = take(&mut rest)?;
        pairs.push((k, v));
    }
    Ok(pairs)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        self.catch_up().await?;
        let sm = self.clone();
        let (last_applied, membership, data) = tokio::task::spawn_blocking(move || {
            // The dump is taken from one sled iterator; apply is not running concurrently
            // because openraft calls the builder from the state machine's own task, and
            // nothing is kept back after the catch-up above until the next apply.
            let last_applied: Option<LogId> = sm.read(keys::LAST_APPLIED)?;
            let membership: Membership = sm.read(keys::MEMBERSHIP)?.unwrap_or_default();
            let data = encode_pairs(&sm.store)?;
            Ok::<_, StorageError>((last_applied, membership, data))
        })
        .await
        .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))??;
        let snapshot_id = match &last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, data.len()),
            None => format!("empty-{}", data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        save_snapshot(&self.store, &stored).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

async fn save_snapshot(store: &Store, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
    let bytes = crate::codec::try_encode(snapshot)
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.meta_put(SNAPSHOT, &bytes).and_then(|_| store.sync()))
        .await
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        self.catch_up().await?;
        let last_applied = self.read(keys::LAST_APPLIED)?;
        let membership = self.read(keys::MEMBERSHIP)?.unwrap_or_default();
        Ok((last_applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let (store, stash, me) = (self.store.clone(), Arc::clone(&self.stash), self.me);
        tokio::task::spawn_blocking(move || {
            let mut kept = stash.lock();
            if entries.iter().any(|e| at_once(e, me)) {
                // Someone waits for these answers, or the writes are computed already:
                // apply everything now, in order.
                let mut all = kept.take()?;
                let earlier = all.len();
                all.extend(entries);
                let mut responses = apply_entries(&store, &stash.speculation, &all)?;
                return Ok(responses.split_off(earlier));
            }
            kept.check()?;
            let answers = vec![CommandResponse::None; entries.len()];
            kept.records += entries.iter().map(weight).sum::<usize>();
            kept.window.get_or_insert_with(Window::open).grew();
            kept.entries.extend(entries);
            if kept.records >= STASH_RECORDS {
                stash.apply_kept(&mut kept)?;
            }
            Ok(answers)
        })
        .await
        .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, e))?
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        // The snapshot holds what was kept back: it is newer than anything applied.
        let dropped = self.stash.lock().take()?.len();
        let data = snapshot.into_inner();
        let pairs = decode_pairs(&data).map_err(|e| {
            storage_error(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                e,
            )
        })?;
        let store = self.store.clone();
        let signature = meta.signature();
        tokio::task::spawn_blocking(move || store.replace_all(pairs).and_then(|_| store.sync()))
            .await
            .map_err(|e| {
                storage_error(
                    ErrorSubject::Snapshot(Some(signature.clone())),
                    ErrorVerb::Write,
                    e,
                )
            })?
            .map_err(|e| {
                storage_error(ErrorSubject::Snapshot(Some(signature)), ErrorVerb::Write, e)
            })?;
        let bytes = data.len();
        save_snapshot(
            &self.store,
            &StoredSnapshot {
                meta: meta.clone(),
                data,
            },
        )
        .await?;
        tracing::info!(
            last_log = ?meta.last_log_id.map(|l| l.index),
            bytes,
            kept_back_entries_superseded = dropped,
            "Snapshot from the leader installed."
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let bytes = self
            .store
            .meta_get(SNAPSHOT)
            .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        let Some(bytes) = bytes else { return Ok(None) };
        let stored: StoredSnapshot = crate::codec::decode(&bytes)
            .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use openraft::{CommittedLeaderId, LogId as RaftLogId};

    use super::*;
    use crate::store::StoreOptions;

    fn blank(term: u64, leader: NodeId, index: u64) -> Entry {
        Entry {
            log_id: RaftLogId::new(CommittedLeaderId::new(term, leader), index),
            payload: EntryPayload::Blank,
        }
    }

    /// The last-applied index the store itself holds.
    fn stored_index(sm: &StateMachine) -> Option<u64> {
        sm.read::<LogId>(keys::LAST_APPLIED)
            .unwrap()
            .map(|id| id.index)
    }

    #[tokio::test]
    async fn another_leaders_entries_are_kept_back_until_this_nodes_own_or_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let mut sm = StateMachine::new(store, 1, Default::default()).unwrap();
        // Node 2's entry: answered at once, applied later.
        let answers = sm.apply([blank(1, 2, 1)]).await.unwrap();
        assert_eq!(answers, vec![CommandResponse::None]);
        assert_eq!(stored_index(&sm), None);
        // This node's own entry: everything before it is applied first, and only its own
        // answers come back.
        let answers = sm.apply([blank(2, 1, 2)]).await.unwrap();
        assert_eq!(answers.len(), 1);
        assert_eq!(stored_index(&sm), Some(2));
        // Kept back again, then applied in the background once it has waited long enough.
        sm.apply([blank(3, 2, 3)]).await.unwrap();
        assert_eq!(stored_index(&sm), Some(2));
        let deadline = Instant::now() + Duration::from_secs(30);
        while stored_index(&sm) != Some(3) {
            assert!(
                Instant::now() < deadline,
                "the kept entry was never applied"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Asking for the applied state applies what is kept first.
        sm.apply([blank(3, 2, 4), blank(3, 2, 5)]).await.unwrap();
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied.map(|id| id.index), Some(5));
        assert_eq!(stored_index(&sm), Some(5));
        // So does building a snapshot.
        sm.apply([blank(3, 2, 6)]).await.unwrap();
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(6));
        // Dropped, the state machine lets go of the store: the stash's thread holds it only
        // while it looks, and the store can be opened again in the same process.
        drop(sm);
        crate::store::tests::reopen(dir.path());
    }

    fn id(term: u64, index: u64) -> LogId {
        RaftLogId::new(CommittedLeaderId::new(term, 1), index)
    }

    /// Node 1's entry at `at` carrying writes computed for `computed_for`.
    fn computed(at: LogId, computed_for: LogId, writes: &WriteSet) -> Entry {
        Entry {
            log_id: at,
            payload: EntryPayload::Normal(Command::Computed(Arc::new(crate::state::Computed {
                log_id: computed_for,
                writes: writes.encode(),
            }))),
        }
    }

    fn one(key: &str, value: &str) -> WriteSet {
        let mut set = WriteSet::default();
        set.put(key.as_bytes().to_vec(), value.as_bytes().to_vec());
        set
    }

    #[tokio::test]
    async fn computed_writes_are_installed_only_at_the_log_id_they_were_computed_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let speculation = Arc::new(Speculation::default());
        let mut sm = StateMachine::new(store.clone(), 1, Arc::clone(&speculation)).unwrap();
        let value = |key: &str| store.get(key.as_bytes()).unwrap();

        // Where it was computed for: installed, and the proposer's overlay lets it go.
        let a = one("t/a", "1");
        speculation.push(id(1, 1), Arc::new(one("t/a", "1")));
        let answers = sm.apply([computed(id(1, 1), id(1, 1), &a)]).await.unwrap();
        assert_eq!(answers, vec![CommandResponse::None]);
        assert_eq!(value("t/a"), Some(b"1".to_vec()));
        assert!(speculation.is_empty());

        // Another entry came between: nothing installed, the overlay cleared.
        speculation.push(id(1, 2), Arc::new(one("t/b", "1")));
        speculation.push(id(1, 3), Arc::new(one("t/c", "1")));
        let answers = sm
            .apply([
                blank(1, 1, 2),
                computed(id(1, 3), id(1, 2), &one("t/b", "1")),
                computed(id(1, 4), id(1, 3), &one("t/c", "1")),
            ])
            .await
            .unwrap();
        assert_eq!(
            answers,
            vec![
                CommandResponse::None,
                CommandResponse::Stale,
                CommandResponse::Stale
            ]
        );
        assert_eq!((value("t/b"), value("t/c")), (None, None));
        assert!(speculation.is_empty());
        assert_eq!(stored_index(&sm), Some(4));

        // The right index in a later term is another place too.
        let answers = sm
            .apply([computed(id(2, 5), id(1, 5), &one("t/d", "1"))])
            .await
            .unwrap();
        assert_eq!(answers, vec![CommandResponse::Stale]);
        assert_eq!(value("t/d"), None);

        // A command and computed writes in one apply: in order, the command's writes and
        // the installed ones in the same atomic batch.
        let command = Entry {
            log_id: id(2, 6),
            payload: EntryPayload::Normal(Command::ParentAcked(7)),
        };
        let answers = sm
            .apply([command, computed(id(2, 7), id(2, 7), &one("t/e", "1"))])
            .await
            .unwrap();
        assert_eq!(answers, vec![CommandResponse::None, CommandResponse::None]);
        assert_eq!(value("t/e"), Some(b"1".to_vec()));
        assert_eq!(
            sm.read::<u64>(keys::ACKED_SEQ).unwrap(),
            Some(7),
            "the command before the computed entry was applied"
        );
        assert_eq!(stored_index(&sm), Some(7));

        // A command after computed writes reads them: the acknowledged sequence number
        // installed (10) stands against a lower one (9).
        let mut acked = WriteSet::default();
        acked.put(keys::ACKED_SEQ.to_vec(), crate::codec::encode(&10u64));
        let command = Entry {
            log_id: id(2, 9),
            payload: EntryPayload::Normal(Command::ParentAcked(9)),
        };
        sm.apply([computed(id(2, 8), id(2, 8), &acked), command])
            .await
            .unwrap();
        assert_eq!(sm.read::<u64>(keys::ACKED_SEQ).unwrap(), Some(10));
    }
}
