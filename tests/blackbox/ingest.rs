//! Submitting the four data sets: verdicts, stored records, the queue, rectification,
//! idempotent resubmission and the indicators.

use std::collections::BTreeMap;

use regfed::local::{load_samples, SampleForm};
use regfed_proto::v1 as pb;
use regfed_sample::{generate, SampleConfig};

use crate::harness::{today, NodeProcess, REGION};

#[tokio::test(flavor = "multi_thread")]
async fn verdicts_storage_queue_rectification_and_indicators() {
    let node = NodeProcess::start_city(3).await;
    let set = generate(&SampleConfig::small(REGION, node.departments(), today()));
    let report = load_samples(&node.node, &set, SampleForm::AsSubmitted)
        .await
        .expect("load");

    // Every verdict is the one the generator planned.
    let mut checked = BTreeMap::<&str, (usize, usize)>::new();
    let mut expect_open = 0;
    for s in set.all() {
        let r = report
            .results
            .get(&(s.dataset.to_string(), s.key.clone()))
            .unwrap_or_else(|| panic!("no verdict for {} {}", s.dataset, s.key));
        let entry = checked.entry(s.dataset).or_default();
        match &s.defect {
            None => {
                assert_eq!(
                    r.status, "accepted",
                    "{} {} should be accepted: {:?}",
                    s.dataset, s.key, r.issues
                );
                entry.0 += 1;
            }
            Some(d) => {
                let found = r
                    .issues
                    .iter()
                    .find(|i| i.rule == d.rule)
                    .unwrap_or_else(|| {
                        panic!(
                            "{} {}: expected rule {} in {:?}",
                            s.dataset, s.key, d.rule, r.issues
                        )
                    });
                if found.severity == "error" {
                    assert_eq!(r.status, "rejected", "{} {}", s.dataset, s.key);
                    assert!(
                        r.issues
                            .iter()
                            .filter(|i| i.severity == "error")
                            .all(|i| i.rule == d.rule),
                        "{} {}: only {} expected, got {:?}",
                        s.dataset,
                        s.key,
                        d.rule,
                        r.issues
                    );
                    assert!(!found.message_zh.is_empty() && !found.message_en.is_empty());
                    expect_open += 1;
                } else {
                    assert_eq!(
                        r.status, "accepted",
                        "{} {} (warning {})",
                        s.dataset, s.key, d.rule
                    );
                }
                entry.1 += 1;
            }
        }
    }
    println!("verdicts checked (valid, defective): {checked:?}");
    assert!(
        expect_open > 0,
        "the sample set must contain rejected records"
    );

    // The stored records are exactly the accepted ones, version 1, with their origin.
    let operator = node.node.operator.clone();
    let mut client = node.client(&operator).await;
    for dataset in ["item", "subject", "officer", "action"] {
        let page = client
            .query(pb::QueryRequest {
                dataset: dataset.into(),
                limit: 10_000,
                ..Default::default()
            })
            .await
            .expect("query")
            .into_inner();
        let stored: Vec<&str> = page.records.iter().map(|r| r.key.as_str()).collect();
        let mut accepted: Vec<&str> = report
            .results
            .iter()
            .filter(|((d, _), r)| d == dataset && r.status == "accepted")
            .map(|((_, k), _)| k.as_str())
            .collect();
        let mut stored_sorted = stored.clone();
        stored_sorted.sort();
        accepted.sort();
        assert_eq!(stored_sorted, accepted, "stored {dataset} records");
        for r in &page.records {
            assert_eq!(r.version, 1);
            assert_eq!(r.origin_region, REGION);
            assert!(!r.reported_at.is_empty());
        }
        // Identity numbers are masked in every export.
        if dataset == "officer" {
            for r in &page.records {
                let id = match r.fields.get("id_number").and_then(|v| v.kind.clone()) {
                    Some(pb::value::Kind::Text(t)) => t,
                    other => panic!("id_number missing: {other:?}"),
                };
                assert!(id.contains('*'), "id_number {id} is not masked");
            }
        }
    }

    // Each department sees its own open queue entries; the operator sees all of them.
    let all = client
        .issues(pb::IssuesRequest::default())
        .await
        .expect("issues")
        .into_inner()
        .entries;
    assert_eq!(all.len(), expect_open, "open queue entries");
    let (ok, out, err) = node.cli(node.identity(0), &["issues", "--json"]);
    assert!(ok, "{err}");
    let mine: Vec<serde_json::Value> =
        serde_json::from_str(&out).expect("issues --json is a JSON array");
    let dept0 = &node.departments()[0].code;
    assert!(mine
        .iter()
        .all(|e| e["department"] == dept0.as_str() && e["status"] == "open"));
    assert_eq!(
        mine.len(),
        all.iter().filter(|e| &e.department == dept0).count()
    );

    // Resubmitting the same records changes nothing.
    let again = load_samples(&node.node, &set, SampleForm::AsSubmitted)
        .await
        .expect("reload");
    assert!(
        again.results.values().all(|r| r.status == "unchanged"),
        "identical resubmission must be a no-op"
    );

    // Corrections: every rejected record accepted as version 2, the queue empties.
    let fixed = load_samples(&node.node, &set, SampleForm::CorrectedDefectsOnly)
        .await
        .expect("corrections");
    for ((dataset, key), r) in &fixed.results {
        let first = &report.results[&(dataset.clone(), key.clone())];
        if first.status == "rejected" {
            assert_eq!(
                r.status, "accepted",
                "correction of {dataset} {key}: {:?}",
                r.issues
            );
            assert_eq!(r.version, 2, "correction of {dataset} {key}");
        }
    }
    let open = client
        .issues(pb::IssuesRequest::default())
        .await
        .expect("issues")
        .into_inner()
        .entries;
    assert!(
        open.is_empty(),
        "queue should be empty after rectification: {open:?}"
    );
    let rectified = client
        .issues(pb::IssuesRequest {
            include_rectified: true,
            ..Default::default()
        })
        .await
        .expect("issues")
        .into_inner()
        .entries;
    assert_eq!(rectified.len(), expect_open);
    assert!(rectified
        .iter()
        .all(|e| e.status == "rectified" && !e.rectified_at.is_empty()));

    // Indicators: the roll-up adds up the departments and counts what happened.
    let (ok, out, err) = node.cli(&operator, &["stats", "--json"]);
    assert!(ok, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).expect("stats --json");
    let rows = stats["rows"].as_array().expect("rows");
    let city = rows
        .iter()
        .find(|r| r["region"] == REGION && r["department"].is_null())
        .expect("city roll-up row");
    let depts: Vec<&serde_json::Value> =
        rows.iter().filter(|r| !r["department"].is_null()).collect();
    for field in ["submitted", "accepted", "rejected", "rectified"] {
        let sum: u64 = depts.iter().map(|r| r[field].as_u64().unwrap_or(0)).sum();
        assert_eq!(city[field].as_u64(), Some(sum), "roll-up of {field}");
    }
    assert_eq!(city["rectified"].as_u64(), Some(expect_open as u64));
    assert_eq!(city["open"].as_u64(), Some(0));
    let first_total = set.all().count() as u64;
    assert_eq!(
        city["accuracy"]["den"].as_u64(),
        Some(first_total),
        "first submissions"
    );
    assert_eq!(
        city["accuracy"]["num"].as_u64(),
        Some(first_total - expect_open as u64),
        "accepted at first"
    );
    let coverage_den = city["coverage"]["den"].as_u64().unwrap_or(0);
    assert!(coverage_den > 0 && city["coverage"]["num"].as_u64().unwrap_or(0) <= coverage_den);
    let timeliness = &city["timeliness"];
    assert!(timeliness["den"].as_u64().unwrap_or(0) > 0);
    assert!(
        timeliness["num"].as_u64() < timeliness["den"].as_u64(),
        "the sample has late reports"
    );
    println!("indicators: {city}");
}
