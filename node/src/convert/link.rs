//! Link messages: a stored version going up, a notice going down, and back.

use regfed_governance::{Fields, Op};
use regfed_proto::v1 as pb;

use super::issue::{issue_from_pb, issue_to_pb};
use super::value::{fields_from_pb_list, fields_to_pb_list};
use crate::state::model::{Hop, Notice, NoticeKind, OutboxEntry, RaisedBy, VersionRecord};
use crate::state::Origin;

/// A change of this node as it goes up: the version it made, with this tier's receipt
/// added to the record's way.
pub fn up_record(change: OutboxEntry, record: VersionRecord, here: &Hop) -> pb::UpRecord {
    let mut hops: Vec<pb::Hop> = record.hops.into_iter().map(hop_into_pb).collect();
    hops.push(pb::Hop {
        received_at_ms: record.submitted_at,
        ..hop_to_pb(here)
    });
    pb::UpRecord {
        seq: change.seq,
        dataset: change.dataset,
        key: change.key,
        version: record.origin_version,
        op: change.op.as_str().to_string(),
        fields: if change.op == Op::Delete {
            Fields::new()
        } else {
            record.fields
        },
        origin_region: record.origin.region,
        origin_department: record.origin.department,
        reported_at_ms: record.reported_at,
        hops,
    }
}

/// [`hop_into_pb`] of a copy.
pub fn hop_to_pb(hop: &Hop) -> pb::Hop {
    hop_into_pb(hop.clone())
}

/// A hop on the wire.
fn hop_into_pb(hop: Hop) -> pb::Hop {
    pb::Hop {
        tier: hop.tier,
        region: hop.region,
        received_at_ms: hop.received_at,
    }
}

pub fn hop_from_pb(hop: pb::Hop) -> Hop {
    Hop {
        tier: hop.tier,
        region: hop.region,
        received_at: hop.received_at_ms,
    }
}

pub fn notice_to_pb(notice: &Notice) -> pb::Notice {
    pb::Notice {
        seq: notice.seq,
        kind: notice.kind.as_str().to_string(),
        dataset: notice.dataset.clone(),
        key: notice.key.clone(),
        version: notice.version,
        origin_region: notice.origin.region.clone(),
        origin_department: notice.origin.department.clone(),
        raised_by: Some(pb::RaisedBy {
            tier: notice.raised_by.tier.clone(),
            region: notice.raised_by.region.clone(),
        }),
        issues: notice.issues.iter().map(issue_to_pb).collect(),
        fields: fields_to_pb_list(&notice.fields),
        at_ms: notice.at,
    }
}

/// A notice from the parent; `None` when its kind is not one this node knows.
pub fn notice_from_pb(notice: pb::Notice) -> Option<Notice> {
    let raised_by = notice.raised_by.unwrap_or_default();
    Some(Notice {
        seq: notice.seq,
        kind: NoticeKind::parse(&notice.kind)?,
        dataset: notice.dataset,
        key: notice.key,
        version: notice.version,
        origin: Origin {
            region: notice.origin_region,
            department: notice.origin_department,
        },
        raised_by: RaisedBy {
            tier: raised_by.tier,
            region: raised_by.region,
        },
        issues: notice.issues.into_iter().map(issue_from_pb).collect(),
        fields: fields_from_pb_list(notice.fields),
        at: notice.at_ms,
    })
}
