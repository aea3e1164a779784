//! `regfed query`: accepted records as JSONL, then a resumable cursor line.

use std::io::Write as _;

use anyhow::anyhow;
use clap::Args;
use regfed_proto::v1 as pb;
use serde_json::json;

use super::ClientArgs;
use crate::convert::value::from_pb;

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub dataset: String,
    /// Resume after this cursor (the last line of a previous run).
    #[arg(long, default_value = "")]
    pub after: String,
    /// Only records whose region lies within this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Stop after this many records (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
}

pub fn record_json(r: &pb::StoredRecord) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = r
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
        "dataset": r.dataset, "key": r.key, "op": r.op, "version": r.version,
        "fields": fields,
        "origin": {"region": r.origin_region, "department": r.origin_department},
        "reported_at": r.reported_at,
        "hops": r.hops.iter().map(|h| json!({
            "tier": h.tier, "region": h.region,
            "received_at": crate::state::rfc3339_millis(h.received_at_ms),
        })).collect::<Vec<_>>(),
    })
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let mut client = crate::client::connect(&args.client.nodes, &args.client.identity).await?;
    let mut cursor = args.after.clone();
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let want = args
            .limit
            .map(|l| l.saturating_sub(printed))
            .unwrap_or(1000)
            .min(1000);
        if want == 0 {
            break;
        }
        let page = client
            .query(pb::QueryRequest {
                dataset: args.dataset.clone(),
                after: cursor.clone(),
                limit: want as u32,
                region: args.region.clone().unwrap_or_default(),
            })
            .await
            .map_err(|s| anyhow!(crate::client::status_message(&s)))?
            .into_inner();
        for r in &page.records {
            writeln!(out, "{}", record_json(r))?;
            printed += 1;
        }
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    writeln!(out, "{}", json!({"cursor": cursor}))?;
    Ok(())
}
