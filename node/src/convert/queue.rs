//! Rectification queue entries.

use regfed_governance::DatasetSpec;
use regfed_proto::v1 as pb;

use super::issue::issue_to_pb;
use super::value::fields_to_pb;
use crate::state::{rfc3339, QueueEntry};

pub fn queue_to_pb(entry: &QueueEntry, spec: Option<&DatasetSpec>) -> pb::QueueEntry {
    let fields = match spec {
        Some(spec) => spec.mask(&entry.fields),
        None => entry.fields.clone(),
    };
    pb::QueueEntry {
        dataset: entry.dataset.clone(),
        key: entry.key.clone(),
        version: entry.version,
        department: entry.department.clone(),
        origin_region: entry.origin_region.clone(),
        raised_by: Some(pb::RaisedBy {
            tier: entry.raised_by.tier.clone(),
            region: entry.raised_by.region.clone(),
        }),
        status: entry.status.as_str().to_string(),
        issues: entry.issues.iter().map(issue_to_pb).collect(),
        raised_at: rfc3339(entry.raised_at),
        rectified_at: entry.rectified_at.map(rfc3339).unwrap_or_default(),
        rectified_seconds: entry
            .rectified_at
            .map(|at| ((at - entry.raised_at).max(0) / 1000) as u64)
            .unwrap_or_default(),
        fields: fields_to_pb(&fields),
    }
}
