//! Submit: check the request, govern every record (time taken once), commit the batch as
//! one Raft entry, answer a verdict per record.

use std::time::Instant;

use openraft::error::{ClientWriteError, RaftError};
use regfed_governance::{govern, Context, Op, RawRecord, RegionTable};
use regfed_proto::v1 as pb;
use tonic::Status;

use super::auth::Caller;
use super::unknown_dataset;
use crate::config::Config;
use crate::convert;
use crate::metrics::Metrics;
use crate::node::{now_millis, Node};
use crate::raft::NodeId;
use crate::state::china_day;
use crate::state::command::{Command, CommandResponse, GovernedRecord, Outcome, SubmitBatch};
use crate::state::model::RaisedBy;
use crate::state::read::StoreLookup;

pub async fn submit(
    node: &std::sync::Arc<Node>,
    caller: &Caller,
    request: pb::SubmitRequest,
) -> Result<pb::SubmitResponse, Status> {
    let started = Instant::now();
    let config = &node.config;
    let pack = config.pack.clone();
    let department = match caller {
        Caller::Department { code, .. } => {
            if !request.department.is_empty() && request.department != *code {
                return Err(Status::permission_denied(format!(
                    "department {code} may submit only as itself, not as {}",
                    request.department
                )));
            }
            code.clone()
        }
        Caller::Operator { .. } => {
            if request.department.is_empty() {
                return Err(Status::invalid_argument(
                    "an operator must name the department it submits for (field department)",
                ));
            }
            if config.local_department(&request.department).is_none() {
                return Err(Status::invalid_argument(format!(
                    "department {} is not registered at node {}",
                    request.department, config.id
                )));
            }
            request.department.clone()
        }
    };
    if pack.dataset(&request.dataset).is_none() {
        return Err(unknown_dataset(&pack, &request.dataset));
    }
    let limit = config.limits.max_batch_records;
    if request.records.len() > limit {
        return Err(Status::invalid_argument(format!(
            "the batch has {} records, over this node's limit of {limit}; split it",
            request.records.len()
        )));
    }
    let mut raws = Vec::with_capacity(request.records.len());
    for (i, record) in request.records.into_iter().enumerate() {
        let source = if record.source.is_empty() {
            format!("record {}", i + 1)
        } else {
            record.source
        };
        let op = Op::parse(&record.op).ok_or_else(|| {
            Status::invalid_argument(format!(
                "{source}: op {:?} is neither upsert nor delete",
                record.op
            ))
        })?;
        raws.push((RawRecord::new(op, record.fields), source));
    }
    if raws.is_empty() {
        return Ok(pb::SubmitResponse {
            results: Vec::new(),
            pack: pack_name(config),
            log_index: 0,
        });
    }

    // Time is an input, taken once: every verdict and the log entry use the same instant.
    let received_at = now_millis();
    let dataset = request.dataset.clone();
    let governing = node.clone();
    let dept = department.clone();
    let records = tokio::task::spawn_blocking(move || {
        let config = &governing.config;
        let lookup = StoreLookup::new(&governing.store, &config.departments);
        let ctx = Context {
            pack: &config.pack,
            regions: RegionTable::builtin(),
            node_region: &config.region,
            today: china_day(received_at),
            submitter: Some(&dept),
            lookup: &lookup,
        };
        raws.into_iter()
            .map(|(raw, source)| GovernedRecord::new(govern(&ctx, &dataset, &raw), source))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Status::internal(format!("governance task failed: {e}")))?;

    let governed = started.elapsed();
    let batch = SubmitBatch {
        dataset: request.dataset,
        actor: caller.identity().to_uri(),
        department,
        origin_region: config.region.to_string(),
        raised_by: RaisedBy {
            tier: config.tier.as_str().to_string(),
            region: config.region.to_string(),
        },
        received_at,
        deadline_days: pack.timeliness_deadline_days(),
        pack: pack.id(),
        records,
    };
    // A member cut off from its group (or on a stalled disk) cannot commit: say so in
    // time rather than hold the caller until the request times out. The batch may still
    // commit later; submitting it again is safe (identical records are unchanged).
    let batch = std::sync::Arc::new(batch);
    let commit = node
        .proposer
        .write(Command::Submit(std::sync::Arc::clone(&batch)));
    let timeout = std::time::Duration::from_secs(config.limits.commit_timeout_secs);
    let written = match tokio::time::timeout(timeout, commit).await {
        Ok(written) => written.map_err(|e| raft_status(config, e))?,
        Err(_) => {
            tracing::warn!(
                seconds = config.limits.commit_timeout_secs,
                "A batch was not committed in time."
            );
            return Err(Status::unavailable(format!(
                "node {} could not commit the batch within {} s (limits.commit_timeout_secs): it may be cut off from its group; the outcome is unknown: submit the same batch again, here or at another member (identical records are unchanged)",
                config.id, config.limits.commit_timeout_secs
            )));
        }
    };
    tracing::debug!(
        records = written_len(&written.data),
        govern_ms = governed.as_millis() as u64,
        commit_ms = (started.elapsed() - governed).as_millis() as u64,
        "Batch committed."
    );
    let outcomes = match written.data {
        CommandResponse::Submit(outcomes) => outcomes,
        _ => Vec::new(),
    };
    let metrics = &node.metrics;
    Metrics::add(&metrics.submit_batches_total, 1);
    for o in &outcomes {
        let counter = match o.outcome {
            Outcome::Accepted => &metrics.records_accepted_total,
            Outcome::Rejected => &metrics.records_rejected_total,
            Outcome::Unchanged => &metrics.records_unchanged_total,
        };
        Metrics::add(counter, 1);
    }
    Metrics::add(
        &metrics.submit_micros_sum,
        started.elapsed().as_micros() as u64,
    );
    Ok(pb::SubmitResponse {
        results: batch
            .records
            .iter()
            .zip(&outcomes)
            .map(|(record, outcome)| convert::record::outcome_to_pb(record, outcome))
            .collect(),
        pack: pack_name(config),
        log_index: written.log_id.index,
    })
}

fn pack_name(config: &Config) -> String {
    format!("{}@{}", config.pack.name(), config.pack.version())
}

/// A Raft failure as the client sees it: "not the leader" names the leader; anything else
/// says the node cannot commit now.
pub fn raft_status<E>(config: &Config, error: RaftError<NodeId, E>) -> Status
where
    E: std::error::Error + TryAsForward,
{
    match &error {
        RaftError::APIError(e) => match e.forward() {
            Some((leader_id, leader_addr)) => {
                let mut status = Status::unavailable(format!(
                    "node {} is not the leader of its group; the leader is {}",
                    config.id,
                    leader_addr
                        .clone()
                        .unwrap_or_else(|| format!("node {leader_id:?} (address unknown)"))
                ));
                if let Some(addr) = leader_addr.and_then(|a| a.parse().ok()) {
                    status.metadata_mut().insert("regfed-leader", addr);
                }
                status
            }
            None => Status::unavailable(format!("node {} cannot serve this now: {e}", config.id)),
        },
        RaftError::Fatal(fatal) => {
            tracing::error!(error = %fatal, "Raft stopped.");
            Status::internal(format!("node {} can no longer commit: {fatal}", config.id))
        }
    }
}

/// Errors that may mean "ask the leader instead".
pub trait TryAsForward {
    /// The leader's id and address, when the error is a forward-to-leader.
    fn forward(&self) -> Option<(Option<NodeId>, Option<String>)>;
}

impl TryAsForward for ClientWriteError<NodeId, openraft::BasicNode> {
    fn forward(&self) -> Option<(Option<NodeId>, Option<String>)> {
        match self {
            ClientWriteError::ForwardToLeader(f) => {
                Some((f.leader_id, f.leader_node.as_ref().map(|n| n.addr.clone())))
            }
            ClientWriteError::ChangeMembershipError(_) => None,
        }
    }
}

impl TryAsForward for openraft::error::CheckIsLeaderError<NodeId, openraft::BasicNode> {
    fn forward(&self) -> Option<(Option<NodeId>, Option<String>)> {
        match self {
            openraft::error::CheckIsLeaderError::ForwardToLeader(f) => {
                Some((f.leader_id, f.leader_node.as_ref().map(|n| n.addr.clone())))
            }
            openraft::error::CheckIsLeaderError::QuorumNotEnough(_) => None,
        }
    }
}

fn written_len(response: &CommandResponse) -> usize {
    match response {
        CommandResponse::Submit(o) => o.len(),
        _ => 0,
    }
}
