//! The federation under faults, through a TCP fault proxy between a city and its province:
//! a cut link, dropped acknowledgements, the province killed and restarted, the national
//! centre stopped for a while. After healing, every tier holds exactly what the cities
//! accepted: nothing lost, nothing duplicated, nothing unexpected.

use std::time::Duration;

use regfed::federation::NodePlan;
use regfed::local::{load_samples, LocalNode, SampleForm};
use regfed_pki::Tier;
use regfed_sample::{action_stream, SampleConfig};

use crate::federation::{holdings, merged, queue, samples, status, wait_holds, Federation};
use crate::harness::{today, wait_for};
use crate::proxy::{FaultProxy, Mode};

/// Submits `n` valid actions from `start` at `node`, each by its own department.
async fn submit_actions(node: &LocalNode, start: u64, n: usize) -> usize {
    let depts = node.departments.iter().map(|(d, _)| d.clone()).collect();
    let mut cfg = SampleConfig::small(&node.region, depts, today());
    cfg.defect_rate = 0.0;
    let refs = regfed_sample::generate(&cfg);
    regfed::local::submit_actions(node, action_stream(&cfg, &refs, start, n), 1, 250)
        .await
        .expect("submit")
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_lost_or_duplicated_through_cuts_drops_and_crashes() {
    let mut plan = vec![
        NodePlan::new("national", Tier::National, "100000", 0).unwrap(),
        NodePlan::new("hubei", Tier::Province, "420000", 0).unwrap(),
        NodePlan::new("wuhan", Tier::City, "420100", 3).unwrap(),
        NodePlan::new("yichang", Tier::City, "420500", 2).unwrap(),
    ];
    let proxy = FaultProxy::start(plan[1].listen).expect("proxy");
    plan[2].parent_addr = Some(proxy.addr().to_string());
    let mut fed = Federation::start(&plan).await;
    let wuhan = fed.node("wuhan").node.clone();
    let yichang = fed.node("yichang").node.clone();
    let hubei = fed.node("hubei").node.clone();
    let national = fed.node("national").node.clone();
    let mut next = 1_000_000;
    let mut submitted = 0;

    for node in [&wuhan, &yichang] {
        load_samples(node, &samples(node), SampleForm::AsSubmitted)
            .await
            .expect("load");
    }

    // 1. Acknowledgements dropped: the province commits, Wuhan hears nothing and resends
    //    after the cut; the province recognises what it has. A notice raised meanwhile
    //    (Wuhan registers a Yichang company under another name) is lost on the way down
    //    and sent again on the next link: Wuhan applies it once.
    let yichang_set = samples(&yichang);
    let taken = yichang_set
        .subjects
        .iter()
        .find(|s| s.defect.is_none())
        .expect("a valid subject");
    wait_holds(
        &hubei,
        &merged(&[&holdings(&wuhan).await, &holdings(&yichang).await]),
        &fed,
    )
    .await;
    proxy.set_mode(Mode::DropDown);
    let r = crate::federation::register_subject(&wuhan, taken, "武汉冒名商贸有限公司").await;
    assert_eq!(r.status, "accepted", "{:?}", r.issues);
    submitted += submit_actions(&wuhan, next, 1500).await;
    next += 1500;
    wait_for(
        "the province to receive Wuhan's batches",
        Duration::from_secs(60),
        || async {
            let up = proxy.bytes_up();
            if up > 0 {
                Ok(())
            } else {
                Err("nothing forwarded".into())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = status(&wuhan).await.outbox_pending;
    assert!(
        pending > 0,
        "with acknowledgements dropped, Wuhan's outbox cannot drain"
    );
    proxy.set_mode(Mode::Pass);
    proxy.cut();

    // 2. The link cut again and again mid-stream.
    let load = {
        let wuhan = wuhan.clone();
        tokio::spawn(async move { submit_actions(&wuhan, next, 3000).await })
    };
    next += 3000;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.cut();
    }
    submitted += load.await.expect("load task");

    // 3. The province killed during upward sync, and restarted.
    let load = {
        let (wuhan, yichang) = (wuhan.clone(), yichang.clone());
        tokio::spawn(async move {
            submit_actions(&wuhan, next, 1500).await + submit_actions(&yichang, next, 1500).await
        })
    };
    next += 1500;
    tokio::time::sleep(Duration::from_millis(400)).await;
    fed.nodes.get_mut("hubei").unwrap().kill9();
    submitted += load.await.expect("load task");
    fed.nodes.get_mut("hubei").unwrap().start().await;

    // 4. The national centre stopped for a while (SIGSTOP), then resumed.
    fed.node("national").pause(true);
    submitted += submit_actions(&wuhan, next, 1000).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fed.node("national").pause(false);

    // Healed: every tier holds exactly what the cities accepted.
    let cities = merged(&[&holdings(&wuhan).await, &holdings(&yichang).await]);
    wait_holds(&hubei, &cities, &fed).await;
    wait_holds(&national, &cities, &fed).await;
    for node in [&wuhan, &yichang] {
        wait_for("the outbox to drain", Duration::from_secs(30), || async {
            let s = status(node).await;
            if s.outbox_pending == 0 && s.parent_connected {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    }
    assert!(queue(&national, &national.operator).await.is_empty());
    let at_hubei = queue(&hubei, &hubei.operator).await;
    assert!(
        at_hubei.len() == 1 && at_hubei[0].key == taken.key,
        "the province holds only the conflict: {at_hubei:?}"
    );
    let notices: Vec<_> = queue(&wuhan, &wuhan.operator)
        .await
        .into_iter()
        .filter(|e| e.raised_by.as_ref().is_some_and(|r| r.tier == "province"))
        .collect();
    assert!(
        notices.len() == 1 && notices[0].key == taken.key && notices[0].status == "open",
        "exactly one notice at Wuhan: {notices:?}"
    );
    let applied = status(&wuhan).await;
    assert!(applied.parent_connected);
    println!(
        "{submitted} actions accepted at the cities under faults; {} records at Hubei and the national centre, equal to the cities'; {} connections through the proxy",
        cities.len(),
        proxy.accepted()
    );
}
