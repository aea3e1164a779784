//! The Raft wiring: openraft's type configuration, the sled-backed log store and state
//! machine, and the group's network.
//!
//! Every state change of a node is a [`Command`](crate::state::Command) committed through
//! openraft. A tier of one node is a Raft group of one; the same path carries groups of
//! three or five.

// openraft's storage traits return its `StorageError` (over 200 bytes) by value; the
// trait signatures are openraft's, so the lint cannot be satisfied by boxing.
#![allow(clippy::result_large_err)]

pub mod entry_bytes;
pub mod log_store;
pub mod network;
pub mod proposer;
pub mod speculation;
pub mod state_machine;

#[cfg(test)]
mod storage_test;

use std::io::Cursor;

use crate::state::{Command, CommandResponse};

openraft::declare_raft_types!(
    /// regfed's Raft types: commands in, responses out, u64 node ids.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;

/// A storage error openraft understands, from anything displayable.
pub(crate) fn storage_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    error: impl std::fmt::Display,
) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(
        subject,
        verb,
        openraft::AnyError::error(error.to_string()),
    ))
}
