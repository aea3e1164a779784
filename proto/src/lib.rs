//! The regfed gRPC protocol: the types and services generated from `regfed.proto`, and
//! [`v1::UpRecord`] and [`v1::RecordIn`], the two messages written by hand (see `wire.rs`).

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("regfed.v1");
    pub use crate::wire::{RecordIn, UpRecord};
}

mod wire;
