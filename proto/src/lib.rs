//! The generated gRPC types and services of `regfed.proto`. No logic lives here.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("regfed.v1");
}
