//! The Raft state machine on sled: applies committed commands through
//! [`Applier`](crate::state::apply::Applier) and builds and installs snapshots.
//!
//! Each apply commits its writes and the last-applied log id in one atomic sled batch,
//! so after a crash the state is exactly "applied up to X" and openraft re-applies from
//! X + 1 out of the durable log. Apply does not sync: the log is the durable record, and a
//! snapshot syncs before it is offered.
//!
//! **Entries of another leader are applied later, together.** No one waits for a
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

use super::{storage_error, Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::gather::Window;
use crate::state::apply::Applier;
use crate::state::{keys, CommandResponse};
use crate::store::Store;

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
    fn start(store: Store) -> std::io::Result<Arc<Stash>> {
        let stash = Arc::new(Stash {
            store,
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
                    if let Err(e) = apply_kept(&stash.store, &mut kept) {
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

/// Applies the entries kept back, if any.
fn apply_kept(store: &Store, kept: &mut Kept) -> Result<(), StorageError> {
    let entries = kept.take()?;
    if !entries.is_empty() {
        apply_entries(store, &entries)?;
    }
    Ok(())
}

/// Records an entry counts for in the stash.
fn weight(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(command) => crate::raft::proposer::weight(command),
        _ => 1,
    }
}

/// Applies `entries` in order, in one write set committed behind (see `store/behind.rs`).
fn apply_entries(store: &Store, entries: &[Entry]) -> Result<Vec<CommandResponse>, StorageError> {
    let started = std::time::Instant::now();
    let mut applier = Applier::new(store);
    let mut responses = Vec::with_capacity(entries.len());
    let mut last = None;
    for entry in entries {
        last = Some(entry.log_id);
        let response = match &entry.payload {
            EntryPayload::Blank => CommandResponse::None,
            EntryPayload::Normal(command) => {
                applier.apply(entry.log_id.index, command).map_err(|e| {
                    storage_error(ErrorSubject::Apply(entry.log_id), ErrorVerb::Write, e)
                })?
            }
            EntryPayload::Membership(m) => {
                let stored = Membership::new(Some(entry.log_id), m.clone());
                applier.write(keys::MEMBERSHIP.to_vec(), &stored);
                CommandResponse::None
            }
        };
        responses.push(response);
    }
    if let Some(last) = last {
        applier.write(keys::LAST_APPLIED.to_vec(), &last);
    }
    let computed = started.elapsed();
    let writes = applier.into_writes();
    let n = writes.len();
    let bytes = writes.bytes();
    // Committed behind: the next batch is computed while sled inserts this one.
    // The Raft log, not the state machine, is what makes a batch durable.
    store
        .commit_behind(writes)
        .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, e))?;
    tracing::debug!(
        entries = entries.len(),
        writes = n,
        bytes,
        compute_ms = computed.as_millis() as u64,
        hand_over_ms = (started.elapsed() - computed).as_millis() as u64,
        "Applied."
    );
    Ok(responses)
}

/// The current snapshot as kept in the Raft metadata tree.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    data: Vec<u8>,
}

impl StateMachine {
    /// The state machine of node `me` on `store`.
    pub fn new(store: Store, me: NodeId) -> std::io::Result<Self> {
        let stash = Stash::start(store.clone())?;
        Ok(StateMachine { store, me, stash })
    }

    /// Applies the entries kept back, so that the state is current.
    async fn catch_up(&self) -> Result<(), StorageError> {
        let (store, stash) = (self.store.clone(), Arc::clone(&self.stash));
        tokio::task::spawn_blocking(move || apply_kept(&store, &mut stash.lock()))
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
            if entries.iter().any(|e| e.log_id.leader_id.node_id == me) {
                // Someone waits for these answers: apply everything now, in order.
                let mut all = kept.take()?;
                let earlier = all.len();
                all.extend(entries);
                let mut responses = apply_entries(&store, &all)?;
                return Ok(responses.split_off(earlier));
            }
            kept.check()?;
            let answers = vec![CommandResponse::None; entries.len()];
            kept.records += entries.iter().map(weight).sum::<usize>();
            kept.window.get_or_insert_with(Window::open).grew();
            kept.entries.extend(entries);
            if kept.records >= STASH_RECORDS {
                apply_kept(&store, &mut kept)?;
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
        let mut sm = StateMachine::new(store, 1).unwrap();
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
}
