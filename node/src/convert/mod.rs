//! Conversions between wire (protobuf) types and domain types, one file per type. The
//! only place that knows both sides.

pub mod issue;
pub mod link;
pub mod queue;
pub mod record;
pub mod stats;
pub mod value;
