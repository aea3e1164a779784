//! `regfed issues`: the rectification queue visible to the caller.

use anyhow::anyhow;
use clap::Args;
use regfed_proto::v1 as pb;
use serde_json::json;

use super::ClientArgs;
use crate::convert::value::from_pb;

#[derive(Args, Debug)]
pub struct IssuesArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// For operators: only this department's queue.
    #[arg(long)]
    pub department: Option<String>,
    /// Include entries already rectified.
    #[arg(long)]
    pub all: bool,
}

pub fn entry_json(e: &pb::QueueEntry) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = e
        .fields
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::to_value(from_pb(v.clone())).unwrap_or_default(),
            )
        })
        .collect();
    json!({
        "dataset": e.dataset, "key": e.key, "version": e.version, "department": e.department,
        "origin_region": e.origin_region,
        "raised_by": e.raised_by.as_ref().map(|r| json!({"tier": r.tier, "region": r.region})),
        "status": e.status,
        "raised_at": e.raised_at,
        "rectified_at": if e.rectified_at.is_empty() { None } else { Some(&e.rectified_at) },
        "rectified_seconds": if e.rectified_at.is_empty() { None } else { Some(e.rectified_seconds) },
        "issues": e.issues.iter().map(|i| json!({
            "rule": i.rule, "field": i.field, "severity": i.severity,
            "message": format!("{} / {}", i.message_zh, i.message_en), "example": i.example,
        })).collect::<Vec<_>>(),
        "fields": fields,
    })
}

pub async fn run(args: IssuesArgs) -> anyhow::Result<()> {
    let mut client = crate::client::connect(&args.client.nodes, &args.client.identity).await?;
    let response = client
        .issues(pb::IssuesRequest {
            department: args.department.unwrap_or_default(),
            include_rectified: args.all,
        })
        .await
        .map_err(|s| anyhow!(crate::client::status_message(&s)))?
        .into_inner();
    if args.client.json {
        let all: Vec<_> = response.entries.iter().map(entry_json).collect();
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    if response.entries.is_empty() {
        println!("The rectification queue is empty.");
        return Ok(());
    }
    println!("{} entries:", response.entries.len());
    for e in &response.entries {
        let by = e
            .raised_by
            .as_ref()
            .map(|r| format!("{} {}", r.tier, r.region))
            .unwrap_or_default();
        println!(
            "{} {} v{} [{}] department {} raised by {by} at {}",
            e.dataset, e.key, e.version, e.status, e.department, e.raised_at
        );
        for i in &e.issues {
            println!(
                "    [{}] {} {}: {} / {}",
                i.severity, i.rule, i.field, i.message_zh, i.message_en
            );
        }
    }
    Ok(())
}
