//! `regfed status`: node id, tier, region, Raft role and counts.

use anyhow::anyhow;
use clap::Args;
use regfed_proto::v1 as pb;
use serde_json::json;

use super::ClientArgs;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn status_json(s: &pb::StatusResponse) -> serde_json::Value {
    json!({
        "node": s.node, "tier": s.tier, "region": s.region,
        "raft": {"role": s.raft_role, "leader": s.raft_leader, "members": s.raft_members, "log_index": s.log_index},
        "outbox": {"pending": s.outbox_pending},
        "parent": {"connected": s.parent_connected, "acked": s.parent_acked},
        "records": s.records,
        "queue": {"open": s.queue_open},
        "pack": s.pack,
        "caller": s.caller,
    })
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let mut client =
        crate::client::connect_member(&args.client.nodes, &args.client.identity).await?;
    let s = client
        .status(pb::StatusRequest {})
        .await
        .map_err(|s| anyhow!(crate::client::status_message(&s)))?
        .into_inner();
    if args.client.json {
        println!("{}", status_json(&s));
        return Ok(());
    }
    println!("node     {} ({} {})", s.node, s.tier, s.region);
    println!(
        "raft     {} (leader {}, members {})",
        s.raft_role,
        s.raft_leader,
        s.raft_members.join(", ")
    );
    let mut counts: Vec<_> = s.records.iter().collect();
    counts.sort();
    let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("records  {}", counts.join(", "));
    println!("queue    {} open", s.queue_open);
    println!("outbox   {} pending", s.outbox_pending);
    println!("pack     {}", s.pack);
    println!("you are  {}", s.caller);
    Ok(())
}
