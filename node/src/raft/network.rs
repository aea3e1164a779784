//! The group's network: openraft's RPCs over the same mutual-TLS gRPC as everything else,
//! one lazily connected, cached channel per peer. A group of one never calls it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use prost::bytes::Bytes;
use regfed_pki::TlsMaterial;
use regfed_proto::v1 as pb;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;

use super::entry_bytes::EntryBytes;
use super::{NodeId, TypeConfig};

/// Raft messages can carry whole batches and snapshot chunks.
pub const MAX_RAFT_MESSAGE: usize = 256 * 1024 * 1024;

#[derive(Clone)]
pub struct Network {
    tls: Option<TlsMaterial>,
    /// The local address connections leave from (`[raft] source_ip`).
    source_ip: Option<std::net::IpAddr>,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// Entries encoded once, for the log and every follower.
    encoded: EntryBytes,
}

impl Network {
    /// A network for a group whose members authenticate with `tls`; `None` for a group of
    /// one, whose calls all fail. Connections leave from `source_ip` when given.
    pub fn new(
        tls: Option<TlsMaterial>,
        source_ip: Option<std::net::IpAddr>,
        encoded: EntryBytes,
    ) -> Self {
        Network {
            tls,
            source_ip,
            channels: Default::default(),
            encoded,
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, String> {
        let tls = self
            .tls
            .as_ref()
            .ok_or_else(|| "this node runs as a Raft group of one".to_string())?;
        let mut channels = self.channels.lock().map_err(|e| e.to_string())?;
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let channel =
            crate::client::lazy_channel(addr, tls, Duration::from_secs(2), self.source_ip)
                .map_err(|e| format!("{e:#}"))?;
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

pub struct Peer {
    target: NodeId,
    addr: String,
    encoded: EntryBytes,
    client: Result<pb::raft_peer_client::RaftPeerClient<Channel>, String>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        Peer {
            target,
            addr: node.addr.clone(),
            encoded: self.encoded.clone(),
            client: self.channel(&node.addr).map(|c| {
                pb::raft_peer_client::RaftPeerClient::new(c)
                    .max_decoding_message_size(MAX_RAFT_MESSAGE)
                    .max_encoding_message_size(MAX_RAFT_MESSAGE)
            }),
        }
    }
}

/// An entry's encoding, kept by [`EntryBytes`], as the bytes of a request: shared, so an
/// entry of a few megabytes is not copied for each follower it goes to.
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Shared {
    fn bytes(encoded: Arc<Vec<u8>>) -> Bytes {
        Bytes::from_owner(Shared(encoded))
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl Peer {
    async fn call<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        request: &Req,
        entries: Vec<Bytes>,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let unreachable = |why: String| {
            let error =
                std::io::Error::other(format!("Raft peer {} at {}: {why}", self.target, self.addr));
            RPCError::Unreachable(Unreachable::new(&error))
        };
        let client = match &mut self.client {
            Ok(c) => c,
            Err(why) => return Err(unreachable(why.clone())),
        };
        let data = crate::codec::try_encode(request)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = tonic::Request::new(pb::RaftPayload { data, entries });
        request.set_timeout(option.hard_ttl());
        let answer = match rpc {
            Rpc::Append => client.append(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let payload = answer
            .map_err(|s| unreachable(crate::client::status_message(&s)))?
            .into_inner();
        let answer: Result<Resp, RaftError<NodeId, E>> = crate::codec::decode(&payload.data)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        // The entries travel apart, each in the encoding the log already made.
        let entries = std::mem::take(&mut rpc.entries)
            .iter()
            .map(|entry| self.encoded.encode(entry).map(Shared::bytes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.call(Rpc::Append, &rpc, entries, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, Vec::new(), &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, Vec::new(), &option).await
    }
}
