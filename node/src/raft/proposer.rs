//! Proposes commands to Raft, several to a log entry when they arrive together.
//!
//! openraft 0.9 takes proposals one at a time: its core appends a proposal's entry and
//! waits until the log store reports it durable before it looks at the next one. With
//! one entry per command, a node would commit at most one submitted batch per disk sync,
//! however many clients were waiting. The proposer keeps a few proposals in openraft and
//! puts every command that arrives meanwhile into the next one ([`Command::Group`]): one
//! sync then commits all of them, and each caller gets its own command's response.
//!
//! Order is kept: one task proposes, in arrival order, and a group applies its commands
//! in order, so a link's batches still commit in sequence.
//!
//! The proposer also applies each group before proposing it, on the state its entries
//! in flight leave, and proposes the writes that gives (`speculation.rs`): the replicas
//! install them instead of applying the commands again, and each caller's answer is the
//! one computed then, handed out once the entry is installed where it was computed for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, ForwardToLeader, RaftError};
use openraft::{BasicNode, RaftMetrics, ServerState};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::speculation::Speculation;
use super::{LogId, NodeId, Raft};
use crate::state::apply::{Applier, ApplyError};
use crate::state::{Command, CommandResponse, Computed};
use crate::store::Store;

/// Proposals handed to openraft and not yet answered. One is being synced while the
/// next waits in openraft's queue; everything arriving meanwhile gathers here.
const IN_FLIGHT: usize = 2;

/// A group closes once it holds this many records (notices count as records, other
/// commands as one): a few default batches, a few megabytes of log entry.
pub(crate) const GROUP_RECORDS: usize = 8_000;

/// ... or this many commands.
const GROUP_COMMANDS: usize = 32;

/// A command's response and the log entry that carried it.
#[derive(Debug)]
pub struct Proposed {
    pub log_id: LogId,
    pub data: CommandResponse,
}

pub type ProposeError = RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>;

/// Answers a proposal once its entry is applied, or why it was not.
pub type Answer = oneshot::Receiver<Result<Proposed, ProposeError>>;

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Result<Proposed, ProposeError>>,
}

/// The node's one way to propose a command. Cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Proposal>,
}

impl Proposer {
    /// Starts the proposing task of node `me`; it ends when the last proposer is
    /// dropped. It computes each entry's writes on `store` under `speculation`, which it
    /// shares with the node's state machine (see `speculation.rs`).
    pub fn start(raft: Raft, store: Store, speculation: Arc<Speculation>, me: NodeId) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, store, speculation, me, rx));
        Proposer { tx }
    }

    /// Queues `command` behind every command queued before it.
    pub fn propose(&self, command: Command) -> Answer {
        let (reply, answer) = oneshot::channel();
        // Sending fails only once the task has stopped; the answer then says so.
        let _ = self.tx.send(Proposal { command, reply });
        answer
    }

    /// Proposes `command` and waits until it is applied.
    pub async fn write(&self, command: Command) -> Result<Proposed, ProposeError> {
        wait(self.propose(command)).await
    }
}

/// The answer of a proposal, a stopped proposer read as a stopped Raft.
pub async fn wait(answer: Answer) -> Result<Proposed, ProposeError> {
    answer
        .await
        .unwrap_or(Err(RaftError::Fatal(Fatal::Stopped)))
}

/// How much a command adds to a group: its records.
pub(crate) fn weight(command: &Command) -> usize {
    match command {
        Command::Submit(batch) => batch.records.len().max(1),
        Command::Sync(batch) => batch.records.len().max(1),
        Command::Notices(batch) => batch.notices.len().max(1),
        Command::ParentAcked(_) => 1,
        Command::Group(commands) => commands.iter().map(weight).sum(),
        // Made by the proposer from what it grouped, never grouped or kept back itself.
        Command::Computed(_) => 1,
    }
}

async fn run(
    raft: Raft,
    store: Store,
    speculation: Arc<Speculation>,
    me: NodeId,
    mut rx: mpsc::UnboundedReceiver<Proposal>,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    // Where the next computed entry lands while the chain of predictions holds.
    let mut next: Option<LogId> = None;
    // Set when an entry of the chain was refused, stale or lost: predict afresh.
    let broken = Arc::new(AtomicBool::new(false));
    while let Some(first) = rx.recv().await {
        // The semaphore is never closed.
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        // Everything that arrived while the earlier proposals were in flight.
        let mut records = weight(&first.command);
        let mut group = vec![first];
        while records < GROUP_RECORDS && group.len() < GROUP_COMMANDS {
            match rx.try_recv() {
                Ok(next) => {
                    records += weight(&next.command);
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let (mut commands, replies): (Vec<Command>, Vec<_>) =
            group.into_iter().map(|p| (p.command, p.reply)).unzip();
        let command = match commands.len() {
            1 => commands.remove(0),
            _ => Command::Group(commands),
        };
        if broken.swap(false, Ordering::SeqCst) {
            next = None;
        }
        let log_id = match next {
            Some(id) => id,
            None => {
                // Nothing of this node's may be in flight while it predicts.
                let Ok(all) = in_flight.acquire_many(IN_FLIGHT as u32 - 1).await else {
                    return;
                };
                broken.store(false, Ordering::SeqCst);
                speculation.clear();
                let settled = settle(&raft, me).await;
                drop(all);
                match settled {
                    Ok(id) => id,
                    Err(error) => {
                        refuse(replies, error);
                        continue;
                    }
                }
            }
        };
        let computing = (store.clone(), Arc::clone(&speculation));
        let computed = tokio::task::spawn_blocking(move || {
            let (store, speculation) = computing;
            let mut applier = Applier::over(&store, Some(&*speculation));
            let response = applier.apply(log_id.index, &command)?;
            Ok::<_, ApplyError>((applier.into_writes(), response))
        })
        .await;
        let (writes, response) = match computed {
            Ok(Ok(done)) => done,
            Ok(Err(error)) => {
                tracing::error!(%error, "Computing a proposal's writes failed.");
                refuse(replies, failed(log_id, error));
                continue;
            }
            Err(error) => {
                refuse(replies, failed(log_id, error));
                continue;
            }
        };
        let entry = Computed {
            log_id,
            writes: writes.encode(),
        };
        speculation.push(log_id, Arc::new(writes));
        next = Some(LogId::new(log_id.leader_id, log_id.index + 1));
        match raft
            .client_write_ff(Command::Computed(Arc::new(entry)))
            .await
        {
            Ok(responder) => {
                let (raft, broken) = (raft.clone(), Arc::clone(&broken));
                tokio::spawn(async move {
                    let result = responder.await;
                    if !answer(&raft, replies, result, log_id, response) {
                        broken.store(true, Ordering::SeqCst);
                    }
                    drop(permit);
                });
            }
            Err(fatal) => {
                broken.store(true, Ordering::SeqCst);
                refuse(replies, RaftError::Fatal(fatal));
            }
        }
    }
}

/// How long a new leader waits for its log to be applied before it computes.
const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// The log id this node's next entry lands at, once it leads and has applied its whole
/// log up to its term's first entry (so the store is the state before that id).
async fn settle(raft: &Raft, me: NodeId) -> Result<LogId, ProposeError> {
    let settled = |m: &RaftMetrics<NodeId, BasicNode>| {
        m.last_applied.filter(|a| {
            a.leader_id.term == m.current_term
                && a.leader_id.node_id == me
                && Some(a.index) == m.last_log_index
        })
    };
    let _ = raft
        .wait(Some(SETTLE_WAIT))
        .metrics(
            |m| m.current_leader != Some(me) || settled(m).is_some(),
            "this node leads and has applied its log",
        )
        .await;
    let m = raft.metrics().borrow().clone();
    match settled(&m) {
        Some(applied) if m.current_leader == Some(me) && m.state == ServerState::Leader => {
            Ok(LogId::new(applied.leader_id, applied.index + 1))
        }
        _ => Err(retry(&m)),
    }
}

/// "Ask the leader": the error a client retries on, naming the leader as far as known
/// (this node, when it leads but could not propose just now).
fn retry(m: &RaftMetrics<NodeId, BasicNode>) -> ProposeError {
    let forward = match m.current_leader {
        Some(id) => match m.membership_config.membership().get_node(&id) {
            Some(node) => ForwardToLeader::new(id, node.clone()),
            None => ForwardToLeader {
                leader_id: Some(id),
                leader_node: None,
            },
        },
        None => ForwardToLeader::empty(),
    };
    RaftError::APIError(ClientWriteError::ForwardToLeader(forward))
}

/// Computing the writes of the commands for `log_id` failed: the store could not be
/// read, or holds what does not decode.
fn failed(log_id: LogId, error: impl std::fmt::Display) -> ProposeError {
    RaftError::Fatal(Fatal::StorageError(super::storage_error(
        openraft::ErrorSubject::Apply(log_id),
        openraft::ErrorVerb::Read,
        error,
    )))
}

type Written = Result<
    openraft::raft::ClientWriteResponse<super::TypeConfig>,
    ClientWriteError<NodeId, BasicNode>,
>;

/// Hands each caller of a group its own command's response, computed before the entry
/// was proposed, once the entry is installed where it was computed for. False when it
/// was not: the chain of predictions is broken.
fn answer(
    raft: &Raft,
    replies: Vec<oneshot::Sender<Result<Proposed, ProposeError>>>,
    result: Result<Written, oneshot::error::RecvError>,
    computed_for: LogId,
    response: CommandResponse,
) -> bool {
    let written = match result {
        Ok(Ok(written)) => written,
        Ok(Err(error)) => {
            refuse(replies, RaftError::APIError(error));
            return false;
        }
        Err(_) => {
            refuse(replies, RaftError::Fatal(Fatal::Stopped));
            return false;
        }
    };
    if written.log_id != computed_for || written.data == CommandResponse::Stale {
        // Another entry came between: nothing was written; the callers propose again.
        tracing::info!(
            computed_for = %computed_for,
            landed_at = %written.log_id,
            "A proposal landed at another log id than its writes were computed for; nothing was written and its callers are told to retry."
        );
        refuse(replies, retry(&raft.metrics().borrow()));
        return false;
    }
    let log_id = written.log_id;
    let responses = match (replies.len(), response) {
        (1, data) => vec![data],
        (_, CommandResponse::Group(responses)) => responses,
        // A group always answers a group of the same length (see `Applier::apply`).
        (_, other) => vec![other],
    };
    let mut responses = responses.into_iter();
    for reply in replies {
        let data = responses.next().unwrap_or_default();
        let _ = reply.send(Ok(Proposed { log_id, data }));
    }
    true
}

/// Answers every caller of a group with the same error.
fn refuse(replies: Vec<oneshot::Sender<Result<Proposed, ProposeError>>>, error: ProposeError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
