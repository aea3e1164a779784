//! Stored record versions and submit outcomes.

use regfed_governance::DatasetSpec;
use regfed_proto::v1 as pb;

use super::issue::{change_to_pb, issue_to_pb};
use super::link::hop_to_pb;
use super::value::fields_to_pb;
use crate::state::command::{GovernedRecord, RecordOutcome};
use crate::state::model::Hop;
use crate::state::{rfc3339, VersionRecord};

/// A stored version as a query answers it, with identity numbers masked.
/// `tier` and `region` are the answering node's, whose receipt ends the record's hops.
pub fn stored_to_pb(
    record: &VersionRecord,
    spec: Option<&DatasetSpec>,
    here: &Hop,
) -> pb::StoredRecord {
    let mut hops: Vec<pb::Hop> = record.hops.iter().map(hop_to_pb).collect();
    hops.push(pb::Hop {
        received_at_ms: record.submitted_at,
        ..hop_to_pb(here)
    });
    let fields = match spec {
        Some(spec) => spec.mask(&record.fields),
        None => record.fields.clone(),
    };
    pb::StoredRecord {
        dataset: record.dataset.clone(),
        key: record.key.clone(),
        op: record.op.as_str().to_string(),
        version: record.version,
        fields: fields_to_pb(&fields),
        origin_region: record.origin.region.clone(),
        origin_department: record.origin.department.clone(),
        reported_at: rfc3339(record.reported_at),
        hops,
    }
}

/// A submitted record's result: how applying it came out, with its verdict.
pub fn outcome_to_pb(record: &GovernedRecord, outcome: &RecordOutcome) -> pb::RecordResult {
    pb::RecordResult {
        key: record.key.clone(),
        status: outcome.outcome.as_str().to_string(),
        version: outcome.version,
        issues: record.issues.iter().map(issue_to_pb).collect(),
        changes: record.changes.iter().map(change_to_pb).collect(),
        source: record.source.clone(),
    }
}
