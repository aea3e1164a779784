//! Durability: kill -9 during ingest, then check that every acknowledged record is there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use regfed::cli::submit::{send, Outgoing};
use regfed::local::{load_samples, SampleForm};
use regfed_proto::v1 as pb;
use regfed_sample::{action_stream, generate, SampleConfig};

use crate::harness::{today, wait_for, NodeProcess, REGION};

async fn stored_keys(node: &NodeProcess, dataset: &str) -> Vec<String> {
    let mut client = node.client(&node.node.operator.clone()).await;
    let mut keys = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client
            .query(pb::QueryRequest {
                dataset: dataset.into(),
                after: cursor.clone(),
                limit: 10_000,
                ..Default::default()
            })
            .await
            .expect("query")
            .into_inner();
        keys.extend(page.records.into_iter().map(|r| r.key));
        cursor = page.cursor;
        if !page.more {
            return keys;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_ingest_loses_no_acknowledged_record() {
    let mut node = NodeProcess::start_city(1).await;
    let mut cfg = SampleConfig::small(REGION, node.departments(), today());
    cfg.defect_rate = 0.0;
    let refs = generate(&cfg);
    load_samples(&node.node, &refs, SampleForm::AsSubmitted)
        .await
        .expect("references");

    let actions = action_stream(&cfg, &refs, 1, 40 * 250);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let identity = node.identity(0).to_path_buf();
    let addr = node.addr();
    let writer_acked = acked.clone();
    let writer = tokio::spawn(async move {
        let mut client = regfed::client::connect(&[addr], &identity)
            .await
            .expect("connect");
        for chunk in actions.chunks(250) {
            let records: Vec<Outgoing> = chunk
                .iter()
                .map(|s| Outgoing {
                    record: s.record.clone(),
                    source: s.key.clone(),
                })
                .collect();
            match send(&mut client, "action", None, &records, 250).await {
                Ok(summary) => {
                    assert_eq!(summary.count("accepted"), records.len());
                    writer_acked
                        .lock()
                        .unwrap()
                        .extend(summary.results.into_iter().map(|r| r.key));
                }
                Err(_) => return, // the node died under us: this batch is unknown
            }
        }
    });
    wait_for("some batches acknowledged", Duration::from_secs(60), || {
        let n = acked.lock().unwrap().len();
        async move {
            if n >= 2000 {
                Ok(())
            } else {
                Err(format!("{n} acked"))
            }
        }
    })
    .await;
    node.kill9();
    let _ = writer.await;
    let acked = acked.lock().unwrap().clone();

    node.start().await;
    let stored = stored_keys(&node, "action").await;
    let stored: std::collections::HashSet<&str> = stored.iter().map(String::as_str).collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|k| !stored.contains(k.as_str()))
        .collect();
    println!(
        "acknowledged before kill -9: {}, stored after restart: {}",
        acked.len(),
        stored.len()
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(stored.len() >= acked.len());

    // A clean stop keeps everything too, and the node serves again afterwards.
    let before = stored.len();
    let status = node.terminate();
    assert!(status.success(), "SIGTERM exit status {status}");
    node.start().await;
    assert_eq!(stored_keys(&node, "action").await.len(), before);
    assert!(
        node.log_text().contains("Store synced"),
        "graceful shutdown logs its final sync"
    );
}
