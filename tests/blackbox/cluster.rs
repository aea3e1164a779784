//! Changing a group at run time with `regfed cluster`: an empty member joins, catches up
//! from a snapshot (the log behind it purged), is promoted and replaces a member that is
//! removed; the replicas end identical.

use std::time::Duration;

use regfed::federation::{self, NodePlan};
use regfed::local::{load_samples, SampleForm};
use regfed_pki::Tier;
use regfed_sample::SampleConfig;

use crate::federation::Federation;
use crate::ha::{member_status, replicas_identical};
use crate::harness::{today, wait_for, NodeProcess};

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_member_joins_by_snapshot_and_replaces_another() {
    let plan: Vec<NodePlan> = (1..=3)
        .map(|i| {
            let mut p = NodePlan::new(&format!("wuhan-{i}"), Tier::City, "420100", 2).unwrap();
            p.raft_settings = "snapshot_every_entries = 10".into();
            p
        })
        .collect();
    let mut fed = Federation::start(&plan).await;
    let first = fed.node("wuhan-1").node.clone();
    let depts: Vec<_> = first.departments.iter().map(|(d, _)| d.clone()).collect();
    let set = regfed_sample::generate(&SampleConfig::small("420100", depts, today()));
    // Enough batches for several snapshots and purges.
    load_samples(&first, &set, SampleForm::AsSubmitted)
        .await
        .expect("load");
    load_samples(&first, &set, SampleForm::CorrectedDefectsOnly)
        .await
        .expect("corrections");

    // A fourth, empty member that waits to be added.
    let mut joiner = NodePlan::new("wuhan-4", Tier::City, "420100", 2).unwrap();
    joiner.raft_id = Some(4);
    joiner.raft_settings = "join = true\nsnapshot_every_entries = 10".into();
    let dir = fed.dir().to_path_buf();
    let prepared = federation::prepare(&dir, std::slice::from_ref(&joiner), "").expect("prepare");
    let new = prepared[0].clone();
    let process = NodeProcess::spawn_prepared(new.clone(), dir.join("wuhan-4.log"));
    wait_for(
        "the new member to answer",
        Duration::from_secs(30),
        || async {
            member_status(&new)
                .await
                .map(|_| ())
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    fed.nodes.insert("wuhan-4".into(), process);

    let ops = first.operator.clone();
    let leader_addr = first.addr.to_string();
    // Through wuhan-1, which names the leader; retried while the group elects one.
    let cluster = |_: &Federation, args: &[&str]| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let out = std::process::Command::new(crate::harness::bin())
                .args(["cluster", args[0], "--node", &leader_addr, "--identity"])
                .arg(&ops)
                .args(&args[1..])
                .output()
                .expect("run regfed cluster");
            let answer = (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
            if answer.0
                || !answer.2.contains("not the leader")
                || std::time::Instant::now() > deadline
            {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let addr = new.addr.to_string();
    let (ok, out, err) = cluster(&fed, &["add-learner", "--id", "4", "--addr", &addr]);
    assert!(ok, "add-learner failed: {out}{err}");
    let (ok, out, err) = cluster(&fed, &["promote", "--id", "4"]);
    assert!(ok, "promote failed: {out}{err}");
    wait_for(
        "the new member to install a snapshot",
        Duration::from_secs(30),
        || async {
            let log = fed.node("wuhan-4").log_text();
            if log.contains("Snapshot from the leader installed") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;

    // Replace member 2: stop it and remove it from the group.
    fed.nodes.get_mut("wuhan-2").unwrap().kill9();
    let (ok, out, err) = cluster(&fed, &["remove", "--id", "2"]);
    assert!(ok, "remove failed: {out}{err}");
    let (ok, out, _) = cluster(&fed, &["status", "--json"]);
    assert!(ok);
    let status: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let mut ids: Vec<u64> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "voter")
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![1, 3, 4], "{status}");

    // The group keeps accepting, and the new member holds what the others hold.
    load_samples(&first, &set, SampleForm::CorrectedDefectsOnly)
        .await
        .expect("after the change");
    let members = [first.clone(), fed.node("wuhan-3").node.clone(), new.clone()];
    let seen = replicas_identical(&members, Duration::from_secs(60)).await;
    println!(
        "member 4 joined by snapshot and replaced member 2; replicas at {:?}",
        seen
    );
}
