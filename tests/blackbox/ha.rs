//! A tier as a Raft group of three real processes: the leader killed with kill -9, or cut
//! off from the other two by fault proxies, under load; the group keeps accepting, nothing
//! acknowledged is lost or duplicated, and the replicas end identical.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use regfed::cli::submit::{send, send_to_group, Outgoing};
use regfed::federation::NodePlan;
use regfed::local::{load_samples, LocalNode, SampleForm};
use regfed_pki::Tier;
use regfed_proto::v1 as pb;
use regfed_sample::{action_stream, SampleConfig};

use crate::federation::Federation;
use crate::harness::{today, wait_for};
use crate::proxy::{FaultProxy, Mode};

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
    mut members: Vec<String>,
    identity: std::path::PathBuf,
    batches: impl IntoIterator<Item = Vec<Outgoing>>,
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
            // A member cut off from its group may still take the call and never answer.
            let sent = tokio::time::timeout(
                Duration::from_secs(10),
                send(&mut client, "action", None, &batch, 1000),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within 10 s")));
            if sent.is_err() {
                // Start from another member next time: the one that failed may be cut off.
                members.rotate_left(1);
            }
            match sent {
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

/// The actions of department `dept` among the `n` valid ones numbered from `start`, as
/// its client sends them.
pub fn department_actions(
    cfg: &SampleConfig,
    refs: &regfed_sample::SampleSet,
    dept: &str,
    start: u64,
    n: usize,
) -> Vec<Outgoing> {
    action_stream(cfg, refs, start, n)
        .into_iter()
        .filter(|s| s.department.as_deref() == Some(dept))
        .map(|s| Outgoing {
            source: s.key,
            record: s.record,
        })
        .collect()
}

/// `actions` in a load client's batches of 100.
pub fn batches_of(actions: &[Outgoing]) -> Vec<Vec<Outgoing>> {
    actions.chunks(100).map(<[Outgoing]>::to_vec).collect()
}

/// Load running against a group: one client per department, batches of 100 actions.
struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<(Ledger, Vec<Instant>)>>,
    /// The sample configuration and the reference data loaded at the group.
    samples: (SampleConfig, regfed_sample::SampleSet),
}

impl Load {
    /// Loads the reference data (items, subjects, officers) at the group, then starts the
    /// clients, each trying the `members` in turn.
    async fn start(nodes: &[LocalNode]) -> Load {
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
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for (i, (dept, identity)) in nodes[0].departments.iter().enumerate() {
            // Endless, made as it is sent: the load runs until the test stops it, however
            // fast the group commits (a fixed number of actions could all be in before the
            // fault the test makes). Each department numbers from a range of its own.
            let (cfg, refs, code) = (cfg.clone(), refs.clone(), dept.code.clone());
            let batches = (0u64..).flat_map(move |chunk| {
                let start = (1 + i as u64) * 10_000_000 + chunk * 10_000;
                batches_of(&department_actions(&cfg, &refs, &code, start, 10_000))
            });
            tasks.push(tokio::spawn(load(
                members.clone(),
                identity.clone(),
                batches,
                stop_rx.clone(),
            )));
        }
        Load {
            stop,
            tasks,
            samples: (cfg, refs),
        }
    }

    /// `n` valid actions of department `dept`, numbered from `start`, apart from the
    /// clients' own.
    fn more_actions(&self, dept: &str, start: u64, n: usize) -> Vec<Outgoing> {
        let (cfg, refs) = &self.samples;
        let mut actions = department_actions(cfg, refs, dept, start, n * 10);
        actions.truncate(n);
        actions
    }

    /// Stops the clients and merges what they saw; every batch must have been acknowledged.
    async fn finish(self) -> (Ledger, Vec<Instant>) {
        let _ = self.stop.send(true);
        let mut ledger = Ledger::default();
        let mut acked_at = Vec::new();
        for t in self.tasks {
            let (l, acked) = t.await.expect("load task");
            ledger.ok.extend(l.ok);
            ledger.unknown.extend(l.unknown);
            ledger.failed += l.failed;
            ledger.errors.extend(l.errors);
            acked_at.extend(acked);
        }
        assert_eq!(
            ledger.failed, 0,
            "every batch was eventually acknowledged: {:?}",
            ledger.errors
        );
        (ledger, acked_at)
    }
}

/// The member of `nodes` that says it leads, other than `except`.
async fn leader_of(nodes: &[LocalNode], except: Option<usize>, what: &str) -> usize {
    wait_for(what, Duration::from_secs(30), || async {
        for (i, n) in nodes.iter().enumerate() {
            if Some(i) != except
                && member_status(n)
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

/// Every acknowledged action present at `leader` once, and the replicas identical:
/// answers (actions held, the replicas' log index).
async fn check_group(nodes: &[LocalNode], leader: usize, ledger: &Ledger) -> (usize, u64) {
    let held = crate::federation::holdings(&nodes[leader]).await;
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
    let changes = action_changes(&nodes[leader]).await;
    assert_eq!(
        changes,
        actions.len(),
        "each accepted action is one change: none applied twice"
    );
    let states = replicas_identical(nodes, Duration::from_secs(60)).await;
    (actions.len(), states.0)
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
    let load = Load::start(&nodes).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = leader_of(&nodes, None, "a leader").await;
    let killed_at = Instant::now();
    fed.nodes.get_mut(&nodes[leader].id).unwrap().kill9();
    // A submission started during the election rides it out: the killed leader is named
    // first, and a follower answers "not the leader" until the group has a new one.
    let (dept, identity) = &nodes[0].departments[0];
    let during = load.more_actions(&dept.code, 90_000_000, 20);
    let mut members: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
    members.rotate_left(leader);
    let sent = send_to_group(&members, identity, "action", None, &during, 10)
        .await
        .expect("a batch refused during the election is sent again until a leader takes it");
    assert_eq!(sent.count("accepted"), during.len(), "{:?}", sent.results);
    let new_leader = leader_of(&nodes, Some(leader), "a new leader").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fed.nodes.get_mut(&nodes[leader].id).unwrap().start().await;

    let (ledger, acked_at) = load.finish().await;
    let first_after_kill = acked_at.into_iter().filter(|t| *t > killed_at).min();
    let (held, index) = check_group(&nodes, new_leader, &ledger).await;
    let during_held = crate::federation::holdings(&nodes[new_leader]).await;
    let missing: Vec<_> = during
        .iter()
        .filter(|o| !during_held.contains_key(&("action".to_string(), o.source.clone())))
        .collect();
    assert!(
        missing.is_empty(),
        "sent during the election and lost: {missing:?}"
    );
    println!(
        "group of 3: {} actions acknowledged and {} more sent during the election ({held} held, all present once), {} with an unknown outcome retried, leader {} killed, new leader {} after {:?}, first write acknowledged {:?} after the kill; replicas at log index {index}",
        ledger.ok.len(),
        during.len(),
        ledger.unknown.len(),
        nodes[leader].id,
        nodes[new_leader].id,
        killed_at.elapsed(),
        first_after_kill.map(|t| t - killed_at),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_cut_off_from_its_group_is_replaced_and_catches_up() {
    // Each member on a loopback address of its own, its connections to the others leaving
    // from it ([raft] source_ip), and a fault proxy in front of it on the same address; the
    // group's membership names the proxies. Cutting one member off is then: its own proxy
    // silent, and the others' proxies silent for connections from its address.
    let ips: Vec<IpAddr> = (11..=13)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect();
    let mut plan = Vec::new();
    let mut proxies = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let mut p = NodePlan::new(&format!("wuhan-{}", i + 1), Tier::City, "420100", 2).unwrap();
        p.listen = std::net::TcpListener::bind((*ip, 0))
            .and_then(|l| l.local_addr())
            .expect("a port on a loopback address");
        let proxy = FaultProxy::start_on(*ip, p.listen).expect("proxy");
        p.member_addr = Some(proxy.addr().to_string());
        p.raft_settings = format!("source_ip = \"{ip}\"\n");
        plan.push(p);
        proxies.push(proxy);
    }
    let fed = Federation::start_with(&plan, "[limits]\ncommit_timeout_secs = 3\n").await;
    let nodes: Vec<LocalNode> = (1..=3)
        .map(|i| fed.node(&format!("wuhan-{i}")).node.clone())
        .collect();
    let load = Load::start(&nodes).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = leader_of(&nodes, None, "a leader").await;
    let before = member_status(&nodes[leader]).await.map(|s| s.log_index);
    let cut_at = Instant::now();
    proxies[leader].set_mode(Mode::Blackhole);
    for (i, proxy) in proxies.iter().enumerate() {
        if i != leader {
            proxy.block_source(ips[leader]);
        }
    }
    let new_leader = leader_of(&nodes, Some(leader), "a new leader of the other two").await;
    let elected = cut_at.elapsed();
    // The majority keeps committing while the old leader is cut off.
    let progressed = wait_for(
        "writes on the new leader",
        Duration::from_secs(30),
        || async {
            let index = member_status(&nodes[new_leader]).await.map(|s| s.log_index);
            match (index, before) {
                (Some(now), Some(then)) if now > then + 5 => Ok(now),
                _ => Err(format!("log index {index:?}, {before:?} at the cut")),
            }
        },
    )
    .await;
    let isolated = member_status(&nodes[leader]).await.map(|s| s.log_index);
    // A department talking to the cut-off member is told in time that its batch's outcome
    // is unknown, rather than held until the request times out.
    let (dept, identity) = &nodes[leader].departments[0];
    let mut client = regfed::client::connect_member(&[nodes[leader].addr.to_string()], identity)
        .await
        .expect("connect to the cut-off member");
    let mut fields = regfed_governance::Fields::new();
    fields.insert(
        "action_id".into(),
        regfed_governance::Value::Text("PROBE-1".into()),
    );
    let probe = Outgoing {
        record: regfed_governance::RawRecord::new(regfed_governance::Op::Upsert, fields),
        source: "probe".into(),
    };
    let asked = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        send(&mut client, "action", Some(&dept.code), &[probe], 1),
    )
    .await
    .expect("the cut-off member answers in time");
    let Err(refused) = answer else {
        panic!("the cut-off member cannot commit, yet it answered");
    };
    let refused = format!("{refused:#}");
    assert!(refused.contains("could not commit"), "{refused}");
    let refused_after = asked.elapsed();

    // Heal: fresh connections everywhere (a silenced stream is corrupted for good).
    for proxy in &proxies {
        proxy.set_mode(Mode::Pass);
        proxy.unblock_all();
        proxy.cut();
    }
    let healed_at = Instant::now();
    wait_for(
        "the old leader to follow",
        Duration::from_secs(30),
        || async {
            match member_status(&nodes[leader]).await {
                Some(s) if s.raft_role != "leader" => Ok(()),
                s => Err(format!("{:?}", s.map(|s| s.raft_role))),
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (ledger, acked_at) = load.finish().await;
    let during = acked_at
        .iter()
        .filter(|t| **t > cut_at && **t < healed_at)
        .count();
    assert!(
        during > 0,
        "the group kept accepting while its leader was cut off"
    );
    let (held, index) = check_group(&nodes, new_leader, &ledger).await;
    assert!(
        isolated.unwrap_or(0) < progressed,
        "the cut-off member applied nothing the majority committed while cut off"
    );
    println!(
        "partition: leader {} cut off, {} elected after {elected:?}; the majority went on to log index {progressed} while the cut-off member stayed at {isolated:?}; a batch sent to it was answered \"outcome unknown\" after {refused_after:?}; healed, it followed and caught up within {:?}; {} actions acknowledged ({during} batches while it was cut off; {held} held, all present once), {} with an unknown outcome retried; replicas at log index {index}",
        nodes[leader].id,
        nodes[new_leader].id,
        healed_at.elapsed(),
        ledger.ok.len(),
        ledger.unknown.len(),
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
