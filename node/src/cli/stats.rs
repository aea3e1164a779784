//! `regfed stats`: the indicators per department and rolled up per region.

use anyhow::anyhow;
use clap::Args;
use regfed_proto::v1 as pb;
use serde_json::json;

use super::ClientArgs;

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// First day of the period (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the period (YYYY-MM-DD), inclusive; default today.
    #[arg(long)]
    pub to: Option<String>,
}

fn ratio(r: &Option<pb::Ratio>) -> serde_json::Value {
    let r = r.unwrap_or_default();
    json!({"num": r.num, "den": r.den})
}

pub fn stats_json(s: &pb::StatsResponse) -> serde_json::Value {
    json!({
        "scope": s.scope, "from": s.from, "to": s.to,
        "rows": s.rows.iter().map(|r| json!({
            "region": r.region,
            "department": if r.department.is_empty() { None } else { Some(&r.department) },
            "department_name": if r.department_name.is_empty() { None } else { Some(&r.department_name) },
            "coverage": ratio(&r.coverage), "timeliness": ratio(&r.timeliness), "accuracy": ratio(&r.accuracy),
            "submitted": r.submitted, "accepted": r.accepted, "rejected": r.rejected,
            "open": r.open, "rectified": r.rectified,
            "median_rectify_seconds": if r.median_rectify_seconds < 0.0 { None } else { Some(r.median_rectify_seconds) },
        })).collect::<Vec<_>>(),
    })
}

fn pct(r: &Option<pb::Ratio>) -> String {
    match r {
        Some(r) if r.den > 0 => format!(
            "{:5.1}% ({}/{})",
            100.0 * r.num as f64 / r.den as f64,
            r.num,
            r.den
        ),
        _ => "    - ".to_string(),
    }
}

pub fn print_table(s: &pb::StatsResponse) {
    println!(
        "Indicators for {} from {} to {}",
        s.scope,
        if s.from.is_empty() {
            "the beginning"
        } else {
            &s.from
        },
        s.to
    );
    println!(
        "{:<8} {:<20} {:<22} {:<22} {:<22} {:>6} {:>6} {:>6} {:>5} {:>5} {:>8}",
        "region",
        "department",
        "coverage",
        "timeliness",
        "accuracy",
        "subm",
        "acc",
        "rej",
        "open",
        "rect",
        "median"
    );
    for r in &s.rows {
        let dept = if r.department.is_empty() {
            "(all)".to_string()
        } else {
            r.department.clone()
        };
        let median = if r.median_rectify_seconds < 0.0 {
            "-".to_string()
        } else {
            format!("{:.0}s", r.median_rectify_seconds)
        };
        println!(
            "{:<8} {:<20} {:<22} {:<22} {:<22} {:>6} {:>6} {:>6} {:>5} {:>5} {:>8}",
            r.region,
            dept,
            pct(&r.coverage),
            pct(&r.timeliness),
            pct(&r.accuracy),
            r.submitted,
            r.accepted,
            r.rejected,
            r.open,
            r.rectified,
            median
        );
        if !r.department_name.is_empty() {
            println!("{:<8} {}", "", r.department_name);
        }
    }
}

pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    let mut client = crate::client::connect(&args.client.nodes, &args.client.identity).await?;
    let s = client
        .stats(pb::StatsRequest {
            from: args.from.unwrap_or_default(),
            to: args.to.unwrap_or_default(),
        })
        .await
        .map_err(|s| anyhow!(crate::client::status_message(&s)))?
        .into_inner();
    if args.client.json {
        println!("{}", stats_json(&s));
    } else {
        print_table(&s);
    }
    Ok(())
}
