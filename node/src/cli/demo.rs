//! `regfed demo`: a whole federation on this machine. The national centre, Hubei and
//! Guangdong, and two cities in each, with generated certificates; departments load
//! realistic sample data (defects of every rule family included) and two cross-city
//! conflicts; the demo shows records reaching the national centre, rejections in the
//! cities' queues, notices coming down, rectifications going up, and the indicators per
//! region. Runs until Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use regfed_governance::{Op, RawRecord, Value};
use regfed_proto::v1 as pb;
use regfed_sample::{generate, SampleConfig, SampleSet};

use crate::cli::submit::{send, Outgoing};
use crate::config::Config;
use crate::local::{self, LocalNode, SampleForm};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to keep the demo's certificates, configuration and data.
    #[arg(long, default_value = "regfed-demo")]
    pub dir: PathBuf,
    /// Load the data and exit instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(&args.dir).unwrap_or(args.dir.clone());
    // A fresh directory each run: the demo shows a first load, not a reload.
    if dir.join("nodes").exists() {
        std::fs::remove_dir_all(dir.join("nodes"))
            .with_context(|| format!("cannot clear {}", dir.join("nodes").display()))?;
    }
    let plan = crate::federation::demo_plan()?;
    let nodes = crate::federation::prepare(&dir, &plan, "")?;
    println!(
        "== regfed demo: a federation of {} nodes in {}",
        nodes.len(),
        dir.display()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    for node in &nodes {
        let config = Config::load(&node.config_path)?;
        let mut stop = stop_rx.clone();
        servers.push(tokio::spawn(crate::node::run(config, async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    for (node, p) in nodes.iter().zip(&plan) {
        local::wait_ready(node, Duration::from_secs(30)).await?;
        println!(
            "  {:<9} {:<8} {} {:<6} on {}",
            node.id,
            p.tier.as_str(),
            node.region,
            regfed_governance::RegionTable::builtin()
                .name(&node.region)
                .unwrap_or(""),
            node.addr
        );
    }
    let by_id = |id: &str| nodes.iter().find(|n| n.id == id).expect("planned node");
    let cities: Vec<&LocalNode> = nodes.iter().filter(|n| !n.departments.is_empty()).collect();
    let (national, wuhan, yichang, shenzhen) = (
        by_id("national"),
        by_id("wuhan"),
        by_id("yichang"),
        by_id("shenzhen"),
    );

    let today = crate::state::china_day(crate::node::now_millis());
    let sets: Vec<SampleSet> = cities
        .iter()
        .map(|c| {
            let depts = c.departments.iter().map(|(d, _)| d.clone()).collect();
            generate(&SampleConfig::small(&c.region, depts, today))
        })
        .collect();

    println!(
        "\n== 1. Departments of four cities submit sample data (about 20% carry one defect each)"
    );
    let started = Instant::now();
    let mut accepted_total = 0;
    for (city, set) in cities.iter().zip(&sets) {
        let report = local::load_samples(city, set, SampleForm::AsSubmitted).await?;
        let line: Vec<String> = ["item", "subject", "officer", "action"]
            .iter()
            .map(|d| {
                accepted_total += report.count(d, "accepted");
                format!(
                    "{d} {}/{}",
                    report.count(d, "accepted"),
                    report.count(d, "accepted") + report.count(d, "rejected")
                )
            })
            .collect();
        println!("  {:<9} accepted {}", city.id, line.join(", "));
    }
    let held = wait_national(national, accepted_total, started).await?;
    println!("  -> the national centre holds {held} records, each re-checked at its province and at the centre");

    println!("\n== 2. Rejections wait in the cities' queues, every problem named");
    let mut families = std::collections::BTreeSet::new();
    for (city, set) in cities.iter().zip(&sets) {
        for sample in set
            .all()
            .filter(|s| s.defect.as_ref().is_some_and(|d| !d.is_warning()))
        {
            let Some(defect) = &sample.defect else {
                continue;
            };
            if families.len() >= 6 || !families.insert(defect.family.as_str()) {
                continue;
            }
            let q = queue(city, &city.operator).await?;
            if let Some(entry) = q.iter().find(|e| e.key == sample.key) {
                if let Some(i) = entry.issues.first() {
                    println!(
                        "  {:<9} [{}] {} {}: {} ({})\n            {}",
                        city.id,
                        defect.family.as_str(),
                        sample.dataset,
                        entry.key,
                        i.rule,
                        i.field,
                        i.message_zh
                    );
                }
            }
        }
    }

    println!("\n== 3. Two cross-city conflicts: the same USCC registered under another name");
    let wuhan_set = &sets[cities.iter().position(|c| c.id == "wuhan").unwrap_or(0)];
    let mut valid = wuhan_set.subjects.iter().filter(|s| s.defect.is_none());
    let (first, second) = (
        valid.next().context("no valid subject")?,
        valid.next().context("no second valid subject")?,
    );
    register_subject(yichang, first, "宜昌冒名贸易有限公司").await?;
    register_subject(shenzhen, second, "深圳冒名科技有限公司").await?;
    println!("  宜昌 registers {} (a 武汉 company) as 宜昌冒名贸易有限公司: its city accepts, 湖北 cannot", first.key);
    println!("  深圳 registers {} (a 武汉 company) as 深圳冒名科技有限公司: 广东 accepts, the national centre cannot", second.key);
    for (city, key, tier) in [
        (yichang, &first.key, "province"),
        (shenzhen, &second.key, "national"),
    ] {
        let entry = wait_notice(city, key, tier, "open").await?;
        let i = entry
            .issues
            .iter()
            .find(|i| i.rule.ends_with("cross_origin"));
        println!(
            "  -> notice at {} for department {}: {} raised by the {tier} tier ({})\n            {}",
            city.id,
            entry.department,
            i.map(|i| i.rule.as_str()).unwrap_or(""),
            entry.raised_by.as_ref().map(|r| r.region.as_str()).unwrap_or(""),
            i.map(|i| i.message_zh.as_str()).unwrap_or("")
        );
    }

    println!("\n== 4. The departments correct their records; the corrections go up");
    let (mut fixed_total, mut still_rejected) = (0, 0);
    for (city, set) in cities.iter().zip(&sets) {
        let fixed = local::load_samples(city, set, SampleForm::CorrectedDefectsOnly).await?;
        let count = |s: &str| fixed.results.values().filter(|r| r.status == s).count();
        fixed_total += count("accepted");
        still_rejected += count("rejected");
    }
    for (city, subject) in [(yichang, first), (shenzhen, second)] {
        let name = subject
            .valid
            .fields
            .get("name")
            .and_then(Value::as_text)
            .unwrap_or_default()
            .to_string();
        register_subject(city, subject, &name).await?;
    }
    println!("  {fixed_total} corrections accepted at the cities, still rejected {still_rejected}");
    for (city, key, tier) in [
        (yichang, &first.key, "province"),
        (shenzhen, &second.key, "national"),
    ] {
        wait_notice(city, key, tier, "rectified").await?;
        println!(
            "  -> the {tier} tier accepted the corrected {key}: the notice at {} is resolved",
            city.id
        );
    }
    let held = wait_national(national, accepted_total + fixed_total, started).await?;
    println!("  -> the national centre now holds {held} records");

    println!("\n== 5. Indicators at the national centre, per department and rolled up per region");
    let mut client =
        crate::client::connect(&[national.addr.to_string()], &national.operator).await?;
    let stats = client
        .stats(pb::StatsRequest::default())
        .await?
        .into_inner();
    super::stats::print_table(&stats);

    let bin = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "regfed".into());
    let (n, w) = (national.addr, wuhan.addr);
    let (nop, wop) = (national.operator.display(), wuhan.operator.display());
    let ydept = yichang.departments[0].1.display();
    println!("\n== Try next (in another terminal):");
    println!("  {bin} status --node {n} --identity {nop}");
    println!(
        "  {bin} query  --node {n} --identity {nop} --dataset action --region 420500 --limit 3"
    );
    println!("  {bin} stats  --node {n} --identity {nop}");
    println!(
        "  {bin} issues --node {} --identity {ydept} --all",
        yichang.addr
    );
    println!("  {bin} status --node {w} --identity {wop}");
    let wdept = wuhan.departments[0].1.display();
    println!("  {bin} submit --node {w} --identity {wdept} --dataset item FILE.jsonl");
    println!("  {bin} template --node {w} --identity {wdept} --out template.xlsx");
    println!("  {bin} submit --node {w} --identity {wdept} template.xlsx --report result.xlsx");

    if !args.exit {
        println!("\nThe federation keeps running; Ctrl-C stops it.");
        super::shutdown_signal().await;
    }
    let _ = stop_tx.send(true);
    for s in servers {
        s.await.context("node task failed")??;
    }
    Ok(())
}

async fn queue(
    node: &LocalNode,
    identity: &std::path::Path,
) -> anyhow::Result<Vec<pb::QueueEntry>> {
    let mut client = crate::client::connect(&[node.addr.to_string()], identity).await?;
    Ok(client
        .issues(pb::IssuesRequest {
            department: String::new(),
            include_rectified: true,
        })
        .await?
        .into_inner()
        .entries)
}

/// Waits until `city` shows the notice raised by `tier` on `key` with `status`.
async fn wait_notice(
    city: &LocalNode,
    key: &str,
    tier: &str,
    status: &str,
) -> anyhow::Result<pb::QueueEntry> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = queue(city, &city.operator).await?.into_iter().find(|e| {
            e.key == key
                && e.status == status
                && e.raised_by.as_ref().is_some_and(|r| r.tier == tier)
        });
        if let Some(entry) = found {
            return Ok(entry);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "no {status} notice from the {tier} tier on {key} reached {} within a minute",
                city.id
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the national centre has committed `expected` records; answers how many it
/// holds.
async fn wait_national(
    national: &LocalNode,
    expected: usize,
    started: Instant,
) -> anyhow::Result<u64> {
    let mut client =
        crate::client::connect(&[national.addr.to_string()], &national.operator).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = client.status(pb::StatusRequest {}).await?.into_inner();
        let held: u64 = s.records.values().sum();
        if held as usize >= expected || Instant::now() > deadline {
            if (held as usize) < expected {
                println!("  (the national centre holds {held} of {expected} so far)");
            } else {
                println!(
                    "  ({:.1} s after the first submission)",
                    started.elapsed().as_secs_f64()
                );
            }
            return Ok(held);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers `subject` at `city` (by its first department) under `name`.
async fn register_subject(
    city: &LocalNode,
    subject: &regfed_sample::Sample,
    name: &str,
) -> anyhow::Result<()> {
    let mut fields = subject.valid.fields.clone();
    fields.insert("name".into(), Value::from(name));
    fields.insert("region_code".into(), Value::from(city.region.as_str()));
    let mut client =
        crate::client::connect(&[city.addr.to_string()], &city.departments[0].1).await?;
    let out = send(
        &mut client,
        "subject",
        None,
        &[Outgoing {
            record: RawRecord::new(Op::Upsert, fields),
            source: "demo conflict".into(),
        }],
        10,
    )
    .await?;
    anyhow::ensure!(
        out.count("accepted") == 1,
        "{} did not accept the subject: {:?}",
        city.id,
        out.results
    );
    Ok(())
}
