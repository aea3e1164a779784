//! `regfed cluster add-learner | promote | remove | status`: show or change a tier's Raft
//! group at run time (operators).

use anyhow::anyhow;
use clap::{Args, Subcommand};
use regfed_proto::v1 as pb;
use serde_json::json;

use super::ClientArgs;

#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Show the group: leader, members, their roles and replication.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a member as a learner; returns once it has caught up with the log.
    AddLearner {
        #[command(flatten)]
        client: ClientArgs,
        /// Its Raft id (unused in the group so far).
        #[arg(long)]
        id: u64,
        /// Its gRPC address, as the other members reach it.
        #[arg(long)]
        addr: String,
    },
    /// Make a learner a voter.
    Promote {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        id: u64,
    },
    /// Remove a member from the group.
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        id: u64,
    },
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let (client, request) = match args.action {
        ClusterAction::Status { client } => (
            client,
            pb::ClusterRequest {
                action: "status".into(),
                ..Default::default()
            },
        ),
        ClusterAction::AddLearner { client, id, addr } => (
            client,
            pb::ClusterRequest {
                action: "add-learner".into(),
                id,
                addr,
            },
        ),
        ClusterAction::Promote { client, id } => (
            client,
            pb::ClusterRequest {
                action: "promote".into(),
                id,
                ..Default::default()
            },
        ),
        ClusterAction::Remove { client, id } => (
            client,
            pb::ClusterRequest {
                action: "remove".into(),
                id,
                ..Default::default()
            },
        ),
    };
    let mut rpc = crate::client::connect(&client.nodes, &client.identity).await?;
    let answer = rpc
        .cluster(request)
        .await
        .map_err(|s| anyhow!(crate::client::status_message(&s)))?
        .into_inner();
    if client.json {
        let members: Vec<_> = answer
            .members
            .iter()
            .map(|m| json!({"id": m.id, "addr": m.addr, "role": m.role, "matched": m.matched}))
            .collect();
        println!(
            "{}",
            json!({"leader": answer.leader, "members": members, "log_index": answer.log_index})
        );
        return Ok(());
    }
    println!("leader   {}", answer.leader);
    for m in &answer.members {
        println!(
            "  {:>3}  {:<22} {:<8} matched {}",
            m.id, m.addr, m.role, m.matched
        );
    }
    println!("applied  {}", answer.log_index);
    Ok(())
}
