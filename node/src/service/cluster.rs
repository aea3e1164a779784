//! `regfed cluster`: an operator shows or changes the node's Raft group. Changes run on the
//! leader; a follower answers "not the leader" with the leader's address.

use std::collections::{BTreeMap, BTreeSet};

use openraft::ChangeMembers;
use regfed_proto::v1 as pb;
use tonic::Status;

use super::submit::raft_status;
use crate::node::Node;

pub async fn cluster(
    node: &Node,
    request: pb::ClusterRequest,
) -> Result<pb::ClusterResponse, Status> {
    let config = &node.config;
    let raft = &node.raft;
    match request.action.as_str() {
        "status" => {}
        "add-learner" => {
            if request.addr.is_empty() {
                return Err(Status::invalid_argument(
                    "add-learner needs the member's address (--addr)",
                ));
            }
            let member = openraft::BasicNode {
                addr: request.addr.clone(),
            };
            raft.add_learner(request.id, member, true)
                .await
                .map_err(|e| raft_status(config, e))?;
            tracing::info!(id = request.id, addr = %request.addr, "Learner added; it is caught up.");
        }
        "promote" => {
            raft.change_membership(
                ChangeMembers::AddVoterIds(BTreeSet::from([request.id])),
                false,
            )
            .await
            .map_err(|e| raft_status(config, e))?;
            tracing::info!(id = request.id, "Member promoted to voter.");
        }
        "remove" => {
            let ids = BTreeSet::from([request.id]);
            raft.change_membership(ChangeMembers::RemoveVoters(ids.clone()), false)
                .await
                .map_err(|e| raft_status(config, e))?;
            raft.change_membership(ChangeMembers::RemoveNodes(ids), false)
                .await
                .map_err(|e| raft_status(config, e))?;
            tracing::info!(id = request.id, "Member removed.");
        }
        other => {
            return Err(Status::invalid_argument(format!(
                "cluster action {other:?} is not one of status, add-learner, promote, remove"
            )))
        }
    }
    let m = raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let matched: BTreeMap<u64, u64> = m
        .replication
        .as_ref()
        .map(|r| {
            r.iter()
                .map(|(id, log)| (*id, log.map(|l| l.index).unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let leader = m
        .current_leader
        .and_then(|id| membership.get_node(&id).map(|n| format!("{id}@{}", n.addr)))
        .unwrap_or_default();
    Ok(pb::ClusterResponse {
        leader,
        members: membership
            .nodes()
            .map(|(id, n)| pb::ClusterMember {
                id: *id,
                addr: n.addr.clone(),
                role: if voters.contains(id) {
                    "voter"
                } else {
                    "learner"
                }
                .to_string(),
                matched: matched.get(id).copied().unwrap_or(0),
            })
            .collect(),
        log_index: m.last_applied.map(|l| l.index).unwrap_or(0),
    })
}
