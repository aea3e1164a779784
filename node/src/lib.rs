//! The regfed node: CLI, configuration, TLS, store, Raft wiring, gRPC and HTTP services,
//! signals. The only crate that knows the wire.

pub mod bench;
pub mod bench_ha;
pub mod bench_sync;
pub mod bench_xlsx;
pub mod cli;
pub mod client;
pub mod codec;
pub mod config;
pub mod convert;
pub mod federation;
pub(crate) mod gather;
pub mod import;
pub mod link;
pub mod local;
pub mod metrics;
pub mod net;
pub mod node;
pub mod par;
pub mod raft;
pub mod service;
pub mod state;
pub mod store;
