//! The federation with real processes: records flow city -> province -> national exactly
//! once and byte-equal, defective ones stay below, cross-origin conflicts come back down as
//! notices to the right city and department, and a correction resolves them at every tier.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use regfed::cli::submit::{send, Outgoing};
use regfed::federation::{self, NodePlan};
use regfed::local::{load_samples, LocalNode, SampleForm};
use regfed_governance::{Op, RawRecord, Value};
use regfed_pki::Tier;
use regfed_proto::v1 as pb;
use regfed_sample::{generate, SampleConfig, SampleSet};

use crate::harness::{today, wait_for, NodeProcess};

/// A running federation, by node id.
pub struct Federation {
    pub nodes: BTreeMap<String, NodeProcess>,
    pub _dir: tempfile::TempDir,
}

impl Federation {
    pub async fn start(plan: &[NodePlan]) -> Federation {
        Federation::start_with(plan, "").await
    }

    /// Like [`start`](Self::start), with `extra` TOML appended to every node's configuration.
    pub async fn start_with(plan: &[NodePlan], extra: &str) -> Federation {
        let dir = tempfile::tempdir().expect("temp dir");
        let prepared = federation::prepare(dir.path(), plan, extra).expect("prepare federation");
        let mut nodes = BTreeMap::new();
        // All at once (the members of a group serve only once a quorum runs), then each
        // waited for.
        for node in prepared {
            let log = dir.path().join(format!("{}.log", node.id));
            let id = node.id.clone();
            nodes.insert(id, NodeProcess::spawn_prepared(node, log));
        }
        for node in nodes.values() {
            node.wait_ready().await;
        }
        Federation { nodes, _dir: dir }
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn node(&self, id: &str) -> &NodeProcess {
        &self.nodes[id]
    }

    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|(id, n)| format!("--- {id} ---\n{}", tail(&n.log_text(), 40)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Every accepted, live record a node (or its group's leader) holds, by (data set, key):
/// fields as text. Retries while a group elects a leader.
pub async fn holdings(node: &LocalNode) -> BTreeMap<(String, String), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match try_holdings(node).await {
            Ok(h) => return h,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("cannot read what {} holds: {e}", node.id)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn try_holdings(node: &LocalNode) -> Result<BTreeMap<(String, String), String>, String> {
    let mut client = regfed::client::connect(&[node.addr.to_string()], &node.operator)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let mut all = BTreeMap::new();
    for dataset in ["item", "subject", "officer", "action"] {
        let mut after = String::new();
        loop {
            let page = client
                .query(pb::QueryRequest {
                    dataset: dataset.into(),
                    after: after.clone(),
                    limit: 5000,
                    region: String::new(),
                })
                .await
                .map_err(|s| regfed::client::status_message(&s))?
                .into_inner();
            for r in page.records {
                let fields: BTreeMap<String, String> = r
                    .fields
                    .into_iter()
                    .map(|(k, v)| (k, format!("{v:?}")))
                    .collect();
                let fields = format!("{fields:?}");
                if r.op == "delete" {
                    all.remove(&(dataset.to_string(), r.key));
                } else {
                    all.insert((dataset.to_string(), r.key), fields);
                }
            }
            after = page.cursor;
            if !page.more {
                break;
            }
        }
    }
    Ok(all)
}

pub async fn queue(node: &LocalNode, identity: &Path) -> Vec<pb::QueueEntry> {
    let mut client = regfed::client::connect(&[node.addr.to_string()], identity)
        .await
        .expect("connect");
    client
        .issues(pb::IssuesRequest {
            department: String::new(),
            include_rectified: true,
        })
        .await
        .expect("issues")
        .into_inner()
        .entries
}

pub async fn status(node: &LocalNode) -> pb::StatusResponse {
    let mut client = regfed::client::connect(&[node.addr.to_string()], &node.operator)
        .await
        .expect("connect");
    client
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

/// Waits until `upper` holds exactly `expected` (what the cities below accepted).
pub async fn wait_holds(
    upper: &LocalNode,
    expected: &BTreeMap<(String, String), String>,
    fed: &Federation,
) {
    let result = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let held = holdings(upper).await;
            if held == *expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if result.is_err() {
        let held = holdings(upper).await;
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !held.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = held
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .take(5)
            .collect();
        let differ: Vec<_> = expected
            .iter()
            .filter(|(k, v)| held.get(*k).is_some_and(|h| h != *v))
            .map(|(k, _)| k)
            .take(5)
            .collect();
        panic!(
            "{} holds {} records, expected {}; missing {missing:?}, unexpected {extra:?}, different {differ:?}\n{}",
            upper.id,
            held.len(),
            expected.len(),
            fed.logs()
        );
    }
}

pub fn merged(parts: &[&BTreeMap<(String, String), String>]) -> BTreeMap<(String, String), String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

pub fn samples(node: &LocalNode) -> SampleSet {
    let depts = node.departments.iter().map(|(d, _)| d.clone()).collect();
    generate(&SampleConfig::small(&node.region, depts, today()))
}

/// `subject` of `from`, re-registered at `to`'s city under `name` by its first department.
pub async fn register_subject(
    to: &LocalNode,
    subject: &regfed_sample::Sample,
    name: &str,
) -> pb::RecordResult {
    let mut fields = subject.valid.fields.clone();
    fields.insert("name".into(), Value::from(name));
    fields.insert("region_code".into(), Value::from(to.region.as_str()));
    let record = RawRecord::new(Op::Upsert, fields);
    let (_, identity) = &to.departments[0];
    let mut client = regfed::client::connect(&[to.addr.to_string()], identity)
        .await
        .expect("connect");
    let out = send(
        &mut client,
        "subject",
        None,
        &[Outgoing {
            record,
            source: "conflict".into(),
        }],
        10,
    )
    .await
    .expect("submit");
    out.results.into_iter().next().expect("one result")
}

fn plan() -> Vec<NodePlan> {
    vec![
        NodePlan::new("national", Tier::National, "100000", 0).unwrap(),
        NodePlan::new("hubei", Tier::Province, "420000", 0).unwrap(),
        NodePlan::new("guangdong", Tier::Province, "440000", 0).unwrap(),
        NodePlan::new("wuhan", Tier::City, "420100", 3).unwrap(),
        NodePlan::new("yichang", Tier::City, "420500", 2).unwrap(),
        NodePlan::new("shenzhen", Tier::City, "440300", 2).unwrap(),
    ]
}

/// Upward batches of three records, many in flight: the province governs a batch of
/// actions while the batches of the items, subjects and officers it names are still being
/// committed, and must see them.
#[tokio::test(flavor = "multi_thread")]
async fn small_batches_in_flight_see_the_records_they_refer_to() {
    let mut plan = vec![
        NodePlan::new("national", Tier::National, "100000", 0).unwrap(),
        NodePlan::new("hubei", Tier::Province, "420000", 0).unwrap(),
        NodePlan::new("wuhan", Tier::City, "420100", 2).unwrap(),
    ];
    for n in &mut plan {
        n.link_settings = "batch_records = 3\nwindow = 16".into();
    }
    let fed = Federation::start(&plan).await;
    let (wuhan, hubei, national) = (
        &fed.node("wuhan").node,
        &fed.node("hubei").node,
        &fed.node("national").node,
    );
    let set = samples(wuhan);
    // The province stopped while the city takes everything in, so that the backlog goes
    // up in a burst of batches, items and actions together.
    fed.node("hubei").pause(true);
    load_samples(wuhan, &set, SampleForm::AsSubmitted)
        .await
        .expect("load");
    fed.node("hubei").pause(false);
    let city = holdings(wuhan).await;
    wait_holds(hubei, &city, &fed).await;
    wait_holds(national, &city, &fed).await;
    for (name, node) in [("province", hubei), ("national centre", national)] {
        let rejected = queue(node, &node.operator).await;
        assert!(
            rejected.is_empty(),
            "the {name} rejected records the city accepted: {:?}",
            rejected
                .iter()
                .map(|e| (&e.dataset, &e.key, &e.issues))
                .collect::<Vec<_>>()
        );
    }
    println!(
        "{} records went up in batches of 3, none rejected above the city",
        city.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn records_flow_up_once_and_conflicts_come_back_down() {
    let fed = Federation::start(&plan()).await;
    let (wuhan, yichang, shenzhen) = (
        &fed.node("wuhan").node,
        &fed.node("yichang").node,
        &fed.node("shenzhen").node,
    );
    let (hubei, national) = (&fed.node("hubei").node, &fed.node("national").node);
    let sets: Vec<(&LocalNode, SampleSet)> = [wuhan, yichang, shenzhen]
        .into_iter()
        .map(|n| (n, samples(n)))
        .collect();
    for (node, set) in &sets {
        load_samples(node, set, SampleForm::AsSubmitted)
            .await
            .expect("load");
    }
    let cities: Vec<_> = {
        let mut v = Vec::new();
        for (node, _) in &sets {
            v.push(holdings(node).await);
        }
        v
    };
    let defective: usize = sets
        .iter()
        .map(|(_, s)| {
            s.all()
                .filter(|s| s.defect.is_some() && !s.defect.as_ref().unwrap().is_warning())
                .count()
        })
        .sum();
    assert!(defective > 10, "the samples carry defects");

    // Every accepted record reaches the province and the national centre, byte-equal; the
    // defective ones stay in their city's queue.
    wait_holds(hubei, &merged(&[&cities[0], &cities[1]]), &fed).await;
    let everything = merged(&[&cities[0], &cities[1], &cities[2]]);
    wait_holds(national, &everything, &fed).await;
    let city_open: usize = {
        let mut n = 0;
        for (node, _) in &sets {
            n += queue(node, &node.operator)
                .await
                .iter()
                .filter(|e| e.status == "open")
                .count();
        }
        n
    };
    assert_eq!(
        city_open, defective,
        "every defective record waits in its city's queue"
    );
    assert!(
        queue(national, &national.operator).await.is_empty(),
        "nothing rejected above"
    );
    println!(
        "national holds {} records from 3 cities; {city_open} wait in the city queues",
        everything.len()
    );

    // A conflict inside Hubei: Yichang registers a Wuhan company under another name.
    let wuhan_subject = sets[0]
        .1
        .subjects
        .iter()
        .find(|s| s.defect.is_none())
        .expect("a valid subject");
    let r = register_subject(yichang, wuhan_subject, "宜昌冒名贸易有限公司").await;
    assert_eq!(r.status, "accepted", "the city cannot know: {:?}", r.issues);
    // A conflict across provinces: Shenzhen registers another Wuhan company.
    let other = sets[0]
        .1
        .subjects
        .iter()
        .filter(|s| s.defect.is_none())
        .nth(1)
        .expect("a second valid subject");
    let r = register_subject(shenzhen, other, "深圳冒名科技有限公司").await;
    assert_eq!(r.status, "accepted", "{:?}", r.issues);

    let (yichang_dept, shenzhen_dept) = (&yichang.departments[0], &shenzhen.departments[0]);
    let notice_of = |entries: &[pb::QueueEntry], key: &str, tier: &str| {
        entries
            .iter()
            .filter(|e| e.key == key && e.raised_by.as_ref().is_some_and(|r| r.tier == tier))
            .cloned()
            .collect::<Vec<_>>()
    };
    let yichang_notice = wait_for(
        "the province's notice at Yichang",
        Duration::from_secs(60),
        || async {
            let q = queue(yichang, &yichang_dept.1).await;
            let n = notice_of(&q, &wuhan_subject.key, "province");
            if n.len() == 1 {
                Ok(n[0].clone())
            } else {
                Err(format!("{} notices", n.len()))
            }
        },
    )
    .await;
    assert_eq!(yichang_notice.status, "open");
    assert_eq!(yichang_notice.department, yichang_dept.0.code);
    assert!(
        yichang_notice
            .issues
            .iter()
            .any(|i| i.rule == "subject.name.cross_origin"),
        "{:?}",
        yichang_notice.issues
    );
    let shenzhen_notice = wait_for(
        "the national centre's notice at Shenzhen",
        Duration::from_secs(60),
        || async {
            let q = queue(shenzhen, &shenzhen_dept.1).await;
            let n = notice_of(&q, &other.key, "national");
            if n.len() == 1 {
                Ok(n[0].clone())
            } else {
                Err(format!("{} notices", n.len()))
            }
        },
    )
    .await;
    assert_eq!(shenzhen_notice.department, shenzhen_dept.0.code);
    // The national notice travelled through Guangdong, which shows it too; Wuhan is untouched.
    let guangdong = &fed.node("guangdong").node;
    assert_eq!(
        notice_of(
            &queue(guangdong, &guangdong.operator).await,
            &other.key,
            "national"
        )
        .len(),
        1
    );
    assert!(queue(wuhan, &wuhan.operator)
        .await
        .iter()
        .all(|e| e.raised_by.as_ref().is_some_and(|r| r.tier == "city")));
    // The first registration stands at the national centre.
    wait_holds(national, &everything, &fed).await;

    // Both correct the name; the notices resolve at every tier on the path.
    for (city, subject) in [(yichang, wuhan_subject), (shenzhen, other)] {
        let name = subject
            .valid
            .fields
            .get("name")
            .and_then(Value::as_text)
            .unwrap()
            .to_string();
        let r = register_subject(city, subject, &name).await;
        assert_eq!(r.status, "accepted", "{:?}", r.issues);
    }
    for (node, identity, key, tier) in [
        (yichang, &yichang_dept.1, &wuhan_subject.key, "province"),
        (hubei, &hubei.operator, &wuhan_subject.key, "province"),
        (shenzhen, &shenzhen_dept.1, &other.key, "national"),
        (guangdong, &guangdong.operator, &other.key, "national"),
        (national, &national.operator, &other.key, "national"),
    ] {
        wait_for(
            &format!("the notice on {key} resolved at {}", node.id),
            Duration::from_secs(60),
            || async {
                let q = queue(node, identity).await;
                let n = notice_of(&q, key, tier);
                match n.as_slice() {
                    [one] if one.status == "rectified" => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }
    let st = status(yichang).await;
    assert!(st.parent_connected && st.outbox_pending == 0, "{st:?}");
    println!("2 conflicts noticed down and resolved at every tier");
}
