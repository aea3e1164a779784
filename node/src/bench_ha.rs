//! `regfed bench-ha`: replicated durable ingest of a group of three against a group of
//! one, and failover: the time from killing the leader (kill -9 of a real process) to the
//! first acknowledged write on the new one.
//!
//! Both groups run side by side and ingest in turns, one round after the other, and the
//! median of the rounds' ratios is reported: this machine's speed moves by half within
//! minutes, more than the difference between two builds.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use regfed_pki::Tier;
use regfed_proto::v1 as pb;
use regfed_sample::{action_stream, generate, SampleConfig};

use crate::bench::{cpu_seconds, list, median, per_second};
use crate::cli::submit::{send, Outgoing};
use crate::federation::{self, NodePlan};
use crate::local::{self, LocalNode, Processes, SampleForm};

#[derive(Args, Debug)]
pub struct HaBenchArgs {
    /// Actions ingested into each group a round.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Records per submitted batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Rounds of ingest into each group in turn; the median of the rounds' ratios is
    /// reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Leader kills measured (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub failovers: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

async fn leader_index(nodes: &[LocalNode]) -> Option<usize> {
    for (i, n) in nodes.iter().enumerate() {
        let Ok(mut c) = crate::client::connect_member(&[n.addr.to_string()], &n.operator).await
        else {
            continue;
        };
        if let Ok(s) = c.status(pb::StatusRequest {}).await {
            if s.get_ref().raft_role == "leader" {
                return Some(i);
            }
        }
    }
    None
}

/// One group's ingest of a round: its rate, and the CPU time each member spent per
/// acknowledged record.
struct Ingest {
    rate: f64,
    /// Microseconds of CPU (user and system) per record, by member; `None` where it could
    /// not be read (not Linux).
    cpu_us: Vec<Option<f64>>,
    /// The member that led during the round.
    leader: Option<usize>,
    /// How long after the last acknowledgement the members went quiet: the work an
    /// ingest leaves behind it (see [`quiet`]), part of the round.
    tail: Duration,
}

/// Waits until the processes `pids` have done the work an ingest left them, and answers
/// how long after the call they last worked: until their CPU time has grown by less than
/// a clock tick per [`POLL`] for [`QUIET`]. Each member's committer gathers writes up to
/// half a second (`store/behind.rs`), and a follower applies what it kept back (entries
/// that carry commands) as late (`raft/state_machine.rs`): a round lasts until that work is
/// done, so that work put off is not work saved, and the next round does not start under
/// it.
async fn quiet(pids: &[Option<u32>]) -> Duration {
    const POLL: Duration = Duration::from_millis(50);
    /// Longer than either wait above.
    const QUIET: Duration = Duration::from_millis(800);
    let started = Instant::now();
    let busy = || -> f64 { pids.iter().flatten().filter_map(|p| cpu_seconds(*p)).sum() };
    let mut before = busy();
    let mut worked_until = Duration::ZERO;
    while started.elapsed() < worked_until + QUIET && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(POLL).await;
        let now = busy();
        if now - before >= 0.01 {
            worked_until = started.elapsed();
        }
        before = now;
    }
    worked_until
}

/// Ingests `n` actions, numbered from `start`, into the group of `nodes` (through its
/// leader, whose processes are `pids`).
async fn ingest(
    nodes: &[LocalNode],
    pids: &[Option<u32>],
    n: usize,
    batch: usize,
    start: u64,
) -> anyhow::Result<Ingest> {
    let first = &nodes[0];
    local::wait_ready(first, Duration::from_secs(60)).await?;
    let depts = first.departments.iter().map(|(d, _)| d.clone()).collect();
    let today = crate::state::china_day(crate::node::now_millis());
    let mut cfg = SampleConfig::small(&first.region, depts, today);
    cfg.defect_rate = 0.0;
    let refs = generate(&cfg);
    local::load_samples(first, &refs, SampleForm::AsSubmitted).await?;
    let samples = action_stream(&cfg, &refs, start, n);
    let leader = leader_index(nodes).await;
    let cpu = || -> Vec<Option<f64>> { pids.iter().map(|p| p.and_then(cpu_seconds)).collect() };
    let (cpu_before, started) = (cpu(), Instant::now());
    let accepted = local::submit_actions(first, samples, 2, batch).await?;
    let acknowledged = started.elapsed();
    let tail = quiet(pids).await;
    let cpu_after = cpu();
    anyhow::ensure!(
        accepted == n,
        "only {accepted} of {n} actions were accepted"
    );
    let cpu_us = cpu_before
        .iter()
        .zip(&cpu_after)
        .map(|(b, a)| Some((a.as_ref()? - b.as_ref()?) * 1e6 / n as f64))
        .collect();
    Ok(Ingest {
        rate: per_second(n, acknowledged + tail),
        cpu_us,
        leader,
        tail,
    })
}

/// CPU per record of each member, leader first, over the rounds (medians): the
/// arithmetic of the ratio on a machine whose cores the members share.
fn cpu_by_role(rounds: &[Ingest]) -> Vec<f64> {
    let members = rounds.first().map_or(0, |r| r.cpu_us.len());
    let mut by_role: Vec<Vec<f64>> = vec![Vec::new(); members];
    for r in rounds {
        let Some(leader) = r.leader else { continue };
        let mut order: Vec<usize> = (0..members).collect();
        order.swap(0, leader);
        order[1..].sort_unstable();
        for (role, member) in order.into_iter().enumerate() {
            if let Some(us) = r.cpu_us[member] {
                by_role[role].push(us);
            }
        }
    }
    by_role
        .iter_mut()
        .filter(|v| !v.is_empty())
        .map(|v| median(v))
        .collect()
}

pub async fn run(args: HaBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let solo_plan = vec![NodePlan::new("solo", Tier::City, "420100", 3)?];
    let solo = federation::prepare(&dir.path().join("solo"), &solo_plan, "")?;
    let plan: Vec<NodePlan> = (1..=3)
        .map(|i| NodePlan::new(&format!("wuhan-{i}"), Tier::City, "420100", 3))
        .collect::<anyhow::Result<_>>()?;
    let group = federation::prepare(&dir.path().join("group"), &plan, "")?;

    let solo_procs = Processes::spawn(&solo, dir.path())?;
    let mut procs = Processes::spawn(&group, dir.path())?;
    let (mut ones, mut threes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut one_rounds, mut three_rounds) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        let start = 1 + (round * args.records) as u64;
        let one = ingest(&solo, &solo_procs.pids(), args.records, args.batch, start).await?;
        let three = ingest(&group, &procs.pids(), args.records, args.batch, start).await?;
        ones.push(one.rate);
        threes.push(three.rate);
        ratios.push(three.rate / one.rate);
        one_rounds.push(one);
        three_rounds.push(three);
    }
    drop(solo_procs);
    let (cpu_one, cpu_three) = (cpu_by_role(&one_rounds), cpu_by_role(&three_rounds));
    let tail_ms = |rounds: &[Ingest]| {
        let mut ms: Vec<f64> = rounds.iter().map(|r| r.tail.as_secs_f64() * 1e3).collect();
        median(&mut ms)
    };
    let (tail_one, tail_three) = (tail_ms(&one_rounds), tail_ms(&three_rounds));
    let (one_list, three_list) = (list(&ones), list(&threes));
    let ratio_list = ratios
        .iter()
        .map(|r| format!("{:.1}%", 100.0 * r))
        .collect::<Vec<_>>()
        .join(", ");
    let (one, three, ratio) = (median(&mut ones), median(&mut threes), median(&mut ratios));

    // Failover: a writer submits small batches through any member; the leader is killed.
    let addrs: Vec<String> = group.iter().map(|n| n.addr.to_string()).collect();
    let depts = group[0]
        .departments
        .iter()
        .map(|(d, _)| d.clone())
        .collect();
    let today = crate::state::china_day(crate::node::now_millis());
    let mut cfg = SampleConfig::small(&group[0].region, depts, today);
    cfg.defect_rate = 0.0;
    let refs = generate(&cfg);
    let dept = &group[0].departments[0];
    let mut stream = action_stream(&cfg, &refs, 10_000_000, 200_000)
        .into_iter()
        .filter(|s| s.department.as_deref() == Some(&dept.0.code))
        .map(|s| Outgoing {
            source: s.key.clone(),
            record: s.record,
        });
    let mut failovers = Vec::new();
    for _ in 0..args.failovers {
        let leader = leader_index(&group)
            .await
            .context("the group has no leader")?;
        let killed_at = Instant::now();
        procs.kill(leader);
        // The first write acknowledged after the kill.
        let elapsed = loop {
            anyhow::ensure!(
                killed_at.elapsed() < Duration::from_secs(60),
                "no write was acknowledged within a minute of the kill"
            );
            let batch: Vec<Outgoing> = stream.by_ref().take(10).collect();
            let Ok(mut client) = crate::client::connect(&addrs, &dept.1).await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let sent = tokio::time::timeout(
                Duration::from_secs(2),
                send(&mut client, "action", None, &batch, 100),
            )
            .await;
            if let Ok(Ok(_)) = sent {
                break killed_at.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        failovers.push(elapsed.as_secs_f64());
        procs.restart(leader, dir.path())?;
        // Back to three before the next kill.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let list = failovers
        .iter()
        .map(|f| format!("{f:.2} s"))
        .collect::<Vec<_>>()
        .join(", ");
    // None when no leader was killed (`--failovers 0`).
    let failover = (!failovers.is_empty()).then(|| median(&mut failovers));
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "group_of_1_records_per_sec": one,
                "group_of_3_records_per_sec": three,
                "group_of_3_over_1": ratio,
                "rounds": args.rounds.max(1),
                "failover_secs_median": failover,
                "failovers": failovers,
                "records": args.records,
                "batch": args.batch,
                "cpu_us_per_record": {
                    "group_of_1": cpu_one,
                    "group_of_3_leader_then_followers": cpu_three,
                },
                "quiet_ms_after_last_ack": {
                    "group_of_1": tail_one,
                    "group_of_3": tail_three,
                },
            })
        );
    } else {
        println!(
            "group of 1      {one:>10.0} records/s durable ingest until every member is done, median (rounds: {one_list}; {} actions a round, batches of {})",
            args.records, args.batch
        );
        println!("group of 3      {three:>10.0} records/s replicated durable ingest until every member is done, median (rounds: {three_list}; a quorum synced before each ack)");
        println!(
            "3 over 1        {:>10.1}% median of the rounds' ratios (rounds: {ratio_list}; target >= 60%)",
            100.0 * ratio
        );
        if let ([one], [leader, followers @ ..]) = (&cpu_one[..], &cpu_three[..]) {
            let followers = followers
                .iter()
                .map(|f| format!("{f:.1}"))
                .collect::<Vec<_>>()
                .join(" and ");
            let total: f64 = cpu_three.iter().sum();
            println!("CPU per record  group of 1 {one:.1} us; group of 3 {total:.1} us: leader {leader:.1}, followers {followers} (medians of user + system time per acknowledged record, until the members went quiet; where the members share the cores and keep them as busy, 3 over 1 comes to the ratio of the two, {:.1}%)", 100.0 * one / total);
        }
        println!("quiet after     group of 1 {tail_one:.0} ms, group of 3 {tail_three:.0} ms after the last acknowledgement, medians (committers finish what they gathered: part of each round, in the rates)");
        match failover {
            Some(f) => println!("failover        {f:>10.2} s median from kill -9 of the leader to the first acknowledged write ({list}; target < 3 s)"),
            None => println!("failover        not measured (--failovers 0)"),
        }
    }
    Ok(())
}
