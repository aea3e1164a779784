//! `regfed demo`: a local node with generated certificates, loaded with realistic sample
//! data (defects of every rule family included), a rectification round, the indicators,
//! and the commands to try next. Runs until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use regfed_pki::Tier;
use regfed_proto::v1 as pb;
use regfed_sample::{departments, generate, SampleConfig};

use crate::config::Config;
use crate::local::{self, LocalSpec, SampleForm};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to keep the demo's certificates, configuration and data.
    #[arg(long, default_value = "regfed-demo")]
    pub dir: PathBuf,
    /// gRPC port of the demo node (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Load the data and exit instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

const REGION: &str = "420100";
const NODE_ID: &str = "wuhan-1";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(&args.dir).unwrap_or(args.dir.clone());
    let listen = if args.port == 0 {
        local::free_port()?
    } else {
        format!("127.0.0.1:{}", args.port).parse()?
    };
    let http = local::free_port()?;
    let depts = departments(REGION, 3);
    // A fresh data directory each run: the demo shows a first load, not a reload.
    let data = dir.join("nodes").join(NODE_ID).join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)
            .with_context(|| format!("cannot clear {}", data.display()))?;
    }
    let node = local::prepare(
        &dir,
        &LocalSpec {
            id: NODE_ID,
            tier: Tier::City,
            region: REGION,
            departments: &depts,
            listen,
            http: Some(http),
            handshake_timeout_secs: None,
            extra_config: "",
        },
    )?;
    println!(
        "== regfed demo: city node {NODE_ID} (武汉市 {REGION}) in {}",
        dir.display()
    );
    let config = Config::load(&node.config_path)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::node::run(config, async move {
        let _ = stop_rx.await;
    }));
    local::wait_ready(&node, Duration::from_secs(20)).await?;
    println!("Node serving on {listen} (mutual TLS), metrics on http://{http}/metrics\n");

    let today = crate::state::china_day(crate::node::now_millis());
    let set = generate(&SampleConfig::small(REGION, depts.clone(), today));
    println!("== 1. Departments submit sample data (about 20% carry one defect each)");
    let report = local::load_samples(&node, &set, SampleForm::AsSubmitted).await?;
    for name in ["item", "subject", "officer", "action"] {
        println!(
            "  {name:<8} accepted {:>3}  rejected {:>3}",
            report.count(name, "accepted"),
            report.count(name, "rejected")
        );
    }
    println!("\n== 2. Some rejections, as the departments see them");
    let mut families = std::collections::BTreeSet::new();
    for sample in set.all().filter(|s| s.defect.is_some()) {
        let defect = sample
            .defect
            .as_ref()
            .map(|d| d.family.as_str())
            .unwrap_or_default();
        if !families.insert(defect) {
            continue;
        }
        if let Some(r) = report
            .results
            .get(&(sample.dataset.to_string(), sample.key.clone()))
        {
            if let Some(i) = r.issues.iter().find(|i| i.severity == "error") {
                println!(
                    "  [{defect}] {} {}: {} ({})\n      {}",
                    sample.dataset, r.key, i.rule, i.field, i.message_zh
                );
            }
        }
    }

    println!("\n== 3. The departments correct their records and submit again");
    let fixed = local::load_samples(&node, &set, SampleForm::CorrectedDefectsOnly).await?;
    println!(
        "  corrections accepted {}, still rejected {}",
        fixed
            .results
            .values()
            .filter(|r| r.status == "accepted")
            .count(),
        fixed
            .results
            .values()
            .filter(|r| r.status == "rejected")
            .count()
    );

    let nodes = vec![listen.to_string()];
    let mut client = crate::client::connect(&nodes, &node.operator).await?;
    let stats = client
        .stats(pb::StatsRequest::default())
        .await?
        .into_inner();
    println!("\n== 4. Indicators (live)");
    super::stats::print_table(&stats);

    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "regfed".into());
    let op = node.operator.display();
    let dept = node.departments[0].1.display();
    println!("\n== Try next (in another terminal):");
    println!("  {bin} status --node {listen} --identity {op}");
    println!("  {bin} issues --node {listen} --identity {op} --all");
    println!("  {bin} stats  --node {listen} --identity {op} --json");
    println!("  {bin} query  --node {listen} --identity {op} --dataset action --limit 3");
    println!(
        "  {bin} sample --region {REGION} --out {}/sample",
        dir.display()
    );
    println!(
        "  {bin} submit --node {listen} --identity {dept} --dataset item {}/sample/{}/item.jsonl",
        dir.display(),
        depts[0].code
    );
    println!("  curl -s http://{http}/metrics");

    if args.exit {
        let _ = stop_tx.send(());
    } else {
        println!("\nThe node keeps running; Ctrl-C stops it.");
        super::shutdown_signal().await;
        let _ = stop_tx.send(());
    }
    server.await.context("node task failed")??;
    Ok(())
}
