//! The Raft service between the members of one tier's group: only node identities of the
//! same tier and region may call it.

use std::sync::Arc;

use regfed_pki::Role;
use regfed_proto::v1 as pb;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use super::auth::peer_identity;
use crate::metrics::Metrics;
use crate::node::Node;

#[derive(Clone)]
pub struct RaftService {
    node: Arc<Node>,
}

impl RaftService {
    pub fn new(node: Arc<Node>) -> Self {
        RaftService { node }
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let identity = peer_identity(request)?;
        let config = &self.node.config;
        if identity.role == Role::Node
            && identity.tier.as_str() == config.tier.as_str()
            && identity.region == config.region.as_str()
        {
            return Ok(());
        }
        Metrics::add(&self.node.metrics.rpc_denied_total, 1);
        let why = format!(
            "only nodes of {} {} may call node {}'s Raft service; {} is not one",
            config.tier,
            config.region,
            config.id,
            identity.to_uri()
        );
        tracing::warn!(peer = %identity.to_uri(), reason = %why, "Raft call refused.");
        Err(Status::permission_denied(why))
    }
}

fn decode<T: DeserializeOwned>(payload: pb::RaftPayload) -> Result<T, Status> {
    crate::codec::decode(&payload.data)
        .map_err(|e| Status::invalid_argument(format!("the Raft request does not decode: {e}")))
}

fn encode<T: Serialize>(answer: &T) -> Result<Response<pb::RaftPayload>, Status> {
    crate::codec::try_encode(answer)
        .map(|data| {
            Response::new(pb::RaftPayload {
                data,
                entries: Vec::new(),
            })
        })
        .map_err(|e| Status::internal(format!("the Raft answer does not encode: {e}")))
}

#[tonic::async_trait]
impl pb::raft_peer_server::RaftPeer for RaftService {
    async fn append(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        self.authorize(&request)?;
        let mut payload = request.into_inner();
        let entries = std::mem::take(&mut payload.entries);
        let mut append: openraft::raft::AppendEntriesRequest<crate::raft::TypeConfig> =
            decode(payload)?;
        for (i, bytes) in entries.into_iter().enumerate() {
            // Decoded, and the bytes kept for this node's log.
            let entry = self.node.entry_bytes.decode(bytes.into()).map_err(|e| {
                Status::invalid_argument(format!(
                    "entry {i} of the Raft append does not decode: {e}"
                ))
            })?;
            append.entries.push(entry);
        }
        let answer = self.node.raft.append_entries(append).await;
        encode(&answer)
    }

    async fn vote(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        self.authorize(&request)?;
        let answer = self.node.raft.vote(decode(request.into_inner())?).await;
        encode(&answer)
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::RaftPayload>,
    ) -> Result<Response<pb::RaftPayload>, Status> {
        self.authorize(&request)?;
        let answer = self
            .node
            .raft
            .install_snapshot(decode(request.into_inner())?)
            .await;
        encode(&answer)
    }
}
