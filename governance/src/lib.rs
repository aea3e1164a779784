//! The regulatory data standard as a declarative rule pack, and the pure engine that
//! standardizes and checks records against it.
//!
//! Architecture invariant: this crate does no IO and reads no clock. Time comes in as
//! [`Context::today`]; references to accepted records come in through [`Lookup`]. Bad data
//! is never an `Err`: it is a [`Verdict`] with issues.

pub mod checkdigit;
pub mod engine;
mod fieldcheck;
pub mod fields;
pub mod indicators;
pub mod lookup;
pub mod pack;
mod packload;
mod pattern;
pub mod record;
pub mod region;
pub mod standardize;
pub mod verdict;

pub use engine::{govern, Context};
pub use fieldcheck::parse_iso_date;
pub use lookup::Lookup;
pub use pack::{mask_id, Code, CodeList, DatasetSpec, FieldSpec, FieldType, PackError, RulePack};
pub use record::{FieldName, Fields, Op, RawRecord, Text, Value, STANDARD_FIELD_NAMES};
pub use region::{Region, RegionTable, Tier};
pub use verdict::{Change, Issue, PackId, Severity, Verdict};
