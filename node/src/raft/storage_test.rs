//! The sled log store and state machine against openraft's own storage test suite.

use openraft::testing::{StoreBuilder, Suite};

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::{StorageError, TypeConfig};
use crate::store::{Store, StoreOptions};

/// Stores whose state machine belongs to node `0`, which the suite names as the leader of
/// every entry, or to another node, which keeps every entry back until it is read.
struct SledBuilder(u64);

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temporary directory for the store");
        let options = StoreOptions {
            cache_bytes: 8 * 1024 * 1024,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), &options).expect("open store");
        Ok((
            dir,
            LogStore::new(store.clone(), Default::default()),
            StateMachine::new(store, self.0, Default::default()).expect("start the state machine"),
        ))
    }
}

#[test]
fn passes_openraft_storage_suite() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder(0))
}

#[test]
fn passes_openraft_storage_suite_keeping_entries_back() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder(7))
}
