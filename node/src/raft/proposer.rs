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

use std::sync::Arc;

use openraft::error::{ClientWriteError, Fatal, RaftError};
use openraft::BasicNode;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{LogId, NodeId, Raft};
use crate::state::{Command, CommandResponse};

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
    /// Starts the proposing task; it ends when the last proposer is dropped.
    pub fn start(raft: Raft) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
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
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Proposal>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
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
        match raft.client_write_ff(command).await {
            Ok(responder) => {
                tokio::spawn(async move {
                    let result = responder.await;
                    drop(permit);
                    answer(replies, result);
                });
            }
            Err(fatal) => refuse(replies, RaftError::Fatal(fatal)),
        }
    }
}

type Written = Result<
    openraft::raft::ClientWriteResponse<super::TypeConfig>,
    ClientWriteError<NodeId, BasicNode>,
>;

/// Hands each caller of a group its own command's response.
fn answer(
    replies: Vec<oneshot::Sender<Result<Proposed, ProposeError>>>,
    result: Result<Written, oneshot::error::RecvError>,
) {
    let written = match result {
        Ok(Ok(written)) => written,
        Ok(Err(error)) => return refuse(replies, RaftError::APIError(error)),
        Err(_) => return refuse(replies, RaftError::Fatal(Fatal::Stopped)),
    };
    let log_id = written.log_id;
    let responses = match (replies.len(), written.data) {
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
}

/// Answers every caller of a group with the same error.
fn refuse(replies: Vec<oneshot::Sender<Result<Proposed, ProposeError>>>, error: ProposeError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
