//! The Raft state machine on sled: applies committed commands through
//! [`Applier`](crate::state::apply::Applier) and builds and installs snapshots.
//!
//! Each apply call commits its writes and the last-applied log id in one atomic sled
//! batch, so after a crash the state is exactly "applied up to X" and openraft re-applies
//! from X + 1 out of the durable log. Apply does not sync: the log is the durable record,
//! and a snapshot syncs before it is offered.

use std::io::Cursor;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, SnapshotMeta, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{storage_error, Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::state::apply::Applier;
use crate::state::{keys, CommandResponse};
use crate::store::Store;

type Membership = StoredMembership<NodeId, openraft::BasicNode>;

const SNAPSHOT: &str = "snapshot";

#[derive(Clone)]
pub struct StateMachine {
    store: Store,
}

/// The current snapshot as kept in the Raft metadata tree.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    data: Vec<u8>,
}

impl StateMachine {
    pub fn new(store: Store) -> Self {
        StateMachine { store }
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
        let store = self.store.clone();
        let (last_applied, membership, data) = tokio::task::spawn_blocking(move || {
            // The dump is taken from one sled iterator; apply is not running concurrently
            // because openraft calls the builder from the state machine's own task.
            let sm = StateMachine::new(store.clone());
            let last_applied: Option<LogId> = sm.read(keys::LAST_APPLIED)?;
            let membership: Membership = sm.read(keys::MEMBERSHIP)?.unwrap_or_default();
            let data = encode_pairs(&store)?;
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
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut applier = Applier::new(&store);
            let mut responses = Vec::with_capacity(entries.len());
            let mut last = None;
            for entry in &entries {
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
