//! A tier as a Raft group of three real processes: the leader killed with kill -9 under
//! load, the group keeps accepting, nothing acknowledged is lost or duplicated, and the
//! replicas end identical.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use regfed::cli::submit::{send, Outgoing};
use regfed::federation::NodePlan;
use regfed::local::{load_samples, LocalNode, SampleForm};
use regfed_pki::Tier;
use regfed_proto::v1 as pb;
use regfed_sample::{action_stream, SampleConfig};

use crate::federation::Federation;
use crate::harness::{today, wait_for};

/// What a load client saw of one batch.
#[derive(Debug, Default)]
pub struct Ledger {
    pub ok: BTreeSet<String>,
    pub failed: usize,
    pub unknown: BTreeSet<String>,
    /// The last error of each batch that was never acknowledged.
    pub errors: Vec<String>,
}

pub async fn member_status(node: &LocalNode) -> Option<pb::StatusResponse> {
    let mut c = regfed::client::connect_member(&[node.addr.to_string()], &node.operator)
        .await
        .ok()?;
    c.status(pb::StatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// Submits batches of actions until `stop`, retrying a batch whose outcome is not known
/// (resubmitting is safe: identical records are no-ops), through any member.
pub async fn load(
    members: Vec<String>,
    identity: std::path::PathBuf,
    batches: Vec<Vec<Outgoing>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Ledger, Vec<Instant>) {
    let mut ledger = Ledger::default();
    let mut acked_at = Vec::new();
    for batch in batches {
        if *stop.borrow() {
            break;
        }
        let keys: Vec<String> = batch.iter().map(|o| o.source.clone()).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut done = false;
        let mut last_error = String::new();
        while Instant::now() < deadline {
            let mut client = match regfed::client::connect(&members, &identity).await {
                Ok(c) => c,
                Err(e) => {
                    last_error = format!("{e:#}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match send(&mut client, "action", None, &batch, 1000).await {
                Ok(summary) => {
                    assert_eq!(summary.count("rejected"), 0, "valid actions were rejected");
                    ledger.ok.extend(keys.iter().cloned());
                    for k in &keys {
                        ledger.unknown.remove(k);
                    }
                    acked_at.push(Instant::now());
                    done = true;
                    break;
                }
                Err(e) => {
                    last_error = format!("{e:#}");
                    ledger.unknown.extend(keys.iter().cloned());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if !done {
            ledger.failed += 1;
            ledger.errors.push(last_error);
        }
    }
    (ledger, acked_at)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_of_three_survives_its_leader_killed() {
    let plan: Vec<NodePlan> = (1..=3)
        .map(|i| NodePlan::new(&format!("wuhan-{i}"), Tier::City, "420100", 2).unwrap())
        .collect();
    let mut fed = Federation::start(&plan).await;
    let nodes: Vec<LocalNode> = (1..=3)
        .map(|i| fed.node(&format!("wuhan-{i}")).node.clone())
        .collect();
    let members: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();

    let depts: Vec<_> = nodes[0]
        .departments
        .iter()
        .map(|(d, _)| d.clone())
        .collect();
    let mut cfg = SampleConfig::small("420100", depts, today());
    cfg.defect_rate = 0.0;
    let refs = regfed_sample::generate(&cfg);
    load_samples(&nodes[0], &refs, SampleForm::AsSubmitted)
        .await
        .expect("load references");

    // One load client per department, batches of 100 actions.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (i, (dept, identity)) in nodes[0].departments.iter().enumerate() {
        let actions: Vec<Outgoing> = action_stream(&cfg, &refs, 1 + i as u64 * 100_000, 6000)
            .into_iter()
            .filter(|s| s.department.as_deref() == Some(&dept.code))
            .map(|s| Outgoing {
                source: s.key.clone(),
                record: s.record,
            })
            .collect();
        let batches: Vec<Vec<Outgoing>> = actions.chunks(100).map(|c| c.to_vec()).collect();
        tasks.push(tokio::spawn(load(
            members.clone(),
            identity.clone(),
            batches,
            stop_rx.clone(),
        )));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = wait_for("a leader", Duration::from_secs(20), || async {
        for (i, n) in nodes.iter().enumerate() {
            if member_status(n)
                .await
                .is_some_and(|s| s.raft_role == "leader")
            {
                return Ok(i);
            }
        }
        Err("none".to_string())
    })
    .await;
    let killed_at = Instant::now();
    fed.nodes.get_mut(&nodes[leader].id).unwrap().kill9();
    let new_leader = wait_for("a new leader", Duration::from_secs(30), || async {
        for (i, n) in nodes.iter().enumerate() {
            if i != leader
                && member_status(n)
                    .await
                    .is_some_and(|s| s.raft_role == "leader")
            {
                return Ok(i);
            }
        }
        Err("none".to_string())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fed.nodes.get_mut(&nodes[leader].id).unwrap().start().await;
    let _ = stop_tx.send(true);

    let mut ledger = Ledger::default();
    let mut first_after_kill = None;
    for t in tasks {
        let (l, acked) = t.await.expect("load task");
        ledger.ok.extend(l.ok);
        ledger.unknown.extend(l.unknown);
        ledger.failed += l.failed;
        if let Some(t) = acked.into_iter().find(|t| *t > killed_at) {
            first_after_kill = Some(first_after_kill.map_or(t, |f: Instant| f.min(t)));
        }
    }
    assert_eq!(ledger.failed, 0, "every batch was eventually acknowledged");

    // Every acknowledged action is there, once; the replicas are identical.
    let held = crate::federation::holdings(&nodes[new_leader]).await;
    let actions: BTreeSet<&String> = held
        .keys()
        .filter(|(d, _)| d == "action")
        .map(|(_, k)| k)
        .collect();
    let missing: Vec<_> = ledger
        .ok
        .iter()
        .filter(|k| !actions.contains(k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "acknowledged and lost: {missing:?}");
    let changes = action_changes(&nodes[new_leader]).await;
    assert_eq!(
        changes,
        actions.len(),
        "each accepted action is one change: none applied twice"
    );
    let states = replicas_identical(&nodes, Duration::from_secs(60)).await;
    println!(
        "group of 3: {} actions acknowledged (all present once), {} with an unknown outcome retried, leader {} killed, new leader {} after {:?}, first write acknowledged {:?} after the kill; replicas at log index {}",
        ledger.ok.len(),
        ledger.unknown.len(),
        nodes[leader].id,
        nodes[new_leader].id,
        killed_at.elapsed(),
        first_after_kill.map(|t| t - killed_at),
        states.0
    );
}

/// Waits until every member of a group has applied the same log and holds the same counts;
/// answers that log index and those counts.
pub async fn replicas_identical(
    members: &[LocalNode],
    timeout: Duration,
) -> (u64, std::collections::HashMap<String, u64>) {
    wait_for("identical replicas", timeout, || async {
        let mut seen = Vec::new();
        for n in members {
            match member_status(n).await {
                Some(s) => seen.push((s.log_index, s.records.clone())),
                None => return Err(format!("{} not answering", n.id)),
            }
        }
        if seen.windows(2).all(|w| w[0] == w[1]) {
            Ok(seen.swap_remove(0))
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await
}

/// Accepted action changes in the change log, counted through `query`.
pub async fn action_changes(node: &LocalNode) -> usize {
    let mut client = regfed::client::connect(&[node.addr.to_string()], &node.operator)
        .await
        .expect("connect");
    let (mut n, mut after) = (0, String::new());
    loop {
        let page = client
            .query(pb::QueryRequest {
                dataset: "action".into(),
                after: after.clone(),
                limit: 10_000,
                region: String::new(),
            })
            .await
            .expect("query")
            .into_inner();
        n += page.records.len();
        after = page.cursor;
        if !page.more {
            return n;
        }
    }
}
