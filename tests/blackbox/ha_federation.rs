//! Three tiers of Raft groups under load: a city group of three under a province group of
//! three under a national group of three, plus a single-node city. Leaders are killed,
//! stopped and a whole group restarted while departments keep submitting; afterwards every
//! acknowledged record is present exactly once at its city, its province and the national
//! centre, and the replicas of each group are identical.
//!
//! Longer chaos runs: `REGFED_CHAOS_ROUNDS=5 cargo test --test blackbox ha_federation`.

use std::collections::BTreeMap;
use std::time::Duration;

use regfed::federation::NodePlan;
use regfed::local::{load_samples, LocalNode, SampleForm};
use regfed_pki::Tier;
use regfed_sample::SampleConfig;

use crate::federation::{holdings, merged, wait_holds, Federation};
use crate::ha::{
    action_changes, batches_of, department_actions, load, member_status, replicas_identical, Ledger,
};
use crate::harness::{today, wait_for};

fn group(fed: &Federation, prefix: &str) -> Vec<LocalNode> {
    (1..=3)
        .map(|i| fed.node(&format!("{prefix}-{i}")).node.clone())
        .collect()
}

/// The member of `members` that leads, waiting for one.
async fn leader(members: &[LocalNode]) -> usize {
    wait_for("a leader", Duration::from_secs(30), || async {
        for (i, n) in members.iter().enumerate() {
            if member_status(n)
                .await
                .is_some_and(|s| s.raft_role == "leader")
            {
                return Ok(i);
            }
        }
        Err("none".to_string())
    })
    .await
}

/// A load client's task: what it saw, and when each batch was acknowledged.
type LoadTask = tokio::task::JoinHandle<(Ledger, Vec<std::time::Instant>)>;

fn load_for(
    node: &LocalNode,
    members: Vec<String>,
    start: u64,
    n: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<LoadTask> {
    let depts: Vec<_> = node.departments.iter().map(|(d, _)| d.clone()).collect();
    let mut cfg = SampleConfig::small(&node.region, depts, today());
    cfg.defect_rate = 0.0;
    let refs = regfed_sample::generate(&cfg);
    let mut tasks = Vec::new();
    for (dept, identity) in &node.departments {
        let batches = batches_of(&department_actions(&cfg, &refs, &dept.code, start, n));
        tasks.push(tokio::spawn(load(
            members.clone(),
            identity.clone(),
            batches,
            stop.clone(),
        )));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread")]
async fn three_tiers_of_groups_lose_nothing_through_leader_failures() {
    let rounds: usize = std::env::var("REGFED_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut plan = Vec::new();
    for (prefix, tier, region, depts) in [
        ("national", Tier::National, "100000", 0),
        ("hubei", Tier::Province, "420000", 0),
        ("wuhan", Tier::City, "420100", 2),
    ] {
        for i in 1..=3 {
            plan.push(NodePlan::new(&format!("{prefix}-{i}"), tier, region, depts).unwrap());
        }
    }
    plan.push(NodePlan::new("yichang", Tier::City, "420500", 2).unwrap());
    let mut fed = Federation::start(&plan).await;
    let (national, hubei, wuhan) = (
        group(&fed, "national"),
        group(&fed, "hubei"),
        group(&fed, "wuhan"),
    );
    let yichang = fed.node("yichang").node.clone();
    let addrs = |g: &[LocalNode]| g.iter().map(|n| n.addr.to_string()).collect::<Vec<_>>();

    for (node, members) in [
        (&wuhan[0], addrs(&wuhan)),
        (&yichang, vec![yichang.addr.to_string()]),
    ] {
        let depts: Vec<_> = node.departments.iter().map(|(d, _)| d.clone()).collect();
        let mut cfg = SampleConfig::small(&node.region, depts, today());
        cfg.defect_rate = 0.0;
        let _ = members;
        load_samples(
            node,
            &regfed_sample::generate(&cfg),
            SampleForm::AsSubmitted,
        )
        .await
        .expect("load references");
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = load_for(&wuhan[0], addrs(&wuhan), 1, 40_000 * rounds, &stop_rx);
    let more = load_for(
        &yichang,
        vec![yichang.addr.to_string()],
        1,
        20_000 * rounds,
        &stop_rx,
    );
    tasks.extend(more);

    let mut events = Vec::new();
    for _ in 0..rounds {
        // kill -9 the city leader, and bring it back.
        let l = leader(&wuhan).await;
        fed.nodes.get_mut(&wuhan[l].id).unwrap().kill9();
        leader(&wuhan).await;
        fed.nodes.get_mut(&wuhan[l].id).unwrap().start().await;
        events.push(format!("killed city leader {}", wuhan[l].id));

        // kill -9 the province leader during upward sync.
        let l = leader(&hubei).await;
        fed.nodes.get_mut(&hubei[l].id).unwrap().kill9();
        leader(&hubei).await;
        fed.nodes.get_mut(&hubei[l].id).unwrap().start().await;
        events.push(format!("killed province leader {}", hubei[l].id));

        // SIGSTOP the national leader for longer than the election timeout.
        let l = leader(&national).await;
        fed.node(&national[l].id).pause(true);
        tokio::time::sleep(Duration::from_secs(4)).await;
        fed.node(&national[l].id).pause(false);
        events.push(format!(
            "stopped national leader {} for 4 s",
            national[l].id
        ));

        // Restart every member of the city group at once.
        for n in &wuhan {
            fed.nodes.get_mut(&n.id).unwrap().kill9();
        }
        for n in &wuhan {
            fed.nodes.get_mut(&n.id).unwrap().spawn();
        }
        for n in &wuhan {
            fed.node(&n.id).wait_ready().await;
        }
        events.push("restarted the whole city group".into());
    }
    let _ = stop_tx.send(true);
    let mut ledger = Ledger::default();
    for t in tasks {
        let (l, _) = t.await.expect("load task");
        ledger.ok.extend(l.ok);
        ledger.unknown.extend(l.unknown);
        ledger.failed += l.failed;
        ledger.errors.extend(l.errors);
    }
    assert_eq!(
        ledger.failed,
        0,
        "every batch was eventually acknowledged; errors: {:?}\n{}",
        ledger.errors,
        fed.logs()
    );

    // Healed: the province and the centre hold exactly what the cities accepted.
    let cities = merged(&[&holdings(&wuhan[0]).await, &holdings(&yichang).await]);
    let acked_missing: Vec<_> = ledger
        .ok
        .iter()
        .filter(|k| !cities.contains_key(&("action".to_string(), (*k).clone())))
        .take(5)
        .collect();
    assert!(
        acked_missing.is_empty(),
        "acknowledged and lost at the city: {acked_missing:?}"
    );
    wait_holds(&hubei[0], &cities, &fed).await;
    wait_holds(&national[0], &cities, &fed).await;
    let mut counts = BTreeMap::new();
    for (name, g) in [
        ("national", &national),
        ("hubei", &hubei),
        ("wuhan", &wuhan),
    ] {
        let (index, _) = replicas_identical(g, Duration::from_secs(90)).await;
        let changes = action_changes(&g[0]).await;
        counts.insert(name, (index, changes));
    }
    let city_actions = cities.keys().filter(|(d, _)| d == "action").count();
    for (name, (_, changes)) in &counts {
        if *name != "wuhan" {
            assert_eq!(
                *changes, city_actions,
                "{name}: each action applied exactly once"
            );
        }
    }
    println!(
        "{}; {} actions acknowledged ({} retried after an unknown outcome), {} records at every tier; groups (log index, action changes): {counts:?}",
        events.join(", "),
        ledger.ok.len(),
        ledger.unknown.len(),
        cities.len()
    );
}
