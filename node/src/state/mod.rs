//! The node's deterministic state machine: the commands that travel in the Raft log, the
//! records they write, and the reads that answer clients.
//!
//! Architecture invariant: applying a command reads no clock and no configuration. Time,
//! verdicts and deadlines are decided before proposing and travel inside the command, so
//! every replica that applies the same log reaches the same state.

pub mod apply;
#[cfg(test)]
mod apply_test;
pub mod bucket;
pub mod command;
pub mod keys;
pub mod model;
pub mod read;

pub use command::{Command, CommandResponse, Computed, GovernedRecord, RecordOutcome, SubmitBatch};
pub use model::{KeyState, Origin, OutboxEntry, QueueEntry, QueueStatus, RaisedBy, VersionRecord};

/// Milliseconds since the Unix epoch, the one time format inside the state machine.
pub type Millis = i64;

/// The calendar day (China Standard Time, UTC+8) of a timestamp, as `YYYY-MM-DD`.
/// Indicators count by the day in China, where the departments work.
pub fn china_day(at: Millis) -> chrono::NaiveDate {
    let shifted = at + 8 * 3600 * 1000;
    chrono::DateTime::from_timestamp_millis(shifted)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// RFC 3339 text of a timestamp, UTC, millisecond precision.
pub fn rfc3339_millis(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// RFC 3339 text of a timestamp, UTC, second precision.
pub fn rfc3339(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
